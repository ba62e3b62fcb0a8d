"""Level transitions across batches."""

from __future__ import annotations

import numpy as np

from hazmon.analysis.alarms import LevelTracker
from hazmon.analysis.readings import Readings


def test_transitions_within_and_across_batches() -> None:
    tracker = LevelTracker()
    first = Readings.from_columns(ts=[0, 1, 2], channel=[0, 0, 0], value=[1.0, 30.0, 60.0])
    found = tracker.update(first, np.array([0, 1, 2], dtype=np.uint8))
    assert found.previous_level.tolist() == [0, 1]
    assert found.level.tolist() == [1, 2]
    assert found.row.tolist() == [1, 2]
    second = Readings.from_columns(ts=[3, 4], channel=[0, 0], value=[60.0, 1.0])
    found = tracker.update(second, np.array([2, 0], dtype=np.uint8))
    assert found.level.tolist() == [0]
    assert found.previous_level.tolist() == [2]


def test_a_silent_meter_keeps_the_alarm_level() -> None:
    tracker = LevelTracker()
    tracker.update(
        Readings.from_columns(ts=[0], channel=[3], value=[60.0]), np.array([2], np.uint8)
    )
    found = tracker.update(
        Readings.from_columns(ts=[1], channel=[3], value=[np.nan]), np.array([0], np.uint8)
    )
    assert len(found) == 0
    assert tracker.last_level[3] == 2


def test_channels_tracked_separately() -> None:
    tracker = LevelTracker()
    readings = Readings.from_columns(ts=[0, 0, 1, 1], channel=[0, 1, 0, 1], value=[1, 1, 1, 1])
    found = tracker.update(readings, np.array([1, 0, 1, 2], dtype=np.uint8))
    assert found.channel.tolist() == [0, 1]
    assert found.level.tolist() == [1, 2]
