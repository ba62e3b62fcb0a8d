"""Bad input on the command line: one voice, the documented exit status, no traceback.

Every case runs the CLI in-process through :func:`hazmon.acquisition.cli.main`, as a
user's shell would run ``hazmon …``, against real files, sockets and databases. The
cases of issue #17's bad-input campaign (items 9 and 10) are listed once, in
``test_bad_input_campaign.py``; these are the others.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.acquisition.cli import main
from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister

#: ``hazmon: <what failed>: <why> — <what to do>`` (what may hold ": " itself).
VOICE = re.compile(r"^hazmon: .+: .+ — .+$")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _said(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HAZMON_DB", raising=False)
    (tmp_path / "not-a-db.sqlite").write_bytes(b"garbage, not SQLite\n" * 10)
    (tmp_path / "folder").mkdir()
    (tmp_path / "log.csv").write_text(
        "Time,CO [ppm]\n2024-01-01 08:00:00,3\n2024-01-01 08:01:00,4\n", encoding="utf-8"
    )
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "status", "words"),
    [
        (["hazards", "list", "--db", "{tmp}/folder"], 2, "is a folder"),
        (["hazards", "list", "--db", "{tmp}/missing.sqlite"], 2, "no register at"),
        (["hazards", "list", "--no-such-option"], 2, "unrecognized arguments"),
        (["alerts", "ack", "nosuchsite", "no-slash"], 2, ""),
    ],
)
def test_bad_input_is_one_line_in_one_voice(
    files: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    words: str,
) -> None:
    closed = _closed_port()
    filled = [part.format(tmp=files, closed=closed) for part in argv]
    assert main(filled) == status
    err = _said(capsys)
    assert VOICE.match(err.splitlines()[0]), err
    assert words in err
    assert "secret" not in err  # a password in --url is never printed


def test_stored_text_cannot_forge_a_line_or_recolour_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    database = tmp_path / "register.db"
    forged = "tank farm\nTAMPERED: entry 1 forged\x1b[2J\x1b[31m[bold]red[/bold]"
    channel = Channel("plant-a", "gd-1", "lel", "%LEL", "methane")
    event = Event(0, 1_000_000_000, 3_000_000_000, 62.5, 2_000_000_000, 2, 1, 3)
    with HazardRegister(f"sqlite:///{database}") as register:
        register.record_event(
            event,
            channel,
            rules_by_quantity(("gbt50493-2019",))["lel"],
            HazardContext("Luohe Chemical Co.", forged),
            create_hazard=True,
        )
    for action in (["show", "1"], ["list"]):
        assert main(["hazards", *action, "--db", str(database)]) == 0
        out = capsys.readouterr().out
        assert not any(line.startswith("TAMPERED") for line in out.splitlines())
        assert "\x1b" not in out
        assert "\\x0aTAMPERED" in out
        assert "\\x1b[2J" in out
        # Rich markup in stored text is shown as typed, not applied.
        assert "[bold]red[/bold]" in out.replace("\n", "").replace(" ", "") or action == ["list"]


#: For each command, argv with ``{}`` where random text goes. The other arguments make
#: the command end quickly (nothing listens on port 1; no site file named like that).
TEMPLATES = [
    ["read", "{}", "--profile", "generic-4gas", "--timeout", "0.1"],
    ["read", "127.0.0.1:1", "--profile", "{}", "--timeout", "0.1"],
    ["read", "127.0.0.1:1", "--profile", "generic-4gas", "--timeout", "{}"],
    ["read", "127.0.0.1:1", "--profile", "generic-4gas", "--unit-id", "{}", "--timeout", "0.1"],
    ["scan", "{}", "--timeout", "0.1", "--units", "1"],
    ["check", "{}"],
    ["run", "{}", "--duration", "0.1"],
    ["demo", "--duration", "{}", "--db", "/nonexistent-folder/x.db"],
    ["simulate", "{}", "--duration", "0.1"],
    ["analyze", "{}"],
    ["analyze", "{tmp}/log.csv", "--utc-offset", "{}"],
    ["analyze", "{tmp}/log.csv", "--max-gap", "{}"],
    ["hazards", "list", "--db", "{}"],
    ["hazards", "list", "--url", "{}"],
    ["hazards", "show", "{}", "--db", "{tmp}/not-a-db.sqlite"],
    ["hazards", "{}"],
    ["alerts", "list", "{}", "--wait", "0.1"],
    ["report", "{}"],
    ["users", "{}", "--db", "{tmp}/not-a-db.sqlite"],
    ["{}"],
]


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    template=st.sampled_from(TEMPLATES),
    text=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40),
)
def test_random_option_values_never_end_in_a_traceback(
    files: Path, capsys: pytest.CaptureFixture[str], template: list[str], text: str
) -> None:
    argv = [part.format(tmp=files) if part != "{}" else text for part in template]
    status: object
    try:
        status = main(argv)
    except SystemExit as exited:  # --help and --version, which random text can spell
        status = exited.code
    err = _said(capsys)
    assert status in (0, 1, 2, 3), (argv, status, err)
    assert "unexpected" not in err, (argv, err)


@pytest.mark.parametrize(
    ("value", "resolution", "digits", "shown"),
    [
        # Worked by hand: 20.9 as a float sum prints with 15 digits of noise.
        (0.1 * 209, None, 4, "20.9"),
        (5.60073709487915, None, 4, "5.601"),  # 4 significant digits, 5.6007 rounded
        (5000.0, None, 3, "5000"),  # .3g would say 5e+03
        (123456.7, None, 4, "123457"),  # no exponent; integers keep every digit
        (20.94, 0.1, 4, "20.9"),  # an O2 cell's 0.1 %vol step: one decimal
        (0.26, 0.05, 4, "0.26"),  # a 0.05 step has two decimals
        (-0.00001, 0.1, 4, "0.0"),  # rounded to zero is zero, not "-0.0"
        (0.04, None, 3, "0.04"),  # a short duration is not "0.0"
        (float("nan"), None, 4, "—"),
    ],
)
def test_numbers_for_people_are_plain_and_rounded(
    value: float, resolution: float | None, digits: int, shown: str
) -> None:
    from hazmon.config.numbers import format_number

    assert format_number(value, resolution, digits) == shown


def test_json_numbers_carry_no_binary_noise() -> None:
    from hazmon.config.numbers import plain_float

    # A meter's 209 at scale 0.1 multiplies to 20.900000000000002 in binary floating point.
    assert 209 * 0.1 != 20.9
    assert plain_float(209 * 0.1) == 20.9
    assert plain_float(5.60073709487915) == 5.60073709487915  # real digits stay
