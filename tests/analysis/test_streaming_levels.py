"""Streaming = batch for the live path's levels, events and figures (issue 11).

The live pipeline feeds its :class:`StreamingEvaluator` whatever each poll delivers;
the split into batches must not change a reading's level (hysteresis, minimum duration
and latching carry across batches), the events, or the figures the live view shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.analysis.alarms import alarm_levels
from hazmon.analysis.evaluate import (
    ChannelPlan,
    EvaluationSettings,
    StreamingEvaluator,
    evaluate,
)
from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.analysis.sampling import channel_time_order
from hazmon.config.standards import SiteLimits, effective_limit_rows, rules_by_quantity

S = 1_000_000_000
T0 = 1_772_380_800 * S
QUANTITIES = ("lel", "co", "o2", "noise")
UNITS = {"lel": "%LEL", "co": "ppm", "o2": "%vol", "noise": "dB(A)"}
#: Values that wander across every set point of each quantity.
BASE = {"lel": (40.0, 15.0), "co": (30.0, 15.0), "o2": (20.0, 1.5), "noise": (85.0, 8.0)}
SITE = SiteLimits(
    alarm_hysteresis={"lel": 4.0, "co": 3.0, "o2": 0.5},
    alarm_min_seconds={"co": 5.0, "lel": 2.0},
    alarm_latching={"lel": ["A2"], "o2": ["A1"]},
)


def _plan() -> ChannelPlan:
    table = ChannelTable(
        [Channel("s", f"d{n}", q, UNITS[q], name=q) for n, q in enumerate(QUANTITIES)]
    )
    return ChannelPlan.build(
        table,
        effective_limit_rows(SITE),
        rules_by_quantity(("gbt50493-2019",), SITE),
        EvaluationSettings.from_site(SITE),
    )


@st.composite
def streams(draw: st.DrawFn) -> tuple[Readings, list[int]]:
    seed = draw(st.integers(0, 2**32 - 1))
    count = draw(st.integers(1, 300))
    rng = np.random.default_rng(seed)
    channel = rng.integers(0, len(QUANTITIES), count).astype(np.int32)
    step = rng.choice([0, 1, 2, 7, 45, 400], count, p=[0.05, 0.4, 0.2, 0.2, 0.1, 0.05])
    ts = T0 + np.cumsum(step).astype(np.int64) * S
    centre = np.array([BASE[q][0] for q in QUANTITIES])[channel]
    spread = np.array([BASE[q][1] for q in QUANTITIES])[channel]
    value = centre + rng.normal(0, 1, count) * spread
    value[rng.random(count) < 0.05] = np.nan
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=10)))
    return Readings.from_columns(ts, channel, value), cuts


def _event_key(event: Event) -> tuple[object, ...]:
    return (
        event.channel,
        event.start_ts,
        event.end_ts,
        event.peak,
        event.max_level,
        event.side,
        event.samples,
    )


def _feed(
    plan: ChannelPlan,
    readings: Readings,
    cuts: list[int],
    ack_at: set[int],
    flush: tuple[int, float] = (1, 0.0),
) -> tuple[np.ndarray, list[Event], StreamingEvaluator]:
    evaluator = StreamingEvaluator(plan, flush_rows=flush[0], flush_s=flush[1])
    levels, events = [], []
    for number, part in enumerate(np.split(np.arange(len(readings)), cuts)):
        if number in ack_at:
            evaluator.acknowledge(0)
        levels.append(evaluator.update(readings.take(part)).level)
        events.extend(evaluator.take_events())
    return np.concatenate(levels), events, evaluator


@settings(max_examples=60, deadline=None)
@given(
    streams(),
    st.tuples(st.sampled_from([1, 5, 40, 100_000]), st.sampled_from([0.0, 3.0, 60.0, 1e9])),
)
def test_any_batch_split_gives_the_levels_events_and_figures_of_one_batch(
    stream: tuple[Readings, list[int]], flush: tuple[int, float]
) -> None:
    readings, cuts = stream
    plan = _plan()
    # Noise has no set points here: judged reading by reading; the others carry state.
    assert plan.stateful.tolist() == [True, True, True, False]
    # Chunks accounted as they come or gathered first (as the live pipeline does).
    level, events, split = _feed(plan, readings, cuts, set(), flush)
    whole_level, whole_events, whole = _feed(plan, readings, [], set())
    np.testing.assert_array_equal(level, whole_level)
    # … and those of the state machine run over the whole record on every channel
    # (the evaluator skips channels whose state cannot change: same levels).
    order = channel_time_order(readings.ts, readings.channel)
    assert plan.policy is not None
    reference = alarm_levels(
        readings.ts[order], readings.channel[order], readings.value[order], plan.policy
    ).level
    reference[np.isnan(readings.value[order])] = 0
    np.testing.assert_array_equal(whole_level[order], reference)
    # The figures the live view shows, before the stream ends.
    one, other = split.snapshot(), whole.snapshot()
    np.testing.assert_array_equal(one.level, other.level)
    assert one.results.keys() == other.results.keys()
    for number, result in one.results.items():
        for key, value in result.metrics.items():
            assert other.results[number].metrics[key] == pytest.approx(
                value, rel=1e-9, abs=1e-9, nan_ok=True
            ), key
    # The events, and everything ``evaluate`` (``hazmon analyze``) reports at the end.
    split_results, whole_results = split.finish(), whole.finish()
    events += split.take_events()
    whole_events += whole.take_events()
    assert sorted(map(_event_key, events)) == sorted(map(_event_key, whole_events))
    batch = evaluate(readings, plan, slice_rows=None)
    batch_events = sorted(
        (record.event for result in batch for record in result.events),
        key=lambda event: (event.start_ts, event.channel),
    )
    assert sorted(map(_event_key, batch_events)) == sorted(map(_event_key, events))
    for mine, theirs in zip(split_results, batch, strict=True):
        assert mine.channel == theirs.channel
        for key, value in theirs.metrics.items():
            assert mine.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True)
    del whole_results


def test_a_latched_alarm_clears_only_after_acknowledgement_while_clear() -> None:
    plan = _plan()
    evaluator = StreamingEvaluator(plan)
    # lel: A2 at 50 %LEL latches; 4 %LEL hysteresis; 2 s minimum duration.
    values = [60.0, 60.0, 60.0, 10.0, 10.0, 10.0]
    ts = T0 + np.arange(6, dtype=np.int64) * S
    shown = [
        int(evaluator.update(Readings.from_columns([t], [0], [v])).level[0])
        for t, v in zip(ts[:5], values[:5], strict=True)
    ]
    # Every level waits the 2 s minimum (third reading); A2 still shows after the gas
    # is gone: it latched.
    assert shown == [0, 0, 2, 2, 2]
    evaluator.acknowledge(0)
    assert evaluator.update(Readings.from_columns([ts[5]], [0], [10.0])).level[0] == 0


def test_a_reading_older_than_the_channels_last_is_not_evaluated() -> None:
    plan = _plan()
    evaluator = StreamingEvaluator(plan)
    evaluator.update(Readings.from_columns([T0 + 10 * S], [1], [5.0]))
    late = evaluator.update(Readings.from_columns([T0 + 5 * S, T0 + 11 * S], [1, 1], [5.0, 5.0]))
    assert late.accepted.tolist() == [False, True]
    (result,) = evaluator.finish()
    assert result.metrics["readings"] == 2
