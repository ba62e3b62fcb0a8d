"""Line-protocol writes to a real VictoriaMetrics, and the outbox's overhead.

Run: ``.venv/bin/python benchmarks/bench_store_line_protocol.py`` (needs Debian's
``victoria-metrics`` on PATH or ``HAZMON_VICTORIA_METRICS``; the benchmark starts it on a
free port with a temporary data folder). Baselines in the same run, same server:

- vectorised ``format_lines`` + one synchronous write per batch, against
  influxdb-client's ``Point`` object path (one ``Point`` per reading);
- writing through the durable outbox (spool commit, background writer, delete on
  confirmation) against writing the same payloads directly.

Every phase is read back through ``/api/v1/export`` and counted, since VictoriaMetrics
answers 204 even to lines it dropped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.timeseries.influx_client import InfluxWriter, write_points
from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries, format_lines

CHANNELS = 200
BATCH = 50_000
VECTORISED_POINTS = 1_000_000
POINT_PATH_POINTS = 100_000
OUTBOX_POINTS = 500_000
SECOND = 1_000_000_000  # [ns]


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = os.environ.get("HAZMON_VICTORIA_METRICS") or shutil.which("victoria-metrics")
    if not binary:
        sys.exit("victoria-metrics is not installed (apt-get install victoria-metrics)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={folder / 'vm'}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-dedup.minScrapeInterval=1ms",
            "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("victoria-metrics did not start")


def stored_points(url: str, site: str, expected: int) -> int:
    """Quality points of ``site`` that VictoriaMetrics holds (waits for ingestion)."""
    count = 0
    for _ in range(100):
        with urllib.request.urlopen(f"{url}/internal/force_flush", timeout=30):
            pass
        query = urllib.parse.urlencode(
            {"match[]": f'{{__name__="hazmon_quality",site="{site}"}}', "start": "0"}
        )
        with urllib.request.urlopen(f"{url}/api/v1/export?{query}", timeout=120) as answer:
            count = sum(
                len(json.loads(line)["timestamps"])
                for line in answer.read().splitlines()
                if line.strip()
            )
        if count >= expected:
            break
        time.sleep(0.2)
    return count


def batches(site: str, points: int, start_ns: int) -> tuple[ChannelTable, list[Readings]]:
    table = ChannelTable(
        [Channel(site, f"meter {number}", "lel", "%LEL", "methane") for number in range(CHANNELS)]
    )
    rng = np.random.default_rng(7)
    out = []
    for first in range(0, points, BATCH):
        row = first + np.arange(min(BATCH, points - first))
        out.append(
            Readings.from_columns(
                start_ns + (row // CHANNELS) * 10_000_000,  # 100 Hz per channel, distinct ms
                row % CHANNELS,
                np.round(rng.normal(20, 4, len(row)), 3),
            )
        )
    return table, out


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hazmon-bench-vm-") as name:
        folder = Path(name)
        process, url = start_server(folder)
        try:
            run(folder, url)
        finally:
            process.terminate()
            process.wait()


def run(folder: Path, url: str) -> None:
    start_ns = (time.time_ns() - 6 * 3600 * SECOND) // SECOND * SECOND
    writer = InfluxWriter(url, timeout=120)
    try:
        # Vectorised line protocol, one synchronous write per batch.
        table, data = batches("vectorised", VECTORISED_POINTS, start_ns)
        levels = [np.zeros(len(readings), np.uint8) for readings in data]
        begin = time.perf_counter()
        for readings, level in zip(data, levels, strict=True):
            writer.write(format_lines(readings, level, table))
        vectorised = VECTORISED_POINTS / (time.perf_counter() - begin)
        format_begin = time.perf_counter()
        payloads = [format_lines(r, lv, table) for r, lv in zip(data, levels, strict=True)]
        formatting = VECTORISED_POINTS / (time.perf_counter() - format_begin)
        got = stored_points(url, "vectorised", VECTORISED_POINTS)
        assert got == VECTORISED_POINTS, got

        # influxdb-client's Point path.
        table, data = batches("points", POINT_PATH_POINTS, start_ns)
        begin = time.perf_counter()
        for readings in data:
            write_points(writer, readings, np.zeros(len(readings), np.uint8), table, "hazmon")
        point_path = POINT_PATH_POINTS / (time.perf_counter() - begin)
        assert stored_points(url, "points", POINT_PATH_POINTS) == POINT_PATH_POINTS

        # The outbox against direct writes of the same payloads.
        table, data = batches("direct", OUTBOX_POINTS, start_ns)
        payloads = [format_lines(r, np.zeros(len(r), np.uint8), table) for r in data]
        begin = time.perf_counter()
        for payload in payloads:
            writer.write(payload)
        direct = time.perf_counter() - begin
        assert stored_points(url, "direct", OUTBOX_POINTS) == OUTBOX_POINTS
    finally:
        writer.close()

    table, data = batches("outbox", OUTBOX_POINTS, start_ns)
    store = LineProtocolTimeSeries.victoria_metrics(url, folder / "spool.db", timeout=120)
    store.open()
    try:
        begin = time.perf_counter()
        for readings in data:
            store.write(readings, np.zeros(len(readings), np.uint8), table)
        accepted = time.perf_counter() - begin
        assert store.flush(600)
        through_outbox = time.perf_counter() - begin
    finally:
        store.close()
    direct_with_format = direct + OUTBOX_POINTS / formatting
    assert stored_points(url, "outbox", OUTBOX_POINTS) == OUTBOX_POINTS

    print(f"VictoriaMetrics at {url}, {CHANNELS} channels, {BATCH:,}-point batches")
    print(f"vectorised line protocol, synchronous writes: {vectorised:,.0f} points/s")
    print(f"  of which formatting alone:                  {formatting:,.0f} points/s")
    print(f"influxdb-client Point objects:                {point_path:,.0f} points/s")
    print(f"ratio (vectorised / Point):                   {vectorised / point_path:.1f}x")
    print(
        f"outbox: {OUTBOX_POINTS / through_outbox:,.0f} points/s until confirmed, "
        f"acquisition unblocked after {accepted:.2f} s "
        f"({OUTBOX_POINTS / accepted:,.0f} points/s spooled)"
    )
    direct_rate = OUTBOX_POINTS / direct_with_format
    print(f"direct (format + write):                      {direct_rate:,.0f} points/s")
    print(
        f"outbox overhead (outbox time / direct time):  {through_outbox / direct_with_format:.2f}x"
    )
    print("every phase read back through /api/v1/export: all points present")


if __name__ == "__main__":
    main()
