"""``hazmon analyze --db``: a run judged after the fact gives the verdicts its export gives."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hazmon.acquisition.cli import main
from hazmon.acquisition.datalog import DatalogError, read_datalog, read_store
from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries
from hazmon.store.timeseries.sqlite import SqliteTimeSeries
from store.victoria_metrics import VictoriaMetrics  # tests/ is on sys.path (its conftest)


def _export(database: Path, path: Path) -> int:
    """Write the store's rows as a long-layout CSV (times in ns since 1970, UTC)."""
    rows = 0
    with SqliteTimeSeries(database) as store, path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "device", "quantity", "value", "unit", "quality"])
        for channel in store.list_channels():
            window = store.read_window(channel, 0, 2**62)
            for ts, value, quality in zip(window.ts, window.value, window.quality, strict=True):
                text = "" if math.isnan(value) else repr(float(value))
                writer.writerow(
                    [int(ts), channel.device, channel.quantity, text, channel.unit, int(quality)]
                )
                rows += 1
    return rows


def _verdicts(document: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (channel["device"], channel["quantity"]): (channel["verdicts"], channel["metrics"])
        for channel in document["channels"]
    }


@pytest.mark.slow
def test_db_gives_the_same_verdicts_as_its_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "demo.db"
    assert main(["demo", "--duration", "4", "--db", str(database), "--no-live"]) == 0
    capsys.readouterr()
    export = tmp_path / "export.csv"
    assert _export(database, export) > 0
    status_db = main(["analyze", "--db", str(database), "--site", "demo", "--json"])
    from_db = json.loads(capsys.readouterr().out)
    status_csv = main(["analyze", str(export), "--site", "demo", "--json"])
    from_csv = json.loads(capsys.readouterr().out)
    assert status_db == status_csv
    assert from_db["read"]["layout"] == "store"
    assert from_csv["read"]["layout"] == "long"
    assert from_db["read"]["readings"] == from_csv["read"]["readings"]
    assert _verdicts(from_db) == _verdicts(from_csv)
    assert any(channel["verdicts"] for channel in from_db["channels"])


def test_db_filters_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = tmp_path / "s.db"
    lines = ["time,device,quantity,value,unit"]
    lines += [f"2026-03-02 09:{m:02d}:00,gd-{m % 2},CO,{m},ppm" for m in range(20)]
    source = tmp_path / "s.csv"
    source.write_text("\n".join(lines) + "\n")
    # Fill a store through its own write API, from the reader's own batch.
    datalog = read_datalog(source)
    with SqliteTimeSeries(database) as store:
        store.write(datalog.readings, np.zeros(len(datalog.readings), np.uint8), datalog.channels)
    assert main(
        [
            "analyze",
            "--db",
            str(database),
            "--device",
            "gd-1",
            "--json",
            "--from",
            "2026-03-02T09:10",
            "--to",
            "2026-03-02T09:19:59+08:00",
        ]
    ) in (0, 1)
    document = json.loads(capsys.readouterr().out)
    assert [channel["device"] for channel in document["channels"]] == ["gd-1"]
    assert document["read"]["readings"] == 5  # 09:11, 13, 15, 17, 19
    assert document["read"]["first"] == "2026-03-02T01:11:00Z"
    for arguments, message in (
        (["--db", str(tmp_path / "none.db")], "no such store file"),
        (["--db", str(tmp_path)], "is a directory"),
        (["--db", str(source)], "not a hazmon SQLite store"),
        (["--db", str(database), "--device", "gd-9"], "no channels for site None device 'gd-9'"),
        (["--db", str(database), "--from", "yesterday"], "--from 'yesterday': not a time"),
        ([str(source), "--device", "gd-1"], "--device goes with --db"),
        ([], "give a datalog FILE or --db PATH"),
    ):
        assert main(["analyze", *arguments]) == 2
        err = capsys.readouterr().err
        assert message in err, (arguments, err)
        assert "Traceback" not in err
    assert not (tmp_path / "none.db").exists()  # reading never creates a store


@pytest.fixture
def own_vm(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    binary = os.environ.get("HAZMON_VICTORIA_METRICS") or shutil.which("victoria-metrics")
    if not binary:
        pytest.skip("victoria-metrics is not installed (apt-get install victoria-metrics)")
    server = VictoriaMetrics(binary, tmp_path / "vm-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_db_reads_the_line_protocol_store_back_from_victoria_metrics(
    own_vm: VictoriaMetrics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["time,device,quantity,value,unit"]
    for minute in range(30):
        lines.append(f"2026-03-02 09:{minute:02d}:00,gd-7,CO,{40 if minute < 15 else 2},ppm")
        lines.append(f"2026-03-02 09:{minute:02d}:00,gd-7,H2S,{minute / 4},ppm")
    source = tmp_path / "walk.csv"
    source.write_text("\n".join(lines) + "\n")
    datalog = read_datalog(source, site="vm-read")
    level = np.zeros(len(datalog.readings), np.uint8)
    with LineProtocolTimeSeries.victoria_metrics(own_vm.url, tmp_path / "spool.db") as store:
        store.write(datalog.readings, level, datalog.channels)
        assert store.flush(30)
    # Ingestion is asynchronous: wait until every reading can be read back.
    deadline = time.monotonic() + 30
    while True:
        try:
            if len(read_store(own_vm.url).readings) == 60:
                break
        except DatalogError:
            pass
        assert time.monotonic() < deadline, "VictoriaMetrics never showed the 60 readings"
        time.sleep(0.2)
    status_db = main(["analyze", "--db", own_vm.url, "--json"])
    from_db = json.loads(capsys.readouterr().out)
    status_csv = main(["analyze", str(source), "--json"])
    from_csv = json.loads(capsys.readouterr().out)
    assert status_db == status_csv == 1  # CO 40 ppm for 15 min breaks PC-STEL
    assert from_db["read"]["format"] == "victoria-metrics"
    assert _verdicts(from_db) == _verdicts(from_csv)
