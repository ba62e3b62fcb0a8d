"""The papers of an inspection, read back from the PDF as a person and a machine would.

A register is seeded through its API (an inspection with an instrument past its
calibration, an event-raised major hazard taken through the whole workflow, a manual
general hazard), the three papers are rendered by ``hazmon report``, and then:
the text pdftotext extracts holds the headings, every clause and the head hash; every
character of that text is in the cmap of a font embedded in the PDF (no box, no "?");
and every page is rendered to PNG in an artifacts folder for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from hazmon.acquisition.cli import main
from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import (
    HazardContext,
    HazardRegister,
    Inspection,
    Instrument,
    RectificationPlan,
    audit_head_table,
)
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils is not installed (apt-get install poppler-utils)",
)

SECOND = 1_000_000_000  # [ns]
T0 = 1_764_600_000 * SECOND  # 2025-12-01 14:40:00 UTC = 22:40:00 in Shanghai
ENTERPRISE = "漯河市某化工有限公司"
OTHER = "舞阳县某燃气公司"
LEL = Channel("plant-a", "gd-tank-farm", "lel", "%LEL", "methane")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HAZMON_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))


@dataclass
class Seeded:
    db: Path
    inspection: int
    major: int
    general: int
    pending: int
    other: int
    head: str
    seq: int


def _seed(db: Path, url: str | None = None) -> Seeded:
    """Readings into the SQLite file ``db``; the register there too unless ``url`` says."""
    n = 600
    index = np.arange(n)
    ts = T0 + index * SECOND
    value = 10 + 45 * np.exp(-(((index - 300) / 60.0) ** 2)) + np.sin(index)
    level = np.where(value >= 50, 2, np.where(value >= 25, 1, 0)).astype(np.uint8)
    with SqliteTimeSeries(db) as store:
        store.write(Readings.from_columns(ts, np.zeros(n), value), level, ChannelTable([LEL]))
    above = np.flatnonzero(value >= 50)
    event = Event(
        channel=0,
        start_ts=int(ts[above[0]]),
        end_ts=int(ts[above[-1]]),
        peak=float(value.max()),
        peak_ts=int(ts[value.argmax()]),
        max_level=2,
        side=1,
        samples=len(above),
    )
    rules = rules_by_quantity(("gbt50493-2019",))
    with HazardRegister(url or f"sqlite:///{db}") as register:
        inspection = register.add_inspection(
            Inspection(
                dt.date(2025, 12, 1),
                ENTERPRISE,
                "王建国",
                ("李明", "张伟"),
                (
                    Instrument(
                        "gd-tank-farm",
                        "GT-1000 可燃气体检测仪",
                        "SN2023-0815",
                        dt.date(2026, 6, 30),
                    ),
                    Instrument("pid-01", "PGM-7340 VOC", "SN-7340-22", dt.date(2025, 10, 1)),
                ),
            ),
            actor="王建国",
        )
        context = HazardContext(ENTERPRISE, "罐区 1# 储罐", inspection_id=inspection)
        _, major = register.record_event(
            event, LEL, rules["lel"], context, create_hazard=True, evidence_margin_ns=200 * SECOND
        )
        assert major is not None
        general = register.add_hazard(
            HazardContext(ENTERPRISE, "装卸站", inspection_id=inspection),
            "装卸站静电接地报警器未投用",
            rule_id="manual",
            standard="GB 30871-2022",
            clause="5.3.2",
            actor="李明",
        )
        pending = register.add_hazard(
            HazardContext(ENTERPRISE, "控制室", inspection_id=inspection),
            "可燃气体报警控制器故障指示灯常亮",
            rule_id="manual",
            standard="GB/T 50493-2019",
            clause="5.4.2",
            actor="张伟",
        )
        other = register.add_hazard(
            HazardContext(OTHER, "调压站"),
            "调压站未设置可燃气体检测报警器",
            rule_id="manual",
            standard="GB/T 50493-2019",
            clause="4.1.1",
            actor="张伟",
        )
        register.confirm(other, "general", actor="王建国")
        # 15:59 UTC is 23:59 in Shanghai (UTC+8, no daylight saving).
        register.confirm(
            major,
            "major",
            actor="王建国",
            deadline=dt.datetime(2025, 12, 15, 15, 59, tzinfo=dt.UTC),
        )
        register.set_plan(
            major,
            RectificationPlan(
                "储运车间",
                "赵强",
                "更换泄漏法兰垫片，增设可燃气体检测报警联锁",
                "5 万元",
                None,
                "罐区泄漏应急处置预案（2025 版）",
            ),
            actor="王建国",
        )
        register.mark_rectified(
            major, "已更换法兰垫片并完成联锁调试，复测浓度低于 5 %LEL", actor="赵强"
        )
        register.verify(major, "李明", actor="李明", note="现场复测正常，资料齐全")
        register.confirm(
            general,
            "general",
            actor="王建国",
            deadline=dt.datetime(2025, 12, 8, 15, 59, tzinfo=dt.UTC),
            responsible_unit="储运车间",
            responsible_person="孙丽",
        )
        with register.engine.connect() as connection:
            head = connection.execute(select(audit_head_table)).one()
    return Seeded(db, inspection, major, general, pending, other, head.hash, head.seq)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return _seed(tmp_path_factory.mktemp("papers") / "register.db")


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _render(seeded: Seeded, name: str, *argv: str) -> tuple[Path, str]:
    """Run ``hazmon report``, save its pages as PNG artifacts; return the PDF and its text."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pdf = ARTIFACTS / f"{name}.pdf"
    for old in ARTIFACTS.glob(f"{name}-*.png"):
        old.unlink()
    status = main(["report", *argv, "--db", str(seeded.db), "--pdf", str(pdf)])
    assert status == 0
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(ARTIFACTS / name)], check=True)
    pages = sorted(ARTIFACTS.glob(f"{name}-*.png"))
    print(f"\n{name}: {pdf} and {len(pages)} pages as PNG in {ARTIFACTS}")
    assert pages
    assert all(page.stat().st_size > 20_000 for page in pages)  # no page left near blank
    return pdf, _pdf_text(pdf)


