"""The one message catalog: zh_CN complete for every string the code and templates use."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po

from hazmon.config.catalogue import load_catalogue
from hazmon.config.i18n import (
    FLAG_WORDS,
    basis,
    catalog,
    cli_locale,
    context_translator,
    quality_words,
    translator,
)
from hazmon.config.quality import FLAG_NAMES, Quality

ROOT = Path(__file__).parents[2]
KEYWORDS = {"_": None, "N_": None, "gettext": None, "pgettext": ((1, "c"), 2)}
TEMPLATES = [
    *(ROOT / "web" / "templates").glob("*.html"),
    *(ROOT / "acquisition" / "reports" / "templates").glob("*.html"),
]
# The Python modules whose human output goes through the catalog.
SOURCES = [
    ROOT / "web" / "app.py",
    ROOT / "store" / "evidence.py",
    ROOT / "store" / "hazard_list.py",
    *(ROOT / "acquisition" / "commands").glob("*.py"),
    ROOT / "acquisition" / "service.py",
    ROOT / "acquisition" / "inspection.py",
    ROOT / "config" / "i18n.py",
    ROOT / "acquisition" / "live.py",
    ROOT / "acquisition" / "alerts.py",
    *(ROOT / "acquisition" / "reports").glob("*.py"),
]
# A translation is Chinese, or a name kept as it is (PM2.5, WBGT), or CJK punctuation.
KEPT = {"pm2_5": "PM2.5", "pm10": "PM10", "pm1_0": "PM1.0", "wbgt": "WBGT"}
CHINESE = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")


def _used() -> set[tuple[str | None, str]]:
    used: set[tuple[str | None, str]] = set()
    for path in TEMPLATES:
        with path.open("rb") as handle:
            for _line, message, _comments, context in extract(
                "jinja2.ext:babel_extract", handle, keywords=KEYWORDS
            ):
                assert isinstance(message, str), (path, message)
                used.add((context, message))
    for path in SOURCES:
        if not path.exists():
            continue
        with path.open("rb") as handle:
            for _line, message, _comments, context in extract("python", handle, keywords=KEYWORDS):
                assert isinstance(message, str), (path, message)
                used.add((context, message))
    return used


def test_every_used_message_has_a_chinese_translation() -> None:
    used = _used()
    assert len(used) > 200, "the extractors found too few strings"
    # Both the desk's and the papers' templates were read (one word from each).
    assert (None, "Audit chain") in used
    assert ("paper", "Grade") in used
    chinese = catalog("zh_CN")
    missing = sorted(
        f"{context}|{message}" if context else message
        for context, message in used
        if (message if context is None else f"{context}\x04{message}") not in chinese
    )
    assert missing == []


def test_no_message_hides_from_the_extractor() -> None:
    # The Python extractor does not look inside f-strings: a _("...") there would escape
    # the completeness test above.
    # Nor does it see a literal handed straight to a translator: translator("en")("x").
    hidden = re.compile(
        r"""\bf(["'])[^\n]*?\{[^}\n]*\b_\(\s*["']"""
        r"""|translator\([^()]*\)\((?:\s*"[^"]*"\s*,)?\s*"[^"]*"\s*\)"""
    )
    found = [
        f"{path.name}:{number}"
        for path in SOURCES
        if path.exists()
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if hidden.search(line)
    ]
    assert found == []


def test_every_translation_is_chinese() -> None:
    chinese = catalog("zh_CN")
    assert len(chinese) > 300
    for msgid, text in chinese.items():
        assert CHINESE.search(text) or KEPT.get(msgid) == text, msgid


def test_every_english_entry_is_also_a_chinese_one() -> None:
    # One list of messages: an id only the English catalog has would show in English
    # to a Chinese reader.
    english_ids = _ids("en")
    assert english_ids
    assert sorted(english_ids - _ids("zh_CN")) == []


def _ids(locale: str) -> set[str]:
    path = ROOT / "config" / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        messages = read_po(handle, locale=locale)
    return {f"{message.context}|{message.id}" for message in messages if message.id}


def test_the_papers_and_the_desk_words_side_by_side() -> None:
    # The same English column in the papers' formal wording and the desk's short one.
    assert translator("zh_CN")("Grade") == "等级"
    assert context_translator("zh_CN")("paper", "Grade") == "隐患等级"
    assert context_translator("en")("paper", "Grade") == "Grade"
    assert translator("en")("major") == "Major hazard"
    # An unknown locale reads Chinese; an unknown message shows as itself.
    assert translator("fr")("verified") == "复查销号"
    assert translator("zh_CN")("no such message") == "no such message"


@pytest.mark.parametrize(
    ("environ", "locale"),
    [
        ({}, "zh_CN"),
        ({"LANG": "C"}, "zh_CN"),
        ({"LANG": "C.UTF-8"}, "zh_CN"),
        ({"LANG": "POSIX"}, "zh_CN"),
        ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "en_GB.UTF-8"}, "en"),
        ({"LC_ALL": "en_GB.UTF-8", "HAZMON_LANG": "zh_CN"}, "zh_CN"),
        ({"LANG": "zh_CN.UTF-8", "HAZMON_LANG": "en"}, "en"),
        ({"LANG": "en_US.UTF-8", "HAZMON_LANG": " "}, "en"),
    ],
)
def test_the_command_lines_language(environ: dict[str, str], locale: str) -> None:
    assert cli_locale(environ) == locale


