"""The per-minute summaries the SQLite store keeps at write time.

A long evidence chart reads whole minutes from the summaries and only the partial
minutes at the window's edges from raw rows. These tests hold that answer to the one a
plain Python loop over the raw rows gives (written here, independent of the store's
numpy and SQL), and hold the summary rows themselves to the raw rows after writes,
late writes, rewrites, downsampling and retention.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import Quality
from hazmon.store.timeseries import Aggregates
from hazmon.store.timeseries.sqlite import SUMMARY_NS, SqliteTimeSeries

SECOND = 1_000_000_000  # [ns]
MINUTE = 60 * SECOND
T0 = 1_699_999_200 * SECOND  # [ns UTC], a whole hour
LEL = Channel("plant-a", "gas-1", "lel", "%LEL", "methane")
O2 = Channel("plant-a", "gas-1", "o2", "%vol")
TABLE = ChannelTable([LEL, O2])

#: (channel index, ts [ns UTC], value or NaN, quality, level)
Row = tuple[int, int, float, int, int]
#: bucket start [ns UTC] -> (min, mean, max, count, quality OR, highest level)
Summary = dict[int, tuple[float, float, float, int, int, int]]


def test_the_summary_is_one_minute() -> None:
    assert SUMMARY_NS == MINUTE


# ------------------------------------------------------------------ references


def reference(rows: list[tuple[int, float | None, int, int]], interval: int) -> Summary:
    """bucket -> (min, mean, max, count, quality OR, highest level), by a plain loop
    over (ts, value or None, quality, level) rows; NaN where no reading had a value."""
    buckets: dict[int, list[Any]] = {}
    for ts, value, quality, level in rows:
        entry = buckets.setdefault(ts - ts % interval, [[], 0, 0])
        if value is not None and not math.isnan(value):
            entry[0].append(value)
        entry[1] |= quality
        entry[2] = max(entry[2], level)
    answer = {}
    for bucket, (values, quality, level) in buckets.items():
        if values:
            summary = (min(values), math.fsum(values) / len(values), max(values), len(values))
        else:
            summary = (math.nan, math.nan, math.nan, 0)
        answer[bucket] = (*summary, quality, level)
    return answer


def as_dict(result: Aggregates) -> Summary:
    return {
        int(start): (float(low), float(mean), float(high), int(count), int(bits), int(level))
        for start, low, mean, high, count, bits, level in zip(*result, strict=True)
    }


NAMES = ("min", "mean", "max", "count", "quality", "level")


def assert_same(got: Summary, expected: Summary, *, exact: bool) -> None:
    assert list(got) == sorted(expected)
    for bucket, want in expected.items():
        have = got[bucket]
        for name, a, b in zip(NAMES, have, want, strict=True):
            if math.isnan(b):
                assert math.isnan(a), (bucket, name, have, want)
            elif exact or name != "mean":
                assert a == b, (bucket, name, have, want)
            else:
                assert a == pytest.approx(b, rel=1e-12, abs=1e-9), (bucket, name, have, want)


def raw_rows(store: SqliteTimeSeries, channel: Channel, start: int, end: int) -> list[Any]:
    """The stored rows of ``channel`` in [start, end], straight from SQL."""
    return store.connection.execute(
        "SELECT r.ts, r.value, r.quality, r.level FROM readings r "
        "JOIN channels c ON c.id = r.channel_id WHERE c.quantity = ? AND r.ts BETWEEN ? AND ?",
        (channel.quantity, start, end),
    ).fetchall()


def assert_summaries_match_raw(store: SqliteTimeSeries) -> None:
    """Every kept summary row is the plain-loop summary of its minute's raw rows."""
    expected: dict[tuple[int, int], tuple[Any, ...]] = {}
    rows = store.connection.execute(
        "SELECT channel_id, ts, value, quality, level FROM readings"
    ).fetchall()
    by_channel: dict[int, list[Any]] = {}
    for channel_id, *rest in rows:
        by_channel.setdefault(channel_id, []).append(rest)
    for channel_id, channel_rows in by_channel.items():
        for start, (low, _, high, count, bits, level) in reference(channel_rows, MINUTE).items():
            values = [
                v for ts, v, _, _ in channel_rows if ts - ts % MINUTE == start and v is not None
            ]
            expected[(channel_id, start)] = (low, high, math.fsum(values), count, bits, level)
    got = {
        (a, b): (math.nan if c is None else c, math.nan if d is None else d, e, f, g, h)
        for a, b, interval, c, d, e, f, g, h in store.connection.execute(
            "SELECT channel_id, start_ts, interval_ns, minimum, maximum, total, count, "
            "quality, level FROM rollups WHERE kept = 1"
        )
        if interval == MINUTE
    }
    count = store.connection.execute("SELECT count(*) FROM rollups WHERE kept = 1").fetchone()
    assert count[0] == len(got)  # every kept summary is one minute wide
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        have = got[key]
        for a, b in zip(have, want, strict=True):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12), (
                key,
                have,
                want,
            )


