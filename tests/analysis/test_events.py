"""Event extraction on hand-built arrays, and streaming equal to batch."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.analysis.events import Event, EventTracker, extract_events
from hazmon.analysis.limits import LimitTable, evaluate_levels
from hazmon.analysis.readings import Readings
from hazmon.config.standards import rules_by_quantity

RULES = rules_by_quantity(("gbt50493-2019",))
SECOND = 1_000_000_000


def _batch(values: list[float], channel: int = 0, start: int = 0) -> Readings:
    count = len(values)
    return Readings.from_columns(
        ts=[start + number * SECOND for number in range(count)],
        channel=[channel] * count,
        value=values,
    )


def _levels(readings: Readings, quantities: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return evaluate_levels(readings.value, readings.channel, LimitTable.build(quantities, RULES))


def test_one_run_with_start_end_peak_and_duration() -> None:
    readings = _batch([10, 30, 55, 70, 52, 40, 10])
    level, side = _levels(readings, ["lel"])
    runs = extract_events(readings, level, side, min_level=2)
    assert len(runs) == 1
    assert runs.start_ts.tolist() == [2 * SECOND]
    assert runs.end_ts.tolist() == [4 * SECOND]
    assert runs.peak.tolist() == [70.0]
    assert runs.peak_ts.tolist() == [3 * SECOND]
    assert runs.duration_s.tolist() == [2.0]
    assert runs.samples.tolist() == [3]
    assert runs.max_level.tolist() == [2]
    assert runs.open_start.tolist() == [False]
    assert runs.open_end.tolist() == [False]


def test_runs_at_a_lower_level_and_several_runs() -> None:
    readings = _batch([30, 10, 26, 27, 10, 60])
    level, side = _levels(readings, ["lel"])
    runs = extract_events(readings, level, side, min_level=1)
    assert runs.start_ts.tolist() == [0, 2 * SECOND, 5 * SECOND]
    assert runs.samples.tolist() == [1, 2, 1]
    assert runs.max_level.tolist() == [1, 1, 2]
    assert runs.open_start.tolist() == [True, False, False]
    assert runs.open_end.tolist() == [False, False, True]


def test_lower_limit_peak_is_the_minimum() -> None:
    readings = _batch([20.9, 19.0, 17.5, 18.2, 20.9])
    level, side = _levels(readings, ["o2"])
    runs = extract_events(readings, level, side, min_level=2)
    assert runs.peak.tolist() == [17.5]
    assert runs.peak_ts.tolist() == [2 * SECOND]
    assert runs.side.tolist() == [-1]


def test_side_flip_splits_the_run() -> None:
    readings = _batch([18.0, 24.0, 24.5])
    level, side = _levels(readings, ["o2"])
    runs = extract_events(readings, level, side, min_level=2)
    assert runs.side.tolist() == [-1, 1]
    assert runs.samples.tolist() == [1, 2]


def test_interleaved_channels_and_unsorted_rows() -> None:
    first = _batch([60, 60, 10], channel=0)
    second = _batch([10, 55, 10], channel=1)
    readings = Readings.concat([first, second])
    shuffled = readings.take(np.array([5, 0, 3, 2, 4, 1]))
    level, side = _levels(shuffled, ["lel", "lel"])
    runs = extract_events(shuffled, level, side, min_level=2)
    assert runs.channel.tolist() == [0, 1]
    assert runs.samples.tolist() == [2, 1]
    assert runs.start_ts.tolist() == [0, SECOND]


def test_missing_value_neither_starts_nor_ends_a_run() -> None:
    readings = _batch([60, np.nan, 65, 10])
    level, side = _levels(readings, ["lel"])
    runs = extract_events(readings, level, side, min_level=2)
    assert runs.samples.tolist() == [2]
    assert runs.end_ts.tolist() == [2 * SECOND]


def test_repeated_peak_reports_the_first_time() -> None:
    readings = _batch([60, 70, 70, 60])
    level, side = _levels(readings, ["lel"])
    runs = extract_events(readings, level, side, min_level=2)
    assert runs.peak_ts.tolist() == [SECOND]


def test_no_runs() -> None:
    readings = _batch([1, 2, 3])
    level, side = _levels(readings, ["lel"])
    assert len(extract_events(readings, level, side, min_level=1)) == 0
    assert len(extract_events(Readings.empty(), level[:0], side[:0], min_level=1)) == 0


def _batch_events(readings: Readings, quantities: list[str], min_level: int) -> list[Event]:
    level, side = _levels(readings, quantities)
    runs = extract_events(readings, level, side, min_level)
    events = [
        Event(
            channel=int(runs.channel[row]),
            start_ts=int(runs.start_ts[row]),
            end_ts=int(runs.end_ts[row]),
            peak=float(runs.peak[row]),
            peak_ts=int(runs.peak_ts[row]),
            max_level=int(runs.max_level[row]),
            side=int(runs.side[row]),
            samples=int(runs.samples[row]),
        )
        for row in range(len(runs))
    ]
    return sorted(events, key=lambda event: (event.start_ts, event.channel))


def _streamed_events(
    readings: Readings, quantities: list[str], min_level: int, cuts: list[int]
) -> list[Event]:
    tracker = EventTracker(min_level=min_level)
    events: list[Event] = []
    bounds = [0, *sorted(set(cuts)), len(readings)]
    for start, end in itertools.pairwise(bounds):
        chunk = readings.take(np.arange(start, end))
        level, side = _levels(chunk, quantities)
        closed, _opened = tracker.update(chunk, level, side)
        events.extend(closed)
    events.extend(tracker.flush())
    return sorted(events, key=lambda event: (event.start_ts, event.channel))


# Values chosen around the set points of both an upper (lel) and a band (o2) rule.
_values = st.one_of(
    st.sampled_from([0.0, 24.9, 25.0, 49.9, 50.0, 80.0, 18.0, 19.5, 20.9, 24.0]),
    st.just(float("nan")),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 2), _values), min_size=0, max_size=80),
    cuts=st.lists(st.integers(0, 80), max_size=8),
    min_level=st.sampled_from([1, 2]),
)
def test_streaming_equals_batch_for_any_chunking(
    data: list[tuple[int, float]], cuts: list[int], min_level: int
) -> None:
    # Rows in time order (as a poll loop delivers them), channels interleaved.
    readings = Readings.from_columns(
        ts=[number * SECOND for number in range(len(data))],
        channel=[channel for channel, _ in data],
        value=[value for _, value in data],
    )
    quantities = ["lel", "o2", "lel"]
    cuts = [cut for cut in cuts if cut <= len(data)]
    assert _streamed_events(readings, quantities, min_level, cuts) == _batch_events(
        readings, quantities, min_level
    )