@pytest.fixture(scope="module")
def papers(seeded: Seeded) -> dict[str, tuple[Path, str]]:
    return {
        "inspection": _render(seeded, "inspection-zh", "inspection", str(seeded.inspection)),
        "notice": _render(
            seeded,
            "notice-zh",
            "notice",
            str(seeded.major),
            str(seeded.general),
            "--issuer",
            "王建国",
        ),
        "review": _render(seeded, "review-zh", "review", str(seeded.major)),
        "inspection-en": _render(
            seeded, "inspection-en", "inspection", str(seeded.inspection), "--lang", "en"
        ),
    }


def _flat(text: str) -> str:
    """The text without the spaces and line breaks that layout puts in."""
    return re.sub(r"\s+", "", text)


def test_inspection_record_holds_its_sections_clauses_and_head_hash(
    seeded: Seeded, papers: dict[str, tuple[Path, str]]
) -> None:
    _, text = papers["inspection"]
    flat = _flat(text)
    for heading in (
        "安全生产检查记录",
        "编号：检记〔2025〕0001号",
        "被检查单位",
        "检查时间",
        "2025年12月1日",
        "检查组组长",
        "检查专家",
        "检查使用的仪器",
        "出厂编号",
        "检定有效期至",
        "存在问题/隐患",
        "整改要求",
        "整改期限",
        "隐患汇总",
        "（签字）",
        "（盖章）",
        ENTERPRISE,
        "王建国",
        "李明",
        "张伟",
    ):
        assert _flat(heading) in flat, heading
    # The instrument past its calibration date (2025-10-01 < 2025-12-01) is marked, and
    # what that means for its readings is said.
    assert "已过检定有效期" in flat
    assert "不得单独作为认定隐患的依据" in flat
    for clause in ("5.5.2(2)", "5.3.2", "5.4.2"):
        assert clause in flat
    # The finding in words, from the evidence: the set point is GB/T 50493's 50 %LEL
    # second-level alarm.
    assert "二级报警" in flat
    assert "报警设定值50%LEL" in flat
    # 15:59 UTC deadline shown in Shanghai time.
    assert "2025-12-1523:59" in flat
    assert "共3项隐患：重大隐患1项，一般隐患1项，待确认1项。" in flat
    assert seeded.head in flat
    assert f"第{seeded.seq}条" in flat
    assert f"hazmonhazardsverify-audit--db{seeded.db}--anchor{seeded.seq}:{seeded.head}" in flat


