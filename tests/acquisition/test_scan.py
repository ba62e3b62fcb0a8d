"""``hazmon scan`` against a simulated RS-485 line on a pseudo-terminal.

The line runs in its own thread and event loop, as a meter would run beside the
command; the command runs in-process through ``hazmon.acquisition.cli.main``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from hazmon.acquisition.cli import main
from hazmon.config.profile import load_profile
from hazmon.config.site import ChannelScenario, Simulation
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.rtu import PtyRtuServer

FOUR_GAS = load_profile("generic-4gas")


@contextmanager
def line_in_thread(units: list[int], baudrate: int) -> Iterator[str]:
    """A pty line with generic-4gas meters at ``units``; yields its device path."""
    ready = threading.Event()
    device: list[str] = []
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        meters = {
            unit: SimulatedMeter(
                FOUR_GAS, Simulation(channels={"h2s": ChannelScenario(baseline=20.5)})
            )
            for unit in units
        }
        async with PtyRtuServer(meters, baudrate=baudrate) as line:
            event = asyncio.Event()
            stop.append((asyncio.get_running_loop(), event))
            device.append(line.device)
            ready.set()
            await event.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(5.0)
    try:
        yield device[0]
    finally:
        loop, event = stop[0]
        loop.call_soon_threadsafe(event.set)
        thread.join(5.0)


def test_scan_lists_ports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--json"]) == 0
    ports = json.loads(capsys.readouterr().out)
    assert isinstance(ports, list)
    assert all(set(port) == {"device", "description", "hwid"} for port in ports)


def test_scan_finds_units_and_baud_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with line_in_thread([3, 7], baudrate=19200) as device:
        status = main(
            [
                "scan",
                f"rtu://{device}",
                "--units",
                "1-8",
                "--baudrates",
                "9600,19200",
                "--parities",
                "N",
                "--timeout",
                "0.05",
                "--json",
            ]
        )
    hits = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [(hit["unit_id"], "baudrate=19200" in hit["address"]) for hit in hits] == [
        (3, True),
        (7, True),
    ]
    assert hits[0]["answer"] == "holding 0 = 0"


def test_scan_finds_the_byte_order(capsys: pytest.CaptureFixture[str]) -> None:
    # generic-4gas holds h2s as float32 CDAB at register 4
    with line_in_thread([1], baudrate=115200) as device:
        status = main(
            [
                "scan",
                f"rtu://{device}?baudrate=115200",
                "--unit-id",
                "1",
                "--register",
                "4",
                "--expect",
                "20.5",
                "--json",
            ]
        )
    rows = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [(row["type"], row["order"]) for row in rows if row["matches"]] == [("float32", "CDAB")]
    assert len(rows) == 12  # 3 types × 4 orders


def test_scan_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    with line_in_thread([3], baudrate=115200) as device:
        status = main(
            ["scan", f"rtu://{device}?baudrate=115200", "--units", "1-2", "--timeout", "0.05"]
        )
    assert status == 3
    assert "no unit id answered" in capsys.readouterr().out


def test_scan_bad_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "udp://x:1"]) == 2
    assert "unknown scheme" in capsys.readouterr().err


def test_read_accepts_an_rtu_address(capsys: pytest.CaptureFixture[str]) -> None:
    # Here rather than in test_cli.py: it shares the line-in-a-thread helper.
    with line_in_thread([4], baudrate=115200) as device:
        status = main(
            [
                "read",
                f"rtu://{device}?baudrate=115200",
                "--unit-id",
                "4",
                "--profile",
                "generic-4gas",
                "--json",
            ]
        )
    rows = json.loads(capsys.readouterr().out)
    assert status == 0
    assert rows[3]["quantity"] == "h2s"
    assert rows[3]["value"] == pytest.approx(20.5)
    assert rows[3]["quality"] == "OK"


def test_scan_expect_applies_the_profile_scale_and_a_tolerance(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # O2 is register 1, uint16 at scale 0.1: the simulated fresh air 20.9 %vol is held
    # as 209. The display showed 20.8 a moment earlier: 20.8 matches within ±0.1 only.
    argv = ["scan", "--unit-id", "1", "--register", "1", "--types", "uint16", "--json"]
    argv += ["--profile", "generic-4gas", "--expect", "20.8"]
    with line_in_thread([1], baudrate=115200) as device:
        address = f"rtu://{device}?baudrate=115200"
        strict = main([argv[0], address, *argv[1:]])
        strict_rows = json.loads(capsys.readouterr().out)
        tolerant = main([argv[0], address, *argv[1:], "--tolerance", "0.1"])
        rows = json.loads(capsys.readouterr().out)
    assert strict == 3
    assert not any(row["matches"] for row in strict_rows)
    assert tolerant == 0
    matching = [(row["type"], row["order"]) for row in rows if row["matches"]]
    assert ("uint16", "ABCD") in matching
    value = next(row["value"] for row in rows if row["order"] == "ABCD")
    assert value == pytest.approx(20.9)  # 209 × 0.1, the scale applied


def test_scan_all_settings_skips_what_a_pty_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    with line_in_thread([2], baudrate=9600) as device:
        status = main(
            [
                "scan",
                f"rtu://{device}",
                "--all-settings",
                "--baudrates",
                "9600",
                "--units",
                "2",
                "--timeout",
                "0.05",
                "--json",
            ]
        )
    captured = capsys.readouterr()
    hits = json.loads(captured.out)
    assert status == 0
    assert [hit["unit_id"] for hit in hits] == [2]
    # A Linux pty takes no parity but N (EINVAL): those settings are named and skipped,
    # and the scan goes on to report what answered.
    assert "hazmon: scan: skipped 9600 E: " in captured.err
    assert "hazmon: scan: skipped 9600 O: " in captured.err
    assert "the port cannot do it" in captured.err
    assert "Traceback" not in captured.err
