"""Sensor checks and the vectorised alarm state, on hand-built arrays."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.analysis.alarms import AlarmPolicy, alarm_levels
from hazmon.analysis.checks import (
    negative_drift,
    out_of_range,
    spikes,
    stuck,
)
from hazmon.analysis.limits import LimitTable
from hazmon.config.quality import Quality
from hazmon.config.standards import rules_by_quantity

S = 1_000_000_000
RULES = rules_by_quantity(("gbt50493-2019",))


def test_stuck_line_flags_only_long_unchanged_runs() -> None:
    # Channel 0: 5.0 for 0–20 min (21 readings a minute apart), then moving; channel 1
    # repeats for only 3 minutes. A 10-minute minimum flags channel 0's run alone.
    ts = np.r_[np.arange(25), np.arange(4)].astype(np.int64) * 60 * S
    channel = np.r_[np.zeros(25), np.ones(4)].astype(np.int32)
    value = np.r_[[5.0] * 21, [5.1, 5.3, 5.2, 5.4], [2.0] * 4]
    flags = stuck(ts, channel, value, 10 * 60 * S)
    assert (flags[:21] == Quality.STALE).all()
    assert (flags[21:] == 0).all()


def test_spike_found_by_median_filter_residual_per_channel() -> None:
    rng = np.random.default_rng(3)
    value = np.r_[20.0 + rng.normal(0, 0.1, 50), 5.0 + rng.normal(0, 0.1, 50)]
    value[25] = 60.0  # a spike on channel 0
    channel = np.r_[np.zeros(50), np.ones(50)].astype(np.int32)
    flags = spikes(channel, value)
    assert np.flatnonzero(flags).tolist() == [25]
    assert flags[25] == Quality.SENSOR_FAULT


def test_range_and_negative_drift() -> None:
    value = np.array([-1.0, 50.0, 1200.0, -0.2])
    range_flags = out_of_range(value, np.array(0.0), np.array(1000.0))
    assert range_flags.tolist() == [Quality.UNDER_RANGE, 0, Quality.OVER_RANGE, Quality.UNDER_RANGE]
    assert negative_drift(value, 0.5).tolist() == [Quality.SENSOR_FAULT, 0, 0, 0]


def _policy(quantity: str, **kw: object) -> AlarmPolicy:
    return AlarmPolicy.from_limits(LimitTable.build([quantity], RULES), **kw)  # type: ignore[arg-type]


def test_hysteresis_holds_the_alarm_until_the_value_falls_below_the_band() -> None:
    # CO-free example on %LEL without latching: A1 25 with 2 %LEL hysteresis.
    policy = _policy("lel", hysteresis=2.0, latching={})
    value = np.array([20.0, 25.0, 24.0, 23.5, 22.9, 26.0])
    level = alarm_levels(
        np.arange(6, dtype=np.int64) * S, np.zeros(6, np.int32), value, policy
    ).level
    # Raised at 25, held at 24 and 23.5 (within 25 − 2), cleared below 23.
    assert level.tolist() == [0, 1, 1, 1, 0, 1]


def test_minimum_duration_delays_the_alarm() -> None:
    policy = _policy("lel", min_duration_ns=3 * S, latching={})
    value = np.array([30.0, 30.0, 30.0, 30.0, 10.0, 30.0, 30.0])
    level = alarm_levels(
        np.arange(7, dtype=np.int64) * S, np.zeros(7, np.int32), value, policy
    ).level
    # Condition from t = 0; raised once it has held 3 s (t = 3); a 2-second burst is not.
    assert level.tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_combustible_a2_latches_until_acknowledged_after_clearing() -> None:
    policy = _policy("lel")  # default: lel A2 latches, A1 does not
    value = np.array([60.0, 60.0, 10.0, 10.0, 10.0, 60.0, 10.0, 10.0])
    ack = np.array([False, True, False, False, False, False, False, True])
    level = alarm_levels(
        np.arange(8, dtype=np.int64) * S, np.zeros(8, np.int32), value, policy, ack
    ).level
    # First alarm acknowledged while active: clears with the condition (t = 2).
    # Second alarm (t = 5) unacknowledged: stays A2 after the gas clears until t = 7.
    assert level.tolist() == [2, 2, 0, 0, 0, 2, 2, 0]


def test_oxygen_low_and_high_on_many_channels_at_once() -> None:
    policy = AlarmPolicy.from_limits(LimitTable.build(["o2", "o2"], RULES))
    channel = np.array([0, 0, 0, 1, 1, 1], np.int32)
    value = np.array([20.9, 19.0, 20.9, 20.9, 24.0, 20.9])
    level = alarm_levels(np.array([0, 1, 2, 0, 1, 2], np.int64) * S, channel, value, policy).level
    assert level.tolist() == [0, 2, 0, 0, 2, 0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 80), min_size=1, max_size=60),
    st.lists(st.booleans(), min_size=60, max_size=60),
    st.lists(st.integers(0, 60), max_size=5),
)
def test_alarm_state_in_chunks_equals_one_pass(
    values: list[float], acks: list[bool], cuts: list[int]
) -> None:
    count = len(values)
    channel = (np.arange(count) % 2).astype(np.int32)
    ts = np.arange(count, dtype=np.int64) * S
    order = np.lexsort((ts, channel))
    ts, channel = ts[order], channel[order]
    value = np.asarray(values)[order]
    ack = np.asarray(acks[:count])[order]
    policy = AlarmPolicy.from_limits(
        LimitTable.build(["lel", "lel"], RULES), hysteresis=3.0, min_duration_ns=2 * S
    )
    whole = alarm_levels(ts, channel, value, policy, ack).level
    # Chunks in time order: split each channel's stream at the same instants.
    carry = None
    pieces = []
    bounds = sorted({0, count, *[min(cut, count) for cut in cuts]})
    for begin, end in itertools.pairwise(bounds):
        rows = np.flatnonzero((ts >= begin * S) & (ts < end * S))
        state = alarm_levels(ts[rows], channel[rows], value[rows], policy, ack[rows], carry)
        level, carry = state.level, state.carry
        pieces.append((rows, level))
    streamed = np.zeros(count, np.uint8)
    for rows, level in pieces:
        streamed[rows] = level
    assert streamed.tolist() == whole.tolist()
