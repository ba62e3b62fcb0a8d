"""The ``hazmon`` command as a user runs it: real processes, real sockets."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main

HAZMON = [sys.executable, "-m", "hazmon.acquisition.cli"]
# English: the tests here read the English summary (zh_CN is the default).
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "HAZMON_LANG": "en"}


@pytest.fixture
def simulated_site() -> Iterator[dict[str, str]]:
    """``hazmon simulate --free-ports`` in its own process; yields device → address."""
    process = subprocess.Popen(
        [*HAZMON, "simulate", "--free-ports"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    addresses: dict[str, str] = {}
    deadline = time.monotonic() + 20
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        match = re.search(r"(gd-[\w-]+)\s*│\s*(127\.0\.0\.1:\d+)", line)
        if match:
            addresses[match.group(1)] = match.group(2)
        if "Serving" in line or not line:
            break
    try:
        assert len(addresses) == 3, "".join(lines)
        yield addresses
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0, err
        assert "Stopped." in out


def test_read_prints_every_channel_as_a_table_and_as_json(
    simulated_site: dict[str, str],
) -> None:
    address = simulated_site["gd-control-room"]
    table = subprocess.run(
        [*HAZMON, "read", address, "--profile", "generic-4gas"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
        check=False,
    )
    assert table.returncode == 0, table.stderr
    for quantity, unit in (("lel", "%LEL"), ("o2", "%vol"), ("co", "ppm"), ("h2s", "ppm")):
        assert re.search(
            rf"{quantity}\s*│\s*[-\d.]+\s*│\s*{re.escape(unit)}\s*│\s*OK", table.stdout
        )

    listing = subprocess.run(
        [*HAZMON, "read", address, "--profile", "generic-4gas", "--unit-id", "1", "--json"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert [row["quantity"] for row in rows] == ["lel", "o2", "co", "h2s"]
    for row in rows:
        assert set(row) == {"quantity", "value", "unit", "quality", "level"}
        assert row["quality"] == "OK"
        assert row["level"] == 0
    assert 20.0 < rows[1]["value"] < 21.8  # oxygen at its 20.9 %vol baseline


def test_read_of_a_unit_the_gateway_lacks_reports_the_device_exception(
    simulated_site: dict[str, str],
) -> None:
    result = subprocess.run(
        [
            *HAZMON,
            "read",
            simulated_site["gd-pump-house"],
            "--profile",
            "generic-4gas",
            "--unit-id",
            "9",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    rows = json.loads(result.stdout)
    assert all(row["quality"] == "DEVICE_EXCEPTION" and row["value"] is None for row in rows)
    assert "exception 0B" in result.stderr


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_read_of_nothing_listening_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["read", f"127.0.0.1:{_closed_port()}", "--profile", "generic-4gas", "--timeout", "0.5"]
    )
    assert status == 3
    assert "cannot connect" in capsys.readouterr().err


def test_bad_arguments_get_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", "nohost", "--profile", "generic-4gas"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["read", "127.0.0.1:1", "--profile", "nope"]) == 2
    message = capsys.readouterr().err
    assert "bundled profiles: " in message
    assert "generic-4gas" in message
    # argparse's own complaints speak the same voice, and return rather than exit.
    assert main(["demo", "--duration", "-3"]) == 2
    assert capsys.readouterr().err == (
        "hazmon: demo --duration: '-3': give a positive number of seconds up to 31622400"
        " — see hazmon demo --help\n"
    )


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    for command in ("demo", "simulate", "read"):
        assert command in help_text


def test_demo_command_writes_the_database_and_summary(tmp_path: Path) -> None:
    database = tmp_path / "X.db"
    result = subprocess.run(
        [*HAZMON, "demo", "--duration", "2", "--db", str(database)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "readings stored" in result.stdout
    assert str(database) in result.stdout.replace("\n", "")
    assert database.exists()


def _wait_for_stored_readings(database: Path, process: subprocess.Popen[str]) -> None:
    """Return once the demo has stored a reading: its poll loop, and its Ctrl-C handling,
    are running (a SIGINT before that is an interrupted start, exit 130)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(database)) as connection,
        ):
            if connection.execute("SELECT count(*) FROM readings").fetchone()[0] > 0:
                return
        time.sleep(0.1)
    raise AssertionError("the demo stored no reading within 60 s")


def test_demo_without_duration_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    database = tmp_path / "interrupted.db"
    process = subprocess.Popen(
        [*HAZMON, "demo", "--no-live", "--db", str(database)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    _wait_for_stored_readings(database, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    stored = int(re.search(r"(\d+) readings stored", out).group(1))  # type: ignore[union-attr]
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM readings").fetchone()[0] == stored
    assert stored > 0
