"""Line protocol: vectorised formatting, escaping, and read-back from a real VictoriaMetrics.

VictoriaMetrics answers 204 even to lines it cannot parse, so every test that writes
reads the points back through ``/api/v1/export`` and compares values and times
(VictoriaMetrics keeps milliseconds).
"""

from __future__ import annotations

import math
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import Quality
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister
from hazmon.store.timeseries import TimeSeriesStore, Window, aggregate_window
from hazmon.store.timeseries.influx_client import InfluxWriter
from hazmon.store.timeseries.line_protocol import (
    LineProtocolTimeSeries,
    VictoriaMetricsReader,
    format_lines,
    stored_tag,
    tag_text,
)
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

from .victoria_metrics import VictoriaMetrics

MS = 1_000_000  # [ns]
SECOND = 1_000_000_000  # [ns]
HOSTILE = (
    "tank farm",  # space
    "east,west",  # comma
    "a=b",  # equals sign
    'the "north" bund',  # quotes
    "C:\\meters\\",  # backslashes, one at the very end (before the tag's comma)
    "line\nbreak",  # newline: not representable in a tag, stored as a space
    "罐区 3#",  # unicode
    '\\, ="\\\\',  # all of it at once
)


def recent_ns() -> int:
    """An hour ago, on a millisecond plus 123 456 ns: inside VM's retention, not on a tick."""
    now = time.time_ns() - 3600 * SECOND
    return now - now % SECOND + 123_456


def test_tag_escaping() -> None:
    assert tag_text("tank farm") == "tank\\ farm"
    assert tag_text("east,west") == "east\\,west"
    assert tag_text("a=b") == "a\\=b"
    assert tag_text('"q"') == '"q"'  # quotes need no escape in a tag
    assert tag_text("C:\\m\\") == "C:\\\\m\\\\"
    assert tag_text("line\nbreak\r\t") == "line\\ break\\ \\ "
    assert tag_text("罐区") == "罐区"
    assert stored_tag("line\nbreak") == "line break"


def test_format_lines_exactly() -> None:
    table = ChannelTable(
        [Channel("plant a", "gd,1", "lel", "%LEL", "methane"), Channel("p", "d", "o2", "%vol")]
    )
    readings = Readings.from_columns(
        ts=[1_700_000_000_000_000_001, 1_700_000_000_000_000_002, 1_700_000_000_000_000_003],
        channel=[0, 1, 0],
        value=[62.5, math.nan, 1e-7],
        quality=[0, int(Quality.COMM_TIMEOUT), int(Quality.CALIBRATION_DUE)],
    )
    payload = format_lines(readings, np.array([2, 0, 3], np.uint8), table)
    assert payload.decode().splitlines() == [
        "hazmon,device=gd\\,1,quantity=lel,site=plant\\ a,substance=methane,unit=%LEL "
        "value=62.5,quality=0i,level=2i 1700000000000000001",
        # No value field for a reading without one; no substance tag when it is empty.
        f"hazmon,device=d,quantity=o2,site=p,unit=%vol quality={int(Quality.COMM_TIMEOUT)}i,"
        "level=0i 1700000000000000002",
        "hazmon,device=gd\\,1,quantity=lel,site=plant\\ a,substance=methane,unit=%LEL "
        f"value=1e-07,quality={int(Quality.CALIBRATION_DUE)}i,level=3i 1700000000000000003",
    ]
    assert payload.endswith(b"\n")
    assert format_lines(Readings.empty(), np.empty(0, np.uint8), table) == b""
    with pytest.raises(ValueError, match="2 levels for 3 readings"):
        format_lines(readings, np.array([0, 0], np.uint8), table)


