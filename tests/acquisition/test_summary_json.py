"""``hazmon demo --json`` (and ``run --json``, the same service): the summary as one
JSON line on stdout, what a person reads on stderr, the same numbers as the register."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hazmon.acquisition.cli import main
from hazmon.store.hazards import HazardRegister


def _demo_json(database: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    """``demo --json`` for 3 s: the JSON summary (stdout's one line) and what a person
    reads on stderr, its lines joined (Rich wraps at the terminal's width)."""
    status = main(["demo", "--duration", "3", "--json", "--db", str(database)])
    captured = capsys.readouterr()
    assert status == 0
    lines = captured.out.splitlines()
    assert len(lines) == 1, "stdout holds the JSON line only"
    return json.loads(lines[0]), " ".join(captured.err.split())


@pytest.mark.usefixtures("english")
def test_demo_json_summary_is_the_last_stdout_line_and_matches_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "demo.db"
    summary, person = _demo_json(database, capsys)
    assert summary["database"] == str(database)
    assert summary["readings"] > 0
    assert "Summary" in person  # the person's lines went to stderr
    assert set(summary) >= {
        "readings",
        "flagged",
        "events",
        "hazards",
        "alerts",
        "routes",
        "spooled",
        "devices_in_fault",
    }
    with HazardRegister(f"sqlite:///{database}") as register:
        assert len(register.hazards()) == summary["hazards"]


@pytest.mark.usefixtures("chinese")
def test_the_summary_a_person_reads_is_chinese_and_the_json_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary, person = _demo_json(tmp_path / "demo.db", capsys)
    assert "模拟仪表" in person
    assert f"小结：已存储 {summary['readings']} 个读数（{summary['flagged']} 个带质量标记" in person
    assert f"{summary['hazards']} 条隐患" in person
    assert "数据库：" in person
    assert "readings stored" not in person
    # The machine's summary keeps its keys.
    assert {"readings", "flagged", "events", "hazards", "alerts"} <= set(summary)
