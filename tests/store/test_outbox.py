"""The durable outbox against a real VictoriaMetrics: outages, restarts and SIGKILL.

Zero readings lost is proven by reading every point back through the export API.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.timeseries.influx_client import StoreUnavailable
from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries, format_lines
from hazmon.store.timeseries.outbox import Outbox, OutboxWriter

from .victoria_metrics import VictoriaMetrics, free_port

SCRIPT = Path(__file__).with_name("outbox_writer_process.py")
SECOND = 1_000_000_000  # [ns]
MS = 1_000_000  # [ns]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("outbox_writer_process", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WRITER = _script()


def _start_ns() -> int:
    now = time.time_ns() - 3600 * SECOND
    return now - now % SECOND + 456_789  # not on a millisecond: VM truncates


def _expected(numbers: range, start_ns: int) -> dict[tuple[str, int], float]:
    """(device, time [ms]) → value of every reading of the batches ``numbers``."""
    expected = {}
    for number in numbers:
        readings, _level = WRITER.batch(number, start_ns)
        for channel, ts, value in zip(
            readings.channel.tolist(), readings.ts.tolist(), readings.value.tolist(), strict=True
        ):
            expected[(WRITER.CHANNELS[channel].device, ts // MS)] = value
    return expected


def _stored_values(vm: VictoriaMetrics, site: str, count: int) -> dict[tuple[str, int], float]:
    points = vm.wait_for_points(f'{{__name__="hazmon_value",site="{site}"}}', count)
    return {(dict(labels)["device"], ms): value for (_name, labels, ms), value in points.items()}


def test_outage_spools_and_replays_when_the_server_returns(
    own_vm: VictoriaMetrics, tmp_path: Path
) -> None:
    start = _start_ns()
    store = LineProtocolTimeSeries.victoria_metrics(own_vm.url, tmp_path / "spool.db", timeout=2)
    store.open()
    try:
        for number in range(10):
            readings, level = WRITER.batch(number, start)
            store.write(readings, level, WRITER.CHANNELS)
        assert store.flush(30)
        own_vm.stop()  # the server goes away mid-stream
        for number in range(10, 30):
            readings, level = WRITER.batch(number, start)
            assert store.write(readings, level, WRITER.CHANNELS) == WRITER.PER_BATCH
        # Acquisition went on; nothing could be confirmed, so everything is still spooled.
        assert store.outbox.pending() == (20, 20 * WRITER.PER_BATCH)
        own_vm.start()  # same port, same data
        assert store.flush(60)
        assert store.outbox.pending() == (0, 0)
    finally:
        store.close()
    expected = _expected(range(30), start)
    assert _stored_values(own_vm, "sigkill", len(expected)) == expected


def _run_until(arguments: list[str], committed_at_least: int | None) -> tuple[int, str]:
    """Run the writing process; SIGKILL it once it committed that batch number.

    Returns the last batch number it reported committed and its exit status
    (-SIGKILL when killed).
    """
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    last = -1
    for line in process.stdout:
        if line.startswith("committed "):
            last = int(line.split()[1])
            if committed_at_least is not None and last >= committed_at_least:
                process.send_signal(signal.SIGKILL)
                break
        elif line.strip() in ("drained", "not drained"):
            assert line.strip() == "drained"
    process.wait(timeout=120)
    stderr = process.stderr.read() if process.stderr else ""
    if committed_at_least is None:
        assert process.returncode == 0, stderr
    else:
        assert process.returncode == -signal.SIGKILL, stderr
    return last, stderr


def _spooled(spool: Path) -> int:
    with Outbox(spool) as outbox:
        return outbox.pending()[0]


def test_sigkill_mid_stream_loses_nothing(own_vm: VictoriaMetrics, tmp_path: Path) -> None:
    start = _start_ns()
    spool = tmp_path / "spool.db"
    total = 120
    # 1. Writing to a live server, killed mid-stream.
    last, _ = _run_until([own_vm.url, str(spool), "0", str(total - 1), str(start)], 40)
    # 2. Restarted during an outage (nothing listens), killed again: the spool holds it all.
    dead = f"http://127.0.0.1:{free_port()}"
    first = last + 1
    last, _ = _run_until([dead, str(spool), str(first), str(total - 1), str(start)], first + 30)
    assert _spooled(spool) >= 31
    # 3. Restarted with the server back: it replays the spool, then writes the rest.
    # A batch killed between its commit and its "committed" line is written again:
    # the replay is idempotent (same series and timestamps).
    _run_until([own_vm.url, str(spool), str(last + 1), str(total - 1), str(start)], None)
    assert _spooled(spool) == 0
    expected = _expected(range(total), start)
    assert _stored_values(own_vm, "sigkill", len(expected)) == expected


class _FlakyWriter:
    """Refuses until told otherwise, then records payloads (the order the server saw)."""

    def __init__(self) -> None:
        self.refuse = True
        self.attempts = 0
        self.received: list[bytes] = []
        self.tried = threading.Event()

    def write(self, payload: bytes) -> None:
        self.attempts += 1
        if self.attempts >= 3:
            self.tried.set()
        if self.refuse:
            raise StoreUnavailable("refused for the test")
        self.received.append(payload)

    def close(self) -> None:
        pass


def test_batches_leave_the_spool_only_when_confirmed_and_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "spool.db")
    outbox.open()
    writer = _FlakyWriter()
    sender = OutboxWriter(outbox, writer, min_backoff=0.001, max_backoff=0.01)
    table = ChannelTable([Channel("order", "gd-1", "co", "ppm")])
    payloads = [
        format_lines(
            Readings.from_columns([number * SECOND], [0], [float(number)]),
            np.zeros(1, np.uint8),
            table,
        )
        for number in range(5)
    ]
    for payload in payloads:
        outbox.put(payload, 1)
    sender.start()
    try:
        assert writer.tried.wait(30)
        assert outbox.pending() == (5, 5)  # refused batches stay
        writer.refuse = False
        assert sender.flush(30)
    finally:
        sender.stop(0)
        outbox.close()
    assert writer.received == payloads
    outbox.open()
    try:
        assert outbox.pending() == (0, 0)
    finally:
        outbox.close()