def write_rows(store: SqliteTimeSeries, batch: list[Row]) -> None:
    channel, ts, value, quality, level = (list(column) for column in zip(*batch, strict=True))
    store.write(
        Readings.from_columns(ts, channel, value, quality), np.array(level, np.uint8), TABLE
    )


# ------------------------------------------------------------------ the property

# Values that are multiples of 1/8 below 2**20 add exactly in any order, so the mean of
# the summaries and of the raw rows must agree to the last bit; the general case
# (rounding of a regrouped sum) is the next test.
exact_values = st.integers(-8000, 8000).map(lambda eighths: eighths / 8)
offsets = st.one_of(
    st.integers(0, 12 * 60).map(lambda seconds: seconds * SECOND),
    st.integers(0, 12).flatmap(lambda m: st.sampled_from([m * MINUTE - 1, m * MINUTE])),
    st.integers(0, 12 * MINUTE),
)
qualities = st.sampled_from(
    [0, 0, 0, int(Quality.COMM_TIMEOUT), int(Quality.CALIBRATION_DUE), 1, 0x8000, 5]
)


def rows_strategy(values: st.SearchStrategy[float]) -> st.SearchStrategy[list[Row]]:
    row = st.tuples(
        st.integers(0, 1),
        offsets.map(lambda offset: T0 + max(offset, 0)),
        st.one_of(values, st.just(math.nan)),
        qualities,
        st.integers(0, 3),
    )
    return st.lists(row, min_size=1, max_size=40)


windows = st.tuples(
    st.integers(-2 * MINUTE, 13 * MINUTE),
    st.integers(0, 14 * MINUTE),
    st.one_of(
        st.integers(1, 7).map(lambda minutes: minutes * MINUTE),  # the summaries' path
        st.sampled_from([SECOND, 7 * SECOND, 90 * SECOND]),  # raw rows only
    ),
)