def _clauses(node: object) -> set[str]:
    if isinstance(node, dict):
        return set().union(
            *(
                {value} if key == "clause" and isinstance(value, str) else _clauses(value)
                for key, value in node.items()
            )
        )
    if isinstance(node, list):
        return set().union(*(_clauses(value) for value in node))
    return set()


def test_every_clause_the_tables_give_in_words_reads_in_chinese() -> None:
    described = {
        clause
        for path in (ROOT / "config" / "standards").glob("*.toml")
        for clause in _clauses(tomllib.loads(path.read_text("utf-8")))
        if not clause[:1].isdigit()
    }
    assert "equipment and piping leaks (clause unconfirmed)" in described
    chinese = catalog("zh_CN")
    assert sorted(described - set(chinese)) == []
    # Still unconfirmed in Chinese: the display translates, it does not vouch.
    for clause in described:
        if "unconfirmed" in clause:
            assert "未核实" in chinese[clause], clause


def test_a_basis_reads_as_the_paper_writes_it() -> None:
    chinese, english = translator("zh_CN"), translator("en")
    assert basis("GB/T 50493-2019", "5.5.2(2)", chinese) == "GB/T 50493-2019 第 5.5.2(2) 条"
    assert basis("GB/T 50493-2019", "5.5.2(2)", english) == "GB/T 50493-2019 clause 5.5.2(2)"
    assert (
        basis("GB 37822-2019", "equipment and piping leaks (clause unconfirmed)", chinese)
        == "GB 37822-2019 设备与管线组件泄漏（条款未核实）"
    )
    assert basis("GBZ 2.1-2019", "Table 1", chinese) == "GBZ 2.1-2019 表 1"
    assert basis("GBZ 2.1-2019", "Table 1", english) == "GBZ 2.1-2019 Table 1"


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_translation_keeps_its_placeholders(locale: str) -> None:
    # A placeholder lost or renamed in a translation would raise at .format() / % time
    # in front of a user; both styles the code uses are checked.
    placeholders = re.compile(r"\{(\w*)[^{}]*\}|%\((\w+)\)[sdr]")
    checked = 0
    for key, text in catalog(locale).items():
        message = key.split("\x04")[-1]
        wanted = set(placeholders.findall(message))
        assert set(placeholders.findall(text)) == wanted, key
        checked += bool(wanted)
    if locale == "zh_CN":
        assert checked > 20


def test_every_quantity_has_a_name_on_the_desk_and_on_the_papers() -> None:
    # The catalogue's quantities (not the meters' health channels): the desk's column
    # word and the papers' sentence word (可燃气体 / 可燃气体浓度).
    chinese = catalog("zh_CN")
    quantities = [name for name in load_catalogue().quantities if not name.startswith("health.")]
    assert "lel" in quantities
    assert sorted(name for name in quantities if name not in chinese) == []
    assert sorted(name for name in quantities if f"paper\x04{name}" not in chinese) == []
    assert context_translator("zh_CN")("paper", "lel") == "可燃气体浓度"
    assert context_translator("zh_CN")("paper", "A2") == "二级报警"


def test_quality_flags_in_words() -> None:
    chinese, english = translator("zh_CN"), translator("en")
    flags = int(Quality.CALIBRATION_DUE | Quality.WARMUP)
    assert quality_words(flags, chinese) == "超过检定有效期，预热中"
    assert quality_words(flags, english) == "past its calibration date, warming up"
    assert quality_words(0, chinese) == ""
    assert set(FLAG_WORDS) == set(FLAG_NAMES)  # a flag added later needs its words