def test_notice_follows_the_notice_layout_with_the_five_in_place(
    seeded: Seeded, papers: dict[str, tuple[Path, str]]
) -> None:
    _, text = papers["notice"]
    flat = _flat(text)
    for heading in (
        "隐患整改通知书",
        f"编号：隐整〔{dt.date.today().year}〕{seeded.major:04d}、{seeded.general:04d}号",
        f"{ENTERPRISE}：",
        "存在问题/隐患",
        "依据（标准条款）",
        "整改要求",
        "整改期限",
        "2025-12-1523:59",
        "2025-12-0823:59",
        "责任、措施、资金、时限和预案“五落实”",
        "检查人员（签字）",
        "被检查单位签收人（签字）",
        "（盖章）",
        "本文书一式两份",
        "储运车间孙丽",
    ):
        assert _flat(heading) in flat, heading
    for clause in ("5.5.2(2)", "5.3.2"):
        assert clause in flat
    assert seeded.head in flat


def test_review_lists_the_five_in_place_and_the_experts_opinion(
    seeded: Seeded, papers: dict[str, tuple[Path, str]]
) -> None:
    _, text = papers["review"]
    flat = _flat(text)
    for heading in (
        "整改复查意见书",
        "治理方案“五落实”情况",
        "储运车间/赵强",
        "更换泄漏法兰垫片",
        "5万元",
        "罐区泄漏应急处置预案",
        "整改情况",
        "已更换法兰垫片并完成联锁调试",
        "复查意见",
        "同意销号",
        "现场复测正常，资料齐全",
        "复查专家（签字）",
        "（李明）",
        "（盖章）",
        "5.5.2(2)",
    ):
        assert _flat(heading) in flat, heading
    # All five in place: five ticked boxes, none open.
    assert flat.count("☑是") == 5
    assert "☐" not in flat
    assert seeded.head in flat


def test_english_paper_comes_from_the_same_template(
    seeded: Seeded, papers: dict[str, tuple[Path, str]]
) -> None:
    _, text = papers["inspection-en"]
    flat = _flat(text)
    for heading in (
        "SafetyInspectionRecord",
        "Inspectedenterprise",
        "Calibrationvaliduntil",
        "PASTDUE",
        "Rectificationrequired",
        "(signature):",
        "reachedalarmlevelA2",
    ):
        assert heading in flat, heading
    assert "检查记录" not in flat
    assert "5.5.2(2)" in flat
    assert seeded.head in flat


def _embedded_fonts(pdf: Path) -> dict[str, set[int]]:
    """Each embedded font's name and the code points its embedded program has glyphs for."""
    from fontTools.ttLib import TTFont
    from pypdf import PdfReader

    fonts: dict[str, set[int]] = {}
    for page in PdfReader(pdf).pages:
        resources: Any = page["/Resources"]
        for reference in resources["/Font"].values():
            font = reference.get_object()
            name = str(font["/BaseFont"])
            if name in fonts:
                continue
            descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            program = next(
                descriptor[key].get_object()
                for key in ("/FontFile", "/FontFile2", "/FontFile3")
                if key in descriptor
            )
            cmap = TTFont(io.BytesIO(program.get_data())).getBestCmap() or {}
            # A code point mapped to glyph 0 would print as the missing-glyph box.
            fonts[name] = {code for code, glyph in cmap.items() if glyph != ".notdef"}
    return fonts


