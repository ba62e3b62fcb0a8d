"""The SQLite store's interface beyond reads: aggregates, downsampling that keeps peaks,
retention, and the channel list."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import Quality
from hazmon.store.timeseries import Aggregates, TimeSeriesStore, aggregate_window
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SECOND = 1_000_000_000  # [ns]
MINUTE = 60 * SECOND
T0 = 1_699_999_200 * SECOND  # [ns UTC], a multiple of an hour: intervals start on the epoch
LEL = Channel("plant-a", "gas-1", "lel", "%LEL", "methane")
O2 = Channel("plant-a", "gas-1", "o2", "%vol")
TABLE = ChannelTable([LEL, O2])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteTimeSeries]:
    with SqliteTimeSeries(tmp_path / "readings.db") as opened:
        yield opened


def _ten_minutes(store: SqliteTimeSeries) -> tuple[Readings, np.ndarray]:
    """One reading a second on both channels for ten minutes, with one spike and gaps."""
    seconds = np.arange(600)
    ts = np.concatenate([T0 + seconds * SECOND, T0 + seconds * SECOND])
    channel = np.repeat([0, 1], 600)
    value = np.concatenate([10 + (seconds % 7), np.full(600, 20.9)]).astype(float)
    value[125] = 87.5  # a 1-second spike a one-minute mean would hide
    value[300:305] = np.nan  # five readings without a value
    quality = np.zeros(1200, np.uint16)
    quality[300:305] = int(Quality.COMM_TIMEOUT)
    quality[601] = int(Quality.CALIBRATION_DUE)
    level = np.zeros(1200, np.uint8)
    level[125] = 3
    readings = Readings.from_columns(ts, channel, value, quality)
    store.write(readings, level, TABLE)
    return readings, level


def _assert_same(got: Aggregates, expected: Aggregates) -> None:
    for name in expected._fields:
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-12)


def test_the_store_satisfies_the_interface(store: SqliteTimeSeries) -> None:
    assert isinstance(store, TimeSeriesStore)


def test_aggregate_keeps_min_mean_max_per_interval(store: SqliteTimeSeries) -> None:
    _ten_minutes(store)
    result = store.aggregate(LEL, T0, T0 + 10 * MINUTE, MINUTE)
    np.testing.assert_array_equal(result.start_ts, T0 + np.arange(10) * MINUTE)
    assert result.maximum[2] == 87.5  # the spike survives
    assert result.level[2] == 3
    assert result.minimum[0] == 10.0
    np.testing.assert_array_equal(result.value_count, [60] * 5 + [55] + [60] * 4)
    assert result.quality[5] == int(Quality.COMM_TIMEOUT)
    assert result.quality[4] == 0
    expected_mean = np.mean(10 + (np.arange(60) % 7))
    assert result.mean[0] == pytest.approx(expected_mean)
    oxygen = store.aggregate(O2, T0, T0 + 10 * MINUTE, 5 * MINUTE)
    np.testing.assert_array_equal(oxygen.quality, [int(Quality.CALIBRATION_DUE), 0])


def test_aggregate_matches_the_numpy_reference(store: SqliteTimeSeries) -> None:
    _ten_minutes(store)
    window = store.read_window(LEL, T0 + 30 * SECOND, T0 + 7 * MINUTE)
    expected = aggregate_window(window, MINUTE)
    got = store.aggregate(LEL, T0 + 30 * SECOND, T0 + 7 * MINUTE, MINUTE)
    _assert_same(got, expected)


def test_downsampling_keeps_peaks_and_answers_the_same(store: SqliteTimeSeries) -> None:
    _ten_minutes(store)
    before = store.aggregate(LEL, T0, T0 + 10 * MINUTE, 5 * MINUTE)
    before_oxygen = store.aggregate(O2, T0, T0 + 10 * MINUTE, 5 * MINUTE)
    # Roll up the first six minutes and a half: only whole minutes are rolled up.
    rolled = store.downsample(T0 + 6 * MINUTE + 30 * SECOND, MINUTE)
    assert rolled == 2 * 6 * 60
    assert store.count() == 2 * 4 * 60
    _assert_same(store.aggregate(LEL, T0, T0 + 10 * MINUTE, 5 * MINUTE), before)
    _assert_same(store.aggregate(O2, T0, T0 + 10 * MINUTE, 5 * MINUTE), before_oxygen)
    minute = store.aggregate(LEL, T0, T0 + 10 * MINUTE, MINUTE)
    assert minute.maximum[2] == 87.5
    assert minute.quality[5] == int(Quality.COMM_TIMEOUT)
    # A late reading in a rolled-up minute merges into its rollup.
    store.write(
        Readings.from_columns([T0 + 2 * SECOND], [0], [99.0]), np.array([3], np.uint8), TABLE
    )
    store.downsample(T0 + MINUTE, MINUTE)
    first = store.aggregate(LEL, T0, T0 + MINUTE - 1, MINUTE)
    assert (first.maximum[0], first.value_count[0]) == (99.0, 61)


def test_retention_drops_readings_and_rollups(store: SqliteTimeSeries) -> None:
    _ten_minutes(store)
    rolled, dropped = store.apply_retention(
        T0 + 10 * MINUTE,
        raw_for_ns=5 * MINUTE,
        rollup_interval_ns=MINUTE,
        rollups_for_ns=8 * MINUTE,
    )
    assert (rolled, dropped) == (2 * 5 * 60, 0)
    result = store.aggregate(LEL, T0, T0 + 10 * MINUTE, MINUTE)
    np.testing.assert_array_equal(result.start_ts, T0 + np.arange(2, 10) * MINUTE)
    assert result.maximum[0] == 87.5
    assert len(store.read_window(LEL, T0, T0 + 5 * MINUTE - 1).ts) == 0
    with pytest.raises(ValueError, match="rollups outlive"):
        store.apply_retention(T0, raw_for_ns=MINUTE, rollup_interval_ns=MINUTE, rollups_for_ns=1)
    assert store.delete_before(T0 + 20 * MINUTE) == 2 * 5 * 60
    assert store.list_channels() == []


def test_list_channels(store: SqliteTimeSeries) -> None:
    store.channel_id(Channel("plant-a", "gas-9", "co", "ppm"))  # known, but no readings
    assert store.list_channels() == []
    _ten_minutes(store)
    assert store.list_channels() == [LEL, O2]


def test_empty_and_invalid_aggregates(store: SqliteTimeSeries) -> None:
    result = store.aggregate(LEL, T0, T0 + MINUTE, MINUTE)
    assert [len(column) for column in result] == [0] * 7
    with pytest.raises(ValueError, match="positive"):
        store.aggregate(LEL, T0, T0 + MINUTE, 0)
    with pytest.raises(ValueError, match="positive"):
        store.downsample(T0, -1)
    store.write(
        Readings.from_columns([T0], [0], [math.nan], [int(Quality.COMM_ERROR)]),
        np.zeros(1, np.uint8),
        TABLE,
    )
    only_gap = store.aggregate(LEL, T0, T0 + MINUTE, MINUTE)
    assert only_gap.value_count.tolist() == [0]
    assert math.isnan(only_gap.mean[0])
    assert math.isnan(only_gap.maximum[0])
    assert only_gap.quality.tolist() == [int(Quality.COMM_ERROR)]
