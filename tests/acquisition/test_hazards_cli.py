"""``hazmon hazards``: the register's workflow from the command line, as a user runs it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.cells import cell_len
from sqlalchemy import create_engine

from hazmon.acquisition.cli import main
from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister, metadata
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

RULES = rules_by_quantity(("gbt50493-2019",))
SECOND = 1_000_000_000  # [ns]
T0 = 1_700_000_000 * SECOND  # [ns UTC]
LEL = Channel("plant-a", "gd-tank-farm", "lel", "%LEL", "methane")
SUPERVISION = HazardContext("Luohe Chemical Co.", "tank farm")
SELF_INSPECTION = HazardContext("Luohe Chemical Co.", "loading bay", source="self_inspection")
EVENT = Event(
    channel=0,
    start_ts=T0 + 2 * SECOND,
    end_ts=T0 + 5 * SECOND,
    peak=62.5,
    peak_ts=T0 + 3 * SECOND,
    max_level=2,
    side=1,
    samples=4,
)


def _populate(url: str, readings_db: Path | None) -> tuple[int, int]:
    """A supervision hazard and a self-inspection one; the readings go to ``readings_db``."""
    if readings_db is not None:
        with SqliteTimeSeries(readings_db) as store:
            value = np.array([10.0, 30.0, 52.0, 62.5, 58.0, 51.0, 20.0, 5.0])
            store.write(
                Readings.from_columns(T0 + np.arange(8) * SECOND, np.zeros(8), value),
                np.array([0, 1, 2, 2, 2, 2, 1, 0], np.uint8),
                ChannelTable([LEL]),
            )
    with HazardRegister(url) as register:
        _, first = register.record_event(
            EVENT, LEL, RULES["lel"], SUPERVISION, create_hazard=True, evidence_margin_ns=2 * SECOND
        )
        _, second = register.record_event(
            EVENT, LEL, RULES["lel"], SELF_INSPECTION, create_hazard=True
        )
    assert first is not None
    assert second is not None
    return first, second


# The tests here check the English words; test_chinese_list_show_and_history the default.
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo-like SQLite file holding both readings and the register."""
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("HAZMON_USER", "Zhang Wei")
    monkeypatch.delenv("HAZMON_DB", raising=False)
    path = tmp_path / "demo.db"
    _populate(f"sqlite:///{path}", path)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["hazards", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_list_as_table_json_and_csv(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "list", "--db", str(database))
    assert status == 0
    assert "2 hazards" in out
    assert "Pending review" in out  # the desk's English words for the workflow terms
    assert "5.5.2(2)" in out

    status, out, _ = run(capsys, "list", "--db", str(database), "--json")
    rows = json.loads(out)
    assert [(row["id"], row["status"], row["source"]) for row in rows] == [
        (1, "pending_review", "supervision_inspection"),
        (2, "pending_review", "self_inspection"),
    ]
    assert set(rows[0]) == {
        "id", "status", "overdue", "grade", "source", "enterprise", "location",
        "standard", "clause", "deadline", "finding",
    }  # fmt: skip

    status, out, _ = run(capsys, "list", "--db", str(database), "--csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [row["location"] for row in parsed] == ["tank farm", "loading bay"]
    assert parsed[0]["overdue"] == "false"

    run(
        capsys,
        "confirm",
        "1",
        "--db",
        str(database),
        "--grade",
        "general",
        "--deadline",
        "2020-01-01",
    )
    _, out, _ = run(capsys, "list", "--db", str(database), "--overdue", "--json")
    assert [(row["id"], row["overdue"]) for row in json.loads(out)] == [(1, True)]
    _, out, _ = run(capsys, "list", "--db", str(database), "--status", "pending_review", "--json")
    assert [row["id"] for row in json.loads(out)] == [2]
    _, out, _ = run(capsys, "list", "--db", str(database), "--grade", "major", "--json")
    assert json.loads(out) == []


def test_show_prints_the_evidence_summary_from_the_readings(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "show", "1", "--db", str(database))
    assert status == 0
    assert "Hazard 1: Pending review" in out
    assert "GB/T 50493-2019 clause 5.5.2(2)" in out
    evidence = next(line for line in out.splitlines() if "gd-tank-farm/lel" in line)
    assert "8 readings (0 flagged)" in evidence
    # 2023-11-14 22:13:23 UTC is 06:13:23 the next day in the register's zone (UTC+8).
    assert "peak 62.5 %LEL at 2023-11-15 06:13:23" in evidence
    assert "2023-11-15 06:13:20 → 2023-11-15 06:13:27" in evidence
    assert "3 s at or past A2" in evidence
    assert "limit 50 %LEL" in evidence
    status, _, err = run(capsys, "show", "99", "--db", str(database))
    assert (status, err.strip()) == (
        2,
        "hazmon: hazards show: no hazard 99 — see hazmon hazards list",
    )


def test_major_workflow_and_what_is_missing(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(database)]
    assert run(capsys, "confirm", "1", *db, "--grade", "major")[0] == 0

    status, _, err = run(capsys, "rectified", "1", *db, "--note", "done")
    assert status == 1
    assert "refused: major hazard 1 cannot be marked rectified" in err
    assert "lacks responsibility (responsible unit and person), measures, funds, deadline, " in err

    status, out, err = run(
        capsys, "plan", "1", *db, "--measures", "new seal", "--funds", "8000 CNY"
    )
    assert status == 1
    assert "status Confirmed" in out
    assert (
        "still lacks responsibility (responsible unit and person), deadline, contingency plan"
        in err
    )

    status, out, _ = run(
        capsys, "plan", "1", *db,
        "--responsible-unit", "maintenance", "--responsible-person", "Li Ming",
        "--deadline", "2030-01-31", "--contingency", "evacuate the bund",
    )  # fmt: skip
    assert (status, "status Rectifying" in out) == (0, True)

    status, _, err = run(capsys, "verify", "1", *db, "--expert", "Wang Qiang")
    assert status == 1
    assert "still rectifying" in err
    assert run(capsys, "rectified", "1", *db, "--note", "seal replaced")[0] == 0
    status, out, _ = run(capsys, "verify", "1", *db, "--expert", "Wang Qiang")
    assert status == 0
    assert "status Verified and closed" in out
    status, out, _ = run(
        capsys, "refer", "1", *db, "--kind", "case_filed", "--department", "Emergency Bureau"
    )
    assert status == 0

    status, out, _ = run(capsys, "history", "1", *db)
    assert status == 0
    actions = [
        line.split(": ")[1].split(" (")[0].split(" [")[0]
        for line in out.splitlines()
        if ": " in line
    ]
    assert actions == [
        "Created",
        "Confirmed",
        "Plan",
        "Plan",
        "Rectified",
        "Verified and closed",
        "Referred",
    ]
    assert "Zhang Wei: Confirmed" in out
    status, out, _ = run(capsys, "verify-audit", *db)
    assert status == 0
    assert "audit history intact: 8 entries" in out


def test_general_hazard_closed_on_the_spot_and_dismissal(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(database)]
    run(capsys, "confirm", "1", *db, "--grade", "general")
    status, out, _ = run(capsys, "rectified", "1", *db, "--note", "valve closed", "--on-the-spot")
    assert status == 0
    assert "fixed on the spot and closed; status Verified and closed" in out
    status, out, _ = run(capsys, "dismiss", "2", *db, "--reason", "bump test gas")
    assert status == 0
    assert "status Dismissed" in out
    status, _, err = run(capsys, "confirm", "2", *db, "--grade", "major")
    assert status == 1
    assert "it is dismissed" in err


def test_self_inspection_refuses_penalty_basis_and_stays_unchanged(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(database)]
    status, _, err = run(capsys, "confirm", "2", *db, "--grade", "major", "--penalty-basis")
    assert status == 1
    assert "not a basis for administrative penalty" in err
    _, out, _ = run(capsys, "list", *db, "--json")
    assert json.loads(out)[1]["status"] == "pending_review"
    status, _, _ = run(capsys, "confirm", "1", *db, "--grade", "major", "--penalty-basis")
    assert status == 0


def test_verify_audit_finds_tampering(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(database)]
    run(capsys, "dismiss", "1", *db, "--reason", "false alarm")
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE hazards SET status = 'pending_review' WHERE id = 1")
        connection.execute("DELETE FROM hazard_audit WHERE seq = 2")
    status, _, err = run(capsys, "verify-audit", *db)
    assert status == 1
    assert "TAMPERED: entry 3" in err or "TAMPERED: entries 2..2 are missing" in err
    assert "hazard 1 differs from the state" in err


def test_verify_audit_re_reads_the_evidence_and_names_the_change(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(database)]
    status, out, _ = run(capsys, "verify-audit", *db)
    assert status == 0
    assert "2 evidence windows re-read" in out
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE events SET peak = 6.25 WHERE id = 1")
        connection.execute("DELETE FROM readings WHERE ts = ?", (T0 + 3 * SECOND,))
    status, out, err = run(capsys, "verify-audit", *db)
    assert status == 1
    assert (
        "TAMPERED: hazard 1, evidence 1 (audit entry 1): event 1 was edited: peak 62.5 → 6.25"
        in err
    )
    # Hazard 1's window (±2 s) holds all 8 readings, hazard 2's (no margin) the event's 4.
    assert (
        "TAMPERED: hazard 1, evidence 1 (audit entry 1): its evidence readings changed: "
        "1 of its 8 readings were deleted; maximum 62.5 → 58.0"
    ) in err
    assert (
        "TAMPERED: hazard 2, evidence 2 (audit entry 2): its evidence readings changed: "
        "1 of its 4 readings were deleted; maximum 62.5 → 58.0"
    ) in err


def test_verify_audit_prints_the_head_and_checks_an_anchor(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(database)]
    status, out, _ = run(capsys, "verify-audit", *db)
    assert status == 0
    with sqlite3.connect(database) as connection:
        seq, digest = connection.execute("SELECT seq, hash FROM hazard_audit_head").fetchone()
    assert f"head: entry {seq}, hash {digest}" in out
    assert f"--anchor {seq}:{digest}" in out
    status, out, _ = run(capsys, "verify-audit", *db, "--anchor", f"{seq}:{digest}")
    assert status == 0
    assert f"anchor entry {seq} matches" in out
    other = ("0" if digest[0] != "0" else "1") + digest[1:]
    status, _, err = run(capsys, "verify-audit", *db, "--anchor", f"{seq}:{other}")
    assert status == 1
    assert f"TAMPERED: entry {seq} hashes {digest}, not the anchor's {other}" in err
    # argparse's refusal speaks the one voice and returns 2 (no SystemExit).
    assert main(["hazards", "verify-audit", *db, "--anchor", "12"]) == 2
    assert "is not SEQ:HASH" in capsys.readouterr().err


def test_the_register_must_be_named(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = run(capsys, "list")
    assert status == 2
    assert "give --db PATH (the database hazmon demo prints), --url URL, or set HAZMON_DB" in err
    status, _, err = run(capsys, "list", "--db", str(database.with_name("missing.db")))
    assert status == 2
    assert "no register at" in err
    monkeypatch.setenv("HAZMON_DB", str(database))
    status, out, _ = run(capsys, "list", "--json")
    assert status == 0
    assert len(json.loads(out)) == 2


def test_postgresql_register_by_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = os.environ.get("HAZMON_TEST_PG_URL")
    if not url:
        pytest.skip(
            "HAZMON_TEST_PG_URL is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://user@127.0.0.1:5432/hazmon_test to run the CLI on it"
        )
    monkeypatch.setenv("COLUMNS", "250")
    engine = create_engine(url)
    metadata.drop_all(engine)
    try:
        readings = tmp_path / "readings.db"
        _populate(url, readings)
        status, out, _ = run(
            capsys, "confirm", "1", "--url", url, "--grade", "general", "--by", "Zhang"
        )
        assert status == 0
        status, out, _ = run(capsys, "show", "1", "--url", url, "--readings", str(readings))
        assert status == 0
        assert "peak 62.5 %LEL" in out
        assert "limit 50 %LEL" in out
        status, out, _ = run(capsys, "verify-audit", "--url", url)
        assert status == 0
        assert "3 entries" in out
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def test_a_real_process(database: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hazmon.acquisition.cli", "hazards", "list", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "HAZMON_DB": str(database)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [row["id"] for row in json.loads(result.stdout)] == [1, 2]


def test_show_history_and_verify_audit_speak_json_with_the_table_numbers(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "show", "1", "--db", str(database), "--json")
    assert status == 0
    record = json.loads(out)
    assert (record["id"], record["status"], record["clause"]) == (1, "pending_review", "5.5.2(2)")
    (summary,) = record["evidence_summary"]
    # The readings written by _populate: 8 at 1 s steps, peak 62.5 at T0 + 3 s; levels
    # 2 from T0 + 2 s to T0 + 5 s, so 3 s at or past A2 — the figures the table prints.
    assert (summary["readings"], summary["flagged"], summary["peak"]) == (8, 0, 62.5)
    assert summary["peak_at"] == "2023-11-14T22:13:23.000+00:00"
    assert (summary["duration_s"], summary["level"], summary["limit"]) == (3.0, 2, 50.0)

    status, out, _ = run(capsys, "history", "1", "--db", str(database), "--json")
    entries = json.loads(out)
    assert status == 0
    assert [entry["action"] for entry in entries] == ["created"]
    assert set(entries[0]) == {"seq", "at", "actor", "action", "detail", "hash"}

    status, out, _ = run(capsys, "verify-audit", "--db", str(database), "--json")
    report = json.loads(out)
    assert status == 0
    assert {key: report[key] for key in ("ok", "entries", "problems")} == {
        "ok": True,
        "entries": 2,
        "problems": [],
    }
    assert report["head_seq"] == 2
    assert len(report["head_hash"]) == 64


def test_chinese_list_show_and_history(
    database: Path, capsys: pytest.CaptureFixture[str], chinese: None
) -> None:
    # zh-CN is the default: the desk's words for the terms, Chinese labels, and --json
    # keeps its machine values.
    db = ["--db", str(database)]
    status, out, _ = run(capsys, "list", *db)
    assert status == 0
    assert "共 2 条隐患" in out
    assert "待确认" in out
    assert "pending_review" not in out
    assert "监督检查" in out
    assert "企业自查" in out
    assert "GB/T 50493-2019 第 5.5.2(2) 条" in out
    header = next(line for line in out.splitlines() if "编号" in line)
    assert all(word in header for word in ("状态", "等级", "来源", "依据", "整改期限"))

    status, out, _ = run(capsys, "confirm", "1", "--grade", "major", *db)
    assert status == 0
    assert out.strip() == "隐患 1：已确认为重大隐患；状态：已确认"
    status, out, _ = run(capsys, "show", "1", *db)
    assert status == 0
    assert out.startswith("隐患 1：已确认")
    lines = out.splitlines()
    grade = next(line for line in lines if line.lstrip().startswith("等级"))
    assert grade.split() == ["等级", "重大隐患"]
    assert any(line.split() == ["作为处罚依据", "否"] for line in lines)
    # The stored finding is the analysis's English; shown in words, the peak at local
    # time (2023-11-14 22:13:23 UTC is 2023-11-15 06:13:23 in China, UTC+8).
    finding = next(line for line in lines if line.lstrip().startswith("隐患描述"))
    assert "gd-tank-farm 的可燃气体达到 A2 级：达到或超过设定值 50 %LEL" in finding
    assert "峰值 62.5 %LEL（2023-11-15 06:13:23）" in finding
    evidence = next(line for line in lines if "gd-tank-farm/lel" in line)
    assert "8 个读数（0 个带质量标记）" in evidence
    assert "峰值 62.5 %LEL（2023-11-15 06:13:23）" in evidence
    assert "达到或超过 A2 共 3 s" in evidence
    assert "限值 50 %LEL" in evidence
    # The labels line up by display width: each value starts in the same terminal column.
    source = next(line for line in lines if "来源" in line)
    columns = {
        cell_len(line[: line.index(value)])
        for line, value in ((grade, "重大隐患"), (source, "监督检查"))
    }
    assert len(columns) == 1

    status, out, _ = run(capsys, "history", "1", *db)
    assert status == 0
    text = " ".join(out.split())  # Rich wraps the long created entry
    assert "hazmon：创建 (" in text
    assert "来源=监督检查" in text
    assert "证据=#1 事件 1，峰值 62.5 %LEL，8 个读数，SHA-256 " in text
    assert "Zhang Wei：已确认 (等级=重大隐患，状态=已确认)" in text

    status, out, _ = run(capsys, "show", "1", *db, "--json")
    assert (json.loads(out)["status"], json.loads(out)["grade"]) == ("confirmed", "major")


def test_show_and_history_read_in_the_zone_asked_for(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "show", "1", "--db", str(database), "--tz", "UTC")
    assert status == 0
    evidence = next(line for line in out.splitlines() if "gd-tank-farm/lel" in line)
    assert "peak 62.5 %LEL at 2023-11-14 22:13:23" in evidence
    status, out, _ = run(capsys, "history", "1", "--db", str(database))
    assert status == 0
    # The audit's UTC stamp, shown in Shanghai's and UTC's wall time: 8 hours apart.
    (shanghai,) = re.findall(r"^\s*1 (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ", out, re.M)
    status, out, _ = run(capsys, "history", "1", "--db", str(database), "--tz", "UTC")
    (utc,) = re.findall(r"^\s*1 (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ", out, re.M)
    later = dt.datetime.fromisoformat(shanghai) - dt.datetime.fromisoformat(utc)
    assert later == dt.timedelta(hours=8)
    status, _, err = run(capsys, "history", "1", "--db", str(database), "--tz", "Mars/Base")
    assert status == 2
    assert "Mars/Base" in err
    assert "Traceback" not in err