def check_property(batches: list[list[Row]], queries: list[Any], *, exact: bool) -> None:
    with tempfile.TemporaryDirectory() as folder, SqliteTimeSeries(Path(folder) / "r.db") as store:
        stored: dict[tuple[int, int], tuple[float, int, int]] = {}
        for batch in batches:  # batches come in any order: late and rewritten readings
            write_rows(store, batch)
            for index, ts, value, quality, level in batch:
                stored[(index, ts)] = (value, quality, level)  # the last write wins
        assert store.count() == len(stored)
        assert_summaries_match_raw(store)
        for start_offset, length, interval in queries:
            start = T0 + start_offset
            end = start + length
            for number, channel in enumerate((LEL, O2)):
                rows: list[tuple[int, float | None, int, int]] = [
                    (ts, value, quality, level)
                    for (which, ts), (value, quality, level) in stored.items()
                    if which == number and start <= ts <= end
                ]
                expected = reference(rows, interval)
                got = as_dict(store.aggregate(channel, start, end, interval))
                assert_same(got, expected, exact=exact)
                # The same rows as SQL holds them (NaN stored as NULL).
                assert len(raw_rows(store, channel, start, end)) == len(rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(rows_strategy(exact_values), min_size=1, max_size=5),
    queries=st.lists(windows, min_size=1, max_size=4),
)
def test_summaries_answer_exactly_as_the_raw_rows(
    batches: list[list[Row]], queries: list[Any]
) -> None:
    check_property(batches, queries, exact=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(
        rows_strategy(st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=4,
    ),
    queries=st.lists(windows, min_size=1, max_size=3),
)
def test_summaries_answer_as_the_raw_rows_for_any_float(
    batches: list[list[Row]], queries: list[Any]
) -> None:
    # min, max, count, quality and level exactly; the mean to the rounding of its sum.
    check_property(batches, queries, exact=False)


operations = st.lists(
    st.one_of(
        rows_strategy(exact_values).map(lambda batch: ("write", batch)),
        st.tuples(
            st.just("downsample"),
            st.integers(0, 12 * MINUTE),
            st.sampled_from([MINUTE, 2 * MINUTE, 10 * SECOND]),
        ),
        st.tuples(st.just("delete"), st.integers(0, 12 * MINUTE)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=operations, queries=st.lists(windows, min_size=1, max_size=4))
def test_summaries_path_equals_raw_path_through_downsampling_and_retention(
    operations: list[Any], queries: list[Any]
) -> None:
    # After rollups and retention the raw rows alone no longer tell the answer; the
    # store's own raw-row path (readings and what downsample left) does.
    with tempfile.TemporaryDirectory() as folder, SqliteTimeSeries(Path(folder) / "r.db") as store:
        for operation in operations:
            if operation[0] == "write":
                write_rows(store, operation[1])
            elif operation[0] == "downsample":
                store.downsample(T0 + operation[1], operation[2])
            else:
                store.delete_before(T0 + operation[1])
            assert_summaries_match_raw(store)
        for start_offset, length, interval in queries:
            start = T0 + start_offset
            for channel in (LEL, O2):
                raw = store.aggregate(channel, start, start + length, interval, summaries=False)
                got = store.aggregate(channel, start, start + length, interval)
                assert_same(as_dict(got), as_dict(raw), exact=True)


# ------------------------------------------------------------------ worked cases


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with SqliteTimeSeries(tmp_path / "readings.db") as opened:
        yield opened


def ten_minutes(store: SqliteTimeSeries) -> None:
    """One reading a second on LEL for ten minutes: value = second % 7, 87.5 at 125 s."""
    seconds = np.arange(600)
    value = (seconds % 7).astype(float)
    value[125] = 87.5
    level = np.zeros(600, np.uint8)
    level[125] = 3
    quality = np.zeros(600, np.uint16)
    quality[301] = int(Quality.COMM_TIMEOUT)
    store.write(
        Readings.from_columns(T0 + seconds * SECOND, np.zeros(600, np.int32), value, quality),
        level,
        TABLE,
    )


def test_whole_minutes_are_read_from_their_summaries(store: SqliteTimeSeries) -> None:
    ten_minutes(store)
    # Remove minute 2's raw rows behind the store's back: an answer in whole minutes
    # still has the minute (read from its summary), one in 30 s buckets has not.
    store.connection.execute(
        "DELETE FROM readings WHERE ts >= ? AND ts < ?", (T0 + 2 * MINUTE, T0 + 3 * MINUTE)
    )
    minutes = store.aggregate(LEL, T0, T0 + 10 * MINUTE, MINUTE)
    assert minutes.maximum[2] == 87.5
    assert minutes.value_count[2] == 60
    halves = store.aggregate(LEL, T0, T0 + 10 * MINUTE, 30 * SECOND)
    assert T0 + 2 * MINUTE not in halves.start_ts.tolist()


def test_partial_minutes_at_the_edges_come_from_raw_rows(store: SqliteTimeSeries) -> None:
    ten_minutes(store)
    # 2:05 to 5:10, two-minute buckets: bucket 2:00 holds 2:05..3:59 (raw 2:05..2:59
    # and the summary of minute 3), bucket 4:00 holds the summary of minute 4 and raw
    # 5:00..5:10. By hand: values are second % 7; the spike at 125 s is 2:05.
    result = store.aggregate(LEL, T0 + 125 * SECOND, T0 + 310 * SECOND, 2 * MINUTE)
    assert result.start_ts.tolist() == [T0 + 2 * MINUTE, T0 + 4 * MINUTE]
    assert result.value_count.tolist() == [240 - 125, 310 - 240 + 1]
    assert result.maximum.tolist() == [87.5, 6.0]
    assert result.minimum.tolist() == [0.0, 0.0]
    assert result.level.tolist() == [3, 0]
    assert result.quality.tolist() == [0, int(Quality.COMM_TIMEOUT)]  # 5:01
    # Mean of bucket 4:00: seconds 240..310 of second % 7.
    assert result.mean[1] == pytest.approx(sum(s % 7 for s in range(240, 311)) / 71)


def test_a_late_reading_merges_and_a_rewrite_replaces(store: SqliteTimeSeries) -> None:
    ten_minutes(store)
    one = np.ones(1, np.uint8)
    late = Readings.from_columns([T0 + 30 * SECOND + 1], [0], [50.0])  # between two readings
    store.write(late, one, TABLE)
    first = store.aggregate(LEL, T0, T0 + MINUTE - 1, MINUTE)
    assert (first.maximum[0], first.value_count[0], first.level[0]) == (50.0, 61, 1)
    # The spike written again lower: the minute's maximum falls back to 6 (second % 7).
    rewrite = Readings.from_columns([T0 + 125 * SECOND], [0], [1.0])
    store.write(rewrite, np.zeros(1, np.uint8), TABLE)
    third = store.aggregate(LEL, T0 + 2 * MINUTE, T0 + 3 * MINUTE - 1, MINUTE)
    assert (third.maximum[0], third.value_count[0], third.level[0]) == (6.0, 60, 0)
    assert_summaries_match_raw(store)


def test_downsampling_and_retention_keep_the_summaries_coherent(store: SqliteTimeSeries) -> None:
    ten_minutes(store)
    before = store.aggregate(LEL, T0, T0 + 10 * MINUTE - 1, 5 * MINUTE)
    assert store.downsample(T0 + 4 * MINUTE, MINUTE) == 240
    assert_summaries_match_raw(store)
    after = store.aggregate(LEL, T0, T0 + 10 * MINUTE - 1, 5 * MINUTE)
    assert_same(as_dict(after), as_dict(before), exact=False)
    # A late reading into a rolled-up minute: its own summary until the next downsample.
    store.write(Readings.from_columns([T0 + 2 * SECOND], [0], [99.0]), np.ones(1, np.uint8), TABLE)
    assert_summaries_match_raw(store)
    first = store.aggregate(LEL, T0, T0 + MINUTE - 1, MINUTE)
    assert (first.maximum[0], first.value_count[0]) == (99.0, 61)
    store.downsample(T0 + MINUTE, MINUTE)
    assert_summaries_match_raw(store)
    first = store.aggregate(LEL, T0, T0 + MINUTE - 1, MINUTE)
    assert (first.maximum[0], first.value_count[0]) == (99.0, 61)
    # A cut inside a minute (10 s rollups, retention at 7:30): that minute's summary
    # is summed again from what is left of it.
    store.downsample(T0 + 6 * MINUTE + 10 * SECOND, 10 * SECOND)
    assert_summaries_match_raw(store)
    assert store.delete_before(T0 + 7 * MINUTE + 30 * SECOND) == 60 + 30 - 10
    assert_summaries_match_raw(store)
    rest = store.aggregate(LEL, T0 + 7 * MINUTE + 30 * SECOND, T0 + 10 * MINUTE - 1, MINUTE)
    assert rest.value_count.tolist() == [30, 60, 60]


# ------------------------------------------------------------------ the upgrade

# The time-series tables of schema version 3 (the release before the summaries).
VERSION_3_DDL = """
CREATE TABLE channels (
    id INTEGER PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '', quantity TEXT NOT NULL,
    substance TEXT NOT NULL DEFAULT '', unit TEXT NOT NULL,
    UNIQUE (site, device, name, quantity, substance)
);
CREATE TABLE readings (
    channel_id INTEGER NOT NULL REFERENCES channels (id), ts INTEGER NOT NULL,
    value REAL, quality INTEGER NOT NULL, level INTEGER NOT NULL,
    PRIMARY KEY (channel_id, ts)
) WITHOUT ROWID;
CREATE TABLE rollups (
    channel_id INTEGER NOT NULL REFERENCES channels (id), start_ts INTEGER NOT NULL,
    interval_ns INTEGER NOT NULL, minimum REAL, maximum REAL, total REAL,
    count INTEGER NOT NULL, quality INTEGER NOT NULL, level INTEGER NOT NULL,
    PRIMARY KEY (channel_id, start_ts, interval_ns)
) WITHOUT ROWID;
PRAGMA user_version = 3;
"""


def test_a_version_3_file_gets_its_summaries_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "readings.db"
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_3_DDL)
        old.execute(
            "INSERT INTO channels VALUES (3, 'plant-a', 'gas-1', '', 'lel', 'methane', '%LEL')"
        )
        # What downsample left of minute 0 (its raw rows are gone), then raw minutes 1, 2.
        old.execute("INSERT INTO rollups VALUES (3, ?, ?, 1.0, 9.0, 50.0, 10, 4, 2)", (T0, MINUTE))
        old.executemany(
            "INSERT INTO readings VALUES (3, ?, ?, ?, ?)",
            [
                (T0 + MINUTE, 2.0, 0, 0),
                (T0 + MINUTE + SECOND, None, int(Quality.COMM_ERROR), 0),
                (T0 + 2 * MINUTE + 59 * SECOND, 7.5, 0, 1),
                (T0 + 2 * MINUTE + 30 * SECOND, 4.5, 1, 3),
            ],
        )
    old.close()
    logger = "hazmon.store.timeseries.sqlite"
    with caplog.at_level(logging.INFO, logger=logger), SqliteTimeSeries(path) as store:
        assert_summaries_match_raw(store)
        result = store.aggregate(LEL, T0, T0 + 3 * MINUTE - 1, MINUTE)
        assert as_dict(result) == {
            T0: (1.0, 5.0, 9.0, 10, 4, 2),
            T0 + MINUTE: (2.0, 2.0, 2.0, 1, int(Quality.COMM_ERROR), 0),
            T0 + 2 * MINUTE: (4.5, 6.0, 7.5, 2, 1, 3),
        }
    assert "schema 3 -> 4: built 2 per-minute summaries of 4 readings" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=logger), SqliteTimeSeries(path) as store:
        assert_summaries_match_raw(store)
    assert "built" not in caplog.text  # once
