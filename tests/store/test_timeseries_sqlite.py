"""The embedded SQLite time-series store, on real files under tmp_path."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import Quality
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

LEL = Channel("plant-a", "gas-1", "lel", "%LEL", "methane")
O2 = Channel("plant-a", "gas-1", "o2", "%vol")
CO = Channel("plant-a", "gas-2", "co", "ppm")
T0 = 1_700_000_000_000_000_000  # [ns UTC]
SECOND = 1_000_000_000  # [ns]


def levels(*values: int) -> NDArray[np.uint8]:
    return np.array(values, dtype=np.uint8)


def sample_batch() -> tuple[Readings, NDArray[np.uint8], ChannelTable]:
    """Five readings on two channels, out of time order, one without a value."""
    table = ChannelTable([LEL, O2])
    readings = Readings.from_columns(
        ts=[T0 + 2 * SECOND, T0, T0 + SECOND, T0, T0 + SECOND],
        channel=[0, 0, 0, 1, 1],
        value=[30.5, 10.25, math.nan, 20.9, 18.0],
        quality=[0, 0, int(Quality.COMM_TIMEOUT), 0, int(Quality.CALIBRATION_DUE)],
    )
    return readings, levels(1, 0, 0, 0, 2), table


def assert_dtypes(
    ts: NDArray[Any], value: NDArray[Any], quality: NDArray[Any], level: NDArray[Any]
) -> None:
    assert ts.dtype == np.dtype(np.int64)
    assert value.dtype == np.dtype(np.float64)
    assert quality.dtype == np.dtype(np.uint16)
    assert level.dtype == np.dtype(np.uint8)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTimeSeries]:
    with SqliteTimeSeries(tmp_path / "readings.db") as opened:
        yield opened


def test_write_and_read_window_exactly(store: SqliteTimeSeries) -> None:
    readings, level, table = sample_batch()
    assert store.write(readings, level, table) == 5
    assert store.count() == 5

    ts, value, quality, lvl = store.read_window(LEL, T0, T0 + 10 * SECOND)
    np.testing.assert_array_equal(ts, [T0, T0 + SECOND, T0 + 2 * SECOND])  # time order
    np.testing.assert_array_equal(value, [10.25, math.nan, 30.5])  # NaN compares equal here
    np.testing.assert_array_equal(quality, [0, int(Quality.COMM_TIMEOUT), 0])
    np.testing.assert_array_equal(lvl, [0, 0, 1])
    assert_dtypes(ts, value, quality, lvl)

    ts, value, quality, lvl = store.read_window(O2, T0, T0 + 10 * SECOND)
    np.testing.assert_array_equal(ts, [T0, T0 + SECOND])
    np.testing.assert_array_equal(value, [20.9, 18.0])
    np.testing.assert_array_equal(quality, [0, int(Quality.CALIBRATION_DUE)])
    np.testing.assert_array_equal(lvl, [0, 2])


def test_read_window_bounds_are_inclusive(store: SqliteTimeSeries) -> None:
    readings, level, table = sample_batch()
    store.write(readings, level, table)
    ts, _value, _, _ = store.read_window(LEL, T0 + SECOND, T0 + 2 * SECOND)
    np.testing.assert_array_equal(ts, [T0 + SECOND, T0 + 2 * SECOND])
    ts, _, _, _ = store.read_window(LEL, T0 + 1, T0 + 2 * SECOND - 1)
    np.testing.assert_array_equal(ts, [T0 + SECOND])


def test_read_window_empty(store: SqliteTimeSeries) -> None:
    readings, level, table = sample_batch()
    store.write(readings, level, table)
    for result in (
        store.read_window(LEL, T0 + 3 * SECOND, T0 + 9 * SECOND),  # after the data
        store.read_window(CO, T0, T0 + 9 * SECOND),  # a channel never written
    ):
        ts, value, quality, lvl = result
        assert [len(ts), len(value), len(quality), len(lvl)] == [0, 0, 0, 0]
        assert_dtypes(ts, value, quality, lvl)


def test_nan_is_stored_as_null_and_read_back_as_nan(store: SqliteTimeSeries) -> None:
    readings, level, table = sample_batch()
    store.write(readings, level, table)
    rows = store.connection.execute(
        "SELECT ts, value FROM readings WHERE value IS NULL ORDER BY ts"
    ).fetchall()
    assert rows == [(T0 + SECOND, None)]
    _, value, _, _ = store.read_window(LEL, T0 + SECOND, T0 + SECOND)
    assert value.shape == (1,)
    assert math.isnan(value[0])


def test_writing_a_batch_twice_stores_it_once(store: SqliteTimeSeries) -> None:
    readings, level, table = sample_batch()
    store.write(readings, level, table)
    store.write(readings, level, table)
    assert store.count() == 5
    ts, _value, _, _ = store.read_window(LEL, T0, T0 + 10 * SECOND)
    np.testing.assert_array_equal(ts, [T0, T0 + SECOND, T0 + 2 * SECOND])


def test_a_later_reading_at_the_same_time_replaces_the_stored_one(
    store: SqliteTimeSeries,
) -> None:
    table = ChannelTable([LEL])
    store.write(Readings.from_columns([T0], [0], [5.0]), levels(0), table)
    store.write(Readings.from_columns([T0], [0], [55.0], [int(Quality.WARMUP)]), levels(2), table)
    assert store.count() == 1
    _ts, value, quality, lvl = store.read_window(LEL, T0, T0)
    np.testing.assert_array_equal(value, [55.0])
    np.testing.assert_array_equal(quality, [int(Quality.WARMUP)])
    np.testing.assert_array_equal(lvl, [2])


def test_wal_mode_is_on(store: SqliteTimeSeries, tmp_path: Path) -> None:
    assert store.connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # WAL is a property of the file: another connection sees it too.
    other = sqlite3.connect(tmp_path / "readings.db")
    try:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        other.close()


def test_channel_ids_are_stable_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "readings.db"  # parents are created
    with SqliteTimeSeries(path) as first:
        lel_id, o2_id = first.channel_id(LEL), first.channel_id(O2)
        assert lel_id != o2_id
        assert first.channel_id(LEL) == lel_id  # cached
        readings, level, table = sample_batch()
        first.write(readings, level, table)
    with SqliteTimeSeries(path) as second:
        # A new process, a channel table in another order, one channel more.
        co_id = second.channel_id(CO)
        assert co_id not in (lel_id, o2_id)
        assert second.channel_id(O2) == o2_id
        assert second.channel_id(LEL) == lel_id
        assert second.count() == 5
        # Rows written through a reordered table still land on the right channel.
        reordered = ChannelTable([O2, LEL])
        second.write(Readings.from_columns([T0 + 5 * SECOND], [1], [44.0]), levels(1), reordered)
        ts, value, _, _ = second.read_window(LEL, T0 + 5 * SECOND, T0 + 5 * SECOND)
        np.testing.assert_array_equal(value, [44.0])
        ts, value, _, _ = second.read_window(O2, T0 + 5 * SECOND, T0 + 5 * SECOND)
        assert len(ts) == 0
        rows = second.connection.execute("SELECT id, quantity FROM channels ORDER BY id").fetchall()
    assert sorted(rows) == sorted([(lel_id, "lel"), (o2_id, "o2"), (co_id, "co")])


def test_channel_identity_ignores_unit_but_not_substance(store: SqliteTimeSeries) -> None:
    same = Channel(LEL.site, LEL.device, LEL.quantity, "LEL", LEL.substance)
    other_gas = Channel(LEL.site, LEL.device, LEL.quantity, LEL.unit, "propane")
    assert store.channel_id(same) == store.channel_id(LEL)
    assert store.channel_id(other_gas) != store.channel_id(LEL)


def test_empty_batch(store: SqliteTimeSeries) -> None:
    assert store.write(Readings.empty(), levels(), ChannelTable([LEL])) == 0
    assert store.count() == 0
    # An empty batch registers no channels either.
    assert store.connection.execute("SELECT count(*) FROM channels").fetchone() == (0,)


def test_failed_batch_is_stored_not_at_all(store: SqliteTimeSeries) -> None:
    readings, _, table = sample_batch()
    with pytest.raises(ValueError, match="3 levels for 5 readings"):
        store.write(readings, levels(0, 0, 0), table)  # 3 levels for 5 readings
    assert store.count() == 0
    # The store stays usable after the rollback.
    readings, level, table = sample_batch()
    assert store.write(readings, level, table) == 5
    assert store.count() == 5


def test_unopened_store_raises_a_helpful_error(tmp_path: Path) -> None:
    path = tmp_path / "never-opened.db"
    store = SqliteTimeSeries(path)
    message = f"store {path} is not open; call open\\(\\) first"
    with pytest.raises(RuntimeError, match=message):
        store.read_window(LEL, T0, T0 + SECOND)
    with pytest.raises(RuntimeError, match=message):
        store.count()
    readings, level, table = sample_batch()
    with pytest.raises(RuntimeError, match=message):
        store.write(readings, level, table)
    assert not path.exists()  # the constructor does no I/O


def test_close_is_idempotent_and_reopen_works(tmp_path: Path) -> None:
    store = SqliteTimeSeries(tmp_path / "readings.db")
    store.open()
    store.open()  # a second open is a no-op
    readings, level, table = sample_batch()
    store.write(readings, level, table)
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="not open"):
        store.count()
    store.open()
    try:
        assert store.count() == 5
    finally:
        store.close()
