"""Vectorised limit evaluation against a per-reading Python loop (the naive baseline).

Run: ``.venv/bin/python benchmarks/bench_limits.py``. Prints readings per second of
both and their ratio, measured in the same run on the same data.
"""

from __future__ import annotations

import math
import time

import numpy as np

from hazmon.analysis.limits import LimitTable, evaluate_levels
from hazmon.config.standards import LimitRule, rules_by_quantity

QUANTITIES = ["lel", "o2", "co", "h2s"] * 250  # 1000 channels
READINGS = 1_000_000


def naive_levels(
    value: np.ndarray, channel: np.ndarray, rules: list[LimitRule | None]
) -> list[int]:
    """What one would write first: a loop per reading over its rule's set points."""
    levels = []
    for reading, number in zip(value.tolist(), channel.tolist(), strict=True):
        rule = rules[number]
        level = 0
        if rule is not None and not math.isnan(reading):
            for point in rule.set_points:
                hit = (
                    reading >= point.value if point.direction == "above" else reading < point.value
                )
                if hit and point.level > level:
                    level = point.level
        levels.append(level)
    return levels


def best_of(repeats: int, function: object, *args: object) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args)  # type: ignore[operator]
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    rng = np.random.default_rng(1)
    rules = rules_by_quantity(("gbt50493-2019",))
    table = LimitTable.build(QUANTITIES, rules)
    channel = rng.integers(0, len(QUANTITIES), READINGS).astype(np.int32)
    value = rng.uniform(0, 80, READINGS)
    vectorised, _ = evaluate_levels(value, channel, table)
    assert vectorised.tolist() == naive_levels(value, channel, list(table.rules))
    fast = best_of(5, evaluate_levels, value, channel, table)
    slow = best_of(1, naive_levels, value, channel, list(table.rules))
    print(f"readings: {READINGS:,} on {len(QUANTITIES):,} channels")
    print(f"vectorised evaluate_levels: {READINGS / fast:,.0f} readings/s")
    print(f"naive per-reading loop:     {READINGS / slow:,.0f} readings/s")
    print(f"ratio (vectorised / naive): {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
