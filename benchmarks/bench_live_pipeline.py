"""The live path's evaluation per poll: the shared streaming evaluator against the old path.

Run: ``.venv/bin/python benchmarks/bench_live_pipeline.py``. A site of 20 meters of 10
channels (gas, oxygen, combustible with the default A2 latch, noise) is polled once a
second for an hour, one batch per meter per poll, as the service feeds the pipeline.
Measured in the same run on the same batches:

* old: what ``Pipeline.process`` did before issue 11 — ``evaluate_levels`` (no
  hysteresis or latching), ``LevelTracker``, its own ``EventTracker`` — without the live
  view's exposure (then a Python loop per reading in ``ExposureSoFar``, now gone);
* new: ``StreamingEvaluator.update`` (levels with hysteresis, minimum duration and
  latching, events, minute bins, TWA, STEL, L_EX) + ``LevelTracker`` + ``take_events``,
  gathering chunks as the pipeline does (``ACCOUNT_EVERY_S``), and accounting every
  chunk at once;
* the live view's ``snapshot()`` (once a poll; the screen reuses it until the next).

Prints milliseconds per poll (all 20 meters) of each and the ratios new / old.
"""

from __future__ import annotations

import time

import numpy as np

from hazmon.acquisition.pipeline import ACCOUNT_EVERY_S, ACCOUNT_ROWS
from hazmon.analysis.alarms import LevelTracker
from hazmon.analysis.evaluate import ChannelPlan, EvaluationSettings, StreamingEvaluator
from hazmon.analysis.events import EventTracker
from hazmon.analysis.limits import ALARM, evaluate_levels
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import SiteLimits, effective_limit_rows, rules_by_quantity

S = 1_000_000_000
T0 = 1_772_413_200 * S
QUANTITIES = ["co", "h2s", "o2", "lel", "noise"] * 40  # 200 channels
CENTRE = {"co": 5.0, "h2s": 1.0, "o2": 20.9, "lel": 5.0, "noise": 80.0}
POLLS = 3600
METERS = 20


def _batches() -> list[Readings]:
    """Readings 2 % around each quantity's usual value; 10 channels (two of each
    quantity) read 10 times that for 10 minutes of the hour: a few excursions (CO,
    H2S and LEL past A2; oxygen enrichment), as on a working site."""
    rng = np.random.default_rng(7)
    centre = np.array([CENTRE[q] for q in QUANTITIES])
    channel = np.arange(len(QUANTITIES), dtype=np.int32)
    batches = []
    for poll in range(POLLS):
        value = centre * (1.0 + 0.02 * rng.standard_normal(len(channel)))
        if 600 <= poll < 1200:
            value[:10] *= 10.0
        ts = np.full(len(channel), T0 + poll * S, np.int64)
        for meter in np.array_split(np.arange(len(channel)), METERS):
            batches.append(Readings.from_columns(ts[meter], channel[meter], value[meter]))
    return batches


def main() -> None:
    site = SiteLimits()
    table = ChannelTable([Channel("s", f"d{n}", q, "") for n, q in enumerate(QUANTITIES)])
    rules = rules_by_quantity(("gbt50493-2019",), site)
    plan = ChannelPlan.build(
        table, effective_limit_rows(site), rules, EvaluationSettings.from_site(site)
    )
    batches = _batches()

    levels, events = LevelTracker(), EventTracker(min_level=ALARM)
    start = time.perf_counter()
    for batch in batches:
        level, side = evaluate_levels(batch.value, batch.channel, plan.limits)
        levels.update(batch, level)
        events.update(batch, level, side)
    old = (time.perf_counter() - start) / POLLS

    def shared(flush_rows: int, flush_s: float) -> tuple[float, StreamingEvaluator]:
        evaluator = StreamingEvaluator(plan, flush_rows=flush_rows, flush_s=flush_s)
        tracker = LevelTracker()
        start = time.perf_counter()
        for batch in batches:
            judged = evaluator.update(batch)
            tracker.update(batch, judged.level)
            evaluator.take_events()
        return (time.perf_counter() - start) / POLLS, evaluator

    new, evaluator = shared(ACCOUNT_ROWS, ACCOUNT_EVERY_S)
    every_chunk, _ = shared(1, 0.0)

    start = time.perf_counter()
    for _ in range(20):
        evaluator._snapshot = None  # as after a new poll
        evaluator.snapshot()
    snapshot = (time.perf_counter() - start) / 20

    print(f"{METERS} meters, {len(QUANTITIES)} channels, {POLLS} polls 1 s apart")
    print(f"old path (levels, transitions, events):     {old * 1e3:8.3f} ms/poll")
    print(f"shared evaluator, gathered {ACCOUNT_EVERY_S:.0f} s:         {new * 1e3:8.3f} ms/poll")
    print(f"shared evaluator, every chunk at once:      {every_chunk * 1e3:8.3f} ms/poll")
    print(f"ratio new / old: {new / old:.2f} (every chunk at once: {every_chunk / old:.2f})")
    print(f"live view snapshot after an hour:           {snapshot * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