def _batch(
    table: ChannelTable, start: int, count: int, seed: int = 0
) -> tuple[Readings, np.ndarray]:
    rng = np.random.default_rng(seed)
    channel = np.arange(count) % len(table)
    ts = start + (np.arange(count) // len(table)) * 7 * MS
    value = np.round(rng.normal(20, 5, count), 6)
    value[rng.random(count) < 0.05] = np.nan
    quality = np.where(np.isnan(value), int(Quality.COMM_TIMEOUT), 0)
    level = rng.integers(0, 4, count).astype(np.uint8)
    return Readings.from_columns(ts, channel, value, quality), level


def _expected(
    readings: Readings, level: np.ndarray, table: ChannelTable
) -> dict[tuple[str, tuple[tuple[str, str], ...], int], float]:
    expected = {}
    for row in range(len(readings)):
        channel = table[int(readings.channel[row])]
        labels = tuple(
            sorted(
                (key, stored_tag(value))
                for key, value in (
                    ("site", channel.site),
                    ("device", channel.device),
                    ("channel", channel.name),
                    ("quantity", channel.quantity),
                    ("substance", channel.substance),
                    ("unit", channel.unit),
                )
                if value
            )
        )
        ms = int(readings.ts[row]) // MS
        if not math.isnan(readings.value[row]):
            expected[("hazmon_value", labels, ms)] = float(readings.value[row])
        expected[("hazmon_quality", labels, ms)] = float(readings.quality[row])
        expected[("hazmon_level", labels, ms)] = float(level[row])
    return expected


def test_every_point_arrives_with_its_value_and_time(
    shared_vm: VictoriaMetrics, tmp_path: Path
) -> None:
    table = ChannelTable(
        [Channel("every-point", f"gd-{number}", "lel", "%LEL", "methane") for number in range(8)]
    )
    readings, level = _batch(table, recent_ns(), 16_000)
    with LineProtocolTimeSeries.victoria_metrics(shared_vm.url, tmp_path / "spool.db") as store:
        assert isinstance(store, TimeSeriesStore)
        for part in np.array_split(np.arange(len(readings)), 4):
            assert store.write(readings.take(part), level[part], table) == len(part)
        assert store.flush(30)
    expected = _expected(readings, level, table)
    stored = shared_vm.wait_for_points('{site="every-point"}', len(expected))
    assert stored == expected


def test_hostile_names_round_trip(shared_vm: VictoriaMetrics, tmp_path: Path) -> None:
    channels = [
        Channel(
            "hostile",
            name,
            "co",
            "ppm",
            substance=name if number % 2 else "",
            name=name if number % 3 else "",
        )
        for number, name in enumerate(HOSTILE)
    ]
    channels.append(Channel("hostile", "plain", "noise", "dB(A)"))
    table = ChannelTable(channels)
    start = recent_ns()
    readings, level = _batch(table, start, 10 * len(table), seed=3)
    with LineProtocolTimeSeries.victoria_metrics(shared_vm.url, tmp_path / "spool.db") as store:
        store.write(readings, level, table)
        assert store.flush(30)
        expected = _expected(readings, level, table)
        assert shared_vm.wait_for_points('{site="hostile"}', len(expected)) == expected
        # Read back by the original (unescaped) channel through the store's reader.
        for number, channel in enumerate(channels):
            rows = np.flatnonzero(readings.channel == number)
            window = store.read_window(channel, start, start + SECOND)
            np.testing.assert_array_equal(window.ts, readings.ts[rows] // MS * MS)
            np.testing.assert_array_equal(window.value, readings.value[rows])
            np.testing.assert_array_equal(window.quality, readings.quality[rows])
            np.testing.assert_array_equal(window.level, level[rows])
        listed = {channel.key for channel in store.list_channels() if channel.site == "hostile"}
    assert listed == {
        (c.site, stored_tag(c.device), stored_tag(c.name), c.quantity, stored_tag(c.substance))
        for c in channels
    }


def test_vm_accepts_malformed_lines_silently_so_tests_read_back(shared_vm: VictoriaMetrics) -> None:
    writer = InfluxWriter(shared_vm.url)
    try:
        # No field set, a bad time, a field without a value: each line is skipped (and
        # logged by the server), yet the write is answered 204 and raises nothing here.
        writer.write(
            b"hazmon,site=malformed,device=x\n"
            b"hazmon,site=malformed,device=y value=1.5 notatime\n"
            b"hazmon,site=malformed,device=z value=1.5,bad\n"
        )
    finally:
        writer.close()
    assert shared_vm.points('{site="malformed"}') == {}


def test_replaying_a_batch_stores_it_once(shared_vm: VictoriaMetrics, tmp_path: Path) -> None:
    table = ChannelTable([Channel("replay", "gd-1", "h2s", "ppm")])
    readings, level = _batch(table, recent_ns(), 50, seed=5)
    with LineProtocolTimeSeries.victoria_metrics(shared_vm.url, tmp_path / "spool.db") as store:
        for _ in range(3):
            store.write(readings, level, table)
        assert store.flush(30)
        expected = _expected(readings, level, table)
        assert shared_vm.wait_for_points('{site="replay"}', len(expected)) == expected
        window = store.read_window(table[0], int(readings.ts[0]), int(readings.ts[-1]))
    assert len(window.ts) == 50
    assert len(np.unique(window.ts)) == 50


def test_aggregates_match_the_sqlite_store(shared_vm: VictoriaMetrics, tmp_path: Path) -> None:
    table = ChannelTable([Channel("aggregate", "gd-1", "lel", "%LEL", "methane")])
    start = recent_ns() - recent_ns() % SECOND
    readings, level = _batch(table, start, 500, seed=9)
    with SqliteTimeSeries(tmp_path / "readings.db") as sqlite_store:
        sqlite_store.write(readings, level, table)
        expected = sqlite_store.aggregate(table[0], start, start + 10 * SECOND, SECOND)
    with LineProtocolTimeSeries.victoria_metrics(shared_vm.url, tmp_path / "spool.db") as store:
        store.write(readings, level, table)
        assert store.flush(30)
        expected_points = _expected(readings, level, table)
        assert shared_vm.wait_for_points('{site="aggregate"}', len(expected_points)) == (
            expected_points
        )
        got = store.aggregate(table[0], start, start + 10 * SECOND, SECOND)
    for name in expected._fields:
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-12)
    assert np.all(got.maximum >= got.mean)


def test_influxdb_store_without_reader_says_so(tmp_path: Path) -> None:
    store = LineProtocolTimeSeries.influxdb(
        "http://127.0.0.1:9", "token", "org", "bucket", tmp_path / "spool.db"
    )
    with pytest.raises(NotImplementedError, match="reading back is implemented for"):
        store.read_window(Channel("s", "d", "co", "ppm"), 0, 1)
    with pytest.raises(ValueError, match="positive"):
        aggregate_window(Window.empty(), 0)


def test_evidence_summary_from_victoria_metrics(shared_vm: VictoriaMetrics, tmp_path: Path) -> None:
    """``hazmon hazards show`` reads evidence from whichever store holds the readings."""
    channel = Channel("evidence", "gd 1", "lel", "%LEL", "methane")
    table = ChannelTable([channel])
    start = recent_ns()
    value = np.array([10.0, 30.0, 52.0, 62.5, 58.0, 51.0, 20.0, 5.0])
    level = np.array([0, 1, 2, 2, 2, 2, 1, 0], np.uint8)
    readings = Readings.from_columns(start + np.arange(8) * SECOND, np.zeros(8), value)
    with LineProtocolTimeSeries.victoria_metrics(shared_vm.url, tmp_path / "spool.db") as store:
        store.write(readings, level, table)
        assert store.flush(30)
    expected = _expected(readings, level, table)
    assert shared_vm.wait_for_points('{site="evidence"}', len(expected)) == expected
    event = Event(0, start + 2 * SECOND, start + 5 * SECOND, 62.5, start + 3 * SECOND, 2, 1, 4)
    with HazardRegister(f"sqlite:///{tmp_path / 'register.db'}") as register:
        _, hazard_id = register.record_event(
            event,
            channel,
            rules_by_quantity(("gbt50493-2019",))["lel"],
            HazardContext("Luohe Chemical Co.", "tank farm"),
            create_hazard=True,
            evidence_margin_ns=2 * SECOND,
        )
        assert hazard_id is not None
        [summary] = register.evidence_summary(hazard_id, VictoriaMetricsReader(shared_vm.url))
    assert (summary.readings, summary.peak, summary.duration_s) == (8, 62.5, 3.0)
    assert summary.peak_ts == (start + 3 * SECOND) // MS * MS  # VM keeps milliseconds
    assert (summary.limit, summary.clause) == (50.0, "5.5.2(2)")


def _export_requests(server: VictoriaMetrics) -> int:
    """How many /api/v1/export requests the server has answered (its own metrics)."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith('vm_http_requests_total{path="/api/v1/export"}'):
                return int(float(line.split()[-1]))
    raise AssertionError("the server reports no export requests")


def test_server_side_aggregates_have_the_sqlite_buckets_edges_included(
    shared_vm: VictoriaMetrics, tmp_path: Path
) -> None:
    """VictoriaMetrics answers a point at t over (t - step, t]; the reader asks at
    b + interval - 1 ms, so a reading at a bucket's first and last millisecond lands in
    that bucket, as in SQLite's [b, b + interval)."""
    table = ChannelTable([Channel("vm-edges", "gd-1", "lel", "%LEL", "methane")])
    base = recent_ns()
    base -= base % (60 * SECOND)  # a whole minute
    # Per 10 s bucket k (k = 0..5): readings at its first ms, 3.5 s in, its last ms.
    offsets = np.array([[0, 3_500, 9_999]]) + 10_000 * np.arange(6)[:, None]  # [ms]
    ts = base + offsets.ravel() * MS
    value = np.arange(18, dtype=float) * 1.5
    value[4] = math.nan  # bucket 1 keeps two values
    quality = np.zeros(18, np.uint16)
    quality[[7, 8]] = [int(Quality.COMM_TIMEOUT), int(Quality.CALIBRATION_DUE)]  # bucket 2
    level = (np.arange(18) % 4).astype(np.uint8)
    readings = Readings.from_columns(ts, np.zeros(18), value, quality)
    with SqliteTimeSeries(tmp_path / "readings.db") as sqlite_store:
        sqlite_store.write(readings, level, table)
        with LineProtocolTimeSeries.victoria_metrics(shared_vm.url, tmp_path / "spool.db") as vm:
            vm.write(readings, level, table)
            assert vm.flush(30)
            expected_points = _expected(readings, level, table)
            assert shared_vm.wait_for_points('{site="vm-edges"}', len(expected_points)) == (
                expected_points
            )
            # Whole buckets, no flags: the server answers it all, nothing is exported.
            exports = _export_requests(shared_vm)
            got = vm.aggregate(table[0], base, base + 20 * SECOND - 1, 10 * SECOND)
            assert _export_requests(shared_vm) == exports
            # By hand: bucket 0 holds values 0, 1.5, 3 (levels 0, 1, 2); bucket 1 holds
            # 4.5 and 7.5 (6 has no value), levels 3, 0, 1.
            assert got.start_ts.tolist() == [base, base + 10 * SECOND]
            assert got.minimum.tolist() == [0.0, 4.5]
            assert got.maximum.tolist() == [3.0, 7.5]
            assert got.mean.tolist() == [1.5, 6.0]
            assert got.value_count.tolist() == [3, 2]
            assert got.level.tolist() == [2, 3]
            assert got.quality.tolist() == [0, 0]
            # Flags OR-ed (bucket 2), partial buckets at both edges, several intervals.
            windows = [
                (base, base + 60 * SECOND - 1, 10 * SECOND),
                (base + 3_500 * MS, base + 43_500 * MS, 10 * SECOND),
                # (VM keeps milliseconds: a window's edges are compared on them.)
                (base + MS, base + 59_999 * MS + 999_999, 20 * SECOND),
                (base, base + 60 * SECOND, 7 * MS),
                (base + 9_999 * MS, base + 30 * SECOND, SECOND),
                (base, base + 60 * SECOND, 60 * SECOND),
            ]
            for start, end, interval in windows:
                expected = sqlite_store.aggregate(table[0], start, end, interval)
                got = vm.aggregate(table[0], start, end, interval)
                np.testing.assert_array_equal(got.start_ts, expected.start_ts)
                for name in ("minimum", "maximum", "value_count", "quality", "level"):
                    np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
                np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-12)
            flagged = vm.aggregate(table[0], base, base + 60 * SECOND - 1, 10 * SECOND)
            assert flagged.quality[2] == int(Quality.COMM_TIMEOUT) | int(Quality.CALIBRATION_DUE)