@pytest.mark.parametrize("name", ["inspection", "notice", "review", "inspection-en"])
def test_every_character_has_a_glyph_in_an_embedded_font(
    papers: dict[str, tuple[Path, str]], name: str
) -> None:
    pdf, text = papers[name]
    listing = subprocess.run(
        ["pdffonts", str(pdf)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    assert listing
    for line in listing:
        assert " yes " in line, f"font not embedded: {line}"
    fonts = _embedded_fonts(pdf)
    # Chinese set in the Simplified Chinese faces, not a Japanese or Korean fallback.
    assert any("CJK-SC" in font for font in fonts)
    assert not [font for font in fonts if re.search(r"CJK-(JP|KR|TC|HK)", font)]
    covered = set().union(*fonts.values())
    missing = sorted({char for char in text if not char.isspace() and ord(char) not in covered})
    assert missing == []
    assert "\ufffd" not in text
    if name != "inspection-en":
        assert "?" not in text


def test_refusals_say_why(
    seeded: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = tmp_path / "x.pdf"
    base = ["--db", str(seeded.db), "--pdf", str(pdf)]
    assert main(["report", "notice", str(seeded.major), str(seeded.other), *base]) == 2
    assert "belong to 2 enterprises" in capsys.readouterr().err
    assert main(["report", "notice", str(seeded.pending), *base]) == 2
    assert "not confirmed yet" in capsys.readouterr().err
    assert main(["report", "review", str(seeded.general), *base]) == 2
    assert "review opinion is written after rectification" in capsys.readouterr().err
    assert main(["report", "inspection", "99", *base]) == 2
    assert "no inspection 99" in capsys.readouterr().err
    assert (
        main(["report", "inspection", "1", "--db", str(tmp_path / "none.db"), "--pdf", str(pdf)])
        == 2
    )
    assert "no register at" in capsys.readouterr().err
    assert main(["report", "inspection", "1", "--db", str(seeded.db)]) == 2
    assert "give --pdf FILE" in capsys.readouterr().err
    assert main(["report", "review", "1", "--url", "not a url", "--pdf", str(pdf)]) == 2
    assert "is not a database URL" in capsys.readouterr().err
    assert not pdf.exists()


def test_a_paper_from_an_inspection_kept_elsewhere(seeded: Seeded, tmp_path: Path) -> None:
    """The desk keeps inspections in its own store: its record feeds the same paper."""
    from hazmon.acquisition.reports.papers import inspection_paper
    from hazmon.acquisition.reports.render import render_html, write_pdf

    kept = Inspection(
        dt.date(2025, 12, 2),
        ENTERPRISE,
        "周红",
        ("吴刚",),
        (Instrument("gd-7", "BW MicroClip XL", "MC-001", dt.date(2026, 3, 1)),),
    )
    with HazardRegister(f"sqlite:///{seeded.db}") as register:
        paper = inspection_paper(
            register, seeded.inspection, None, inspection=kept, place="二期罐区", where="--db X"
        )
    assert [finding.hazard_id for finding in paper.findings] == [
        seeded.major,
        seeded.general,
        seeded.pending,
    ]
    assert not paper.instruments[0].past_due
    pdf = tmp_path / "kept.pdf"
    write_pdf(render_html("inspection", paper), pdf)
    flat = _flat(_pdf_text(pdf))
    for text in ("周红", "吴刚", "二期罐区", "2025年12月2日", "MC-001", "2026年3月1日"):
        assert text in flat, text
    assert "已过检定有效期" not in flat
    # Without readings the finding is the stored text, and no chart is drawn.
    assert "装卸站静电接地报警器未投用" in flat
    assert "证据时段" not in flat


def test_postgresql_register_by_url(tmp_path: Path) -> None:
    url = os.environ.get("HAZMON_TEST_PG_URL")
    if not url:
        pytest.skip(
            "HAZMON_TEST_PG_URL is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://user@127.0.0.1:5432/hazmon_test to render papers from it"
        )
    from sqlalchemy import create_engine

    from hazmon.store.hazards import metadata

    engine = create_engine(url)
    metadata.drop_all(engine)
    try:
        readings = tmp_path / "readings.db"
        seeded = _seed(readings, url)
        pdf = tmp_path / "review.pdf"
        argv = ["report", "review", str(seeded.major), "--url", url]
        assert main([*argv, "--readings", str(readings), "--pdf", str(pdf)]) == 0
        flat = _flat(_pdf_text(pdf))
        assert "整改复查意见书" in flat
        # The peak from the readings, at index 297:
        # 10 + 45·exp(-(3/60)²) + sin(297) = 10 + 44.888 + 0.993 = 55.88 → 55.9
        assert "峰值55.9%LEL" in flat
        assert seeded.head in flat
        assert f"verify-audit--url{url}" in flat
    finally:
        metadata.drop_all(engine)
        engine.dispose()
