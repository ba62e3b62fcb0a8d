"""Instantaneous multi-level limits on hand-built arrays."""

from __future__ import annotations

import numpy as np
import pytest

from hazmon.analysis.limits import LimitTable, evaluate_levels
from hazmon.config.standards import LimitRule, SetPoint, rules_by_quantity

RULES = rules_by_quantity(("gbt50493-2019",))


def test_combustible_levels_at_and_above_each_set_point() -> None:
    table = LimitTable.build(["lel"], RULES)
    value = np.array([0.0, 24.9, 25.0, 49.99, 50.0, 100.0])
    level, side = evaluate_levels(value, np.zeros(6, dtype=np.int32), table)
    assert level.tolist() == [0, 0, 1, 1, 2, 2]
    assert side.tolist() == [0, 0, 1, 1, 1, 1]


def test_oxygen_band_low_and_high() -> None:
    table = LimitTable.build(["o2"], RULES)
    value = np.array([19.4, 19.5, 20.9, 23.49, 23.5, 25.0])
    level, side = evaluate_levels(value, np.zeros(6, dtype=np.int32), table)
    # Deficiency is strictly below 19.5 %vol; enrichment at or above 23.5 %vol.
    assert level.tolist() == [2, 0, 0, 0, 2, 2]
    assert side.tolist() == [-1, 0, 0, 0, 1, 1]


def test_many_channels_in_one_call_each_judged_by_its_own_rule() -> None:
    quantities = ["lel", "o2", "co", "h2s", "noise"]
    table = LimitTable.build(quantities, RULES)
    channel = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4], dtype=np.int32)
    co_a2 = RULES["co"].set_points[1].value
    h2s_a1 = RULES["h2s"].set_points[0].value
    value = np.array([60.0, 18.0, co_a2, h2s_a1, 120.0, 1.0, 20.9, 1.0, 0.0, 50.0])
    level, _side = evaluate_levels(value, channel, table)
    # noise has no rule in this table: never above normal.
    assert level.tolist() == [2, 2, 2, 1, 0, 0, 0, 0, 0, 0]


def test_nan_value_is_normal_level_and_leaves_quality_to_say_why() -> None:
    table = LimitTable.build(["lel"], RULES)
    level, side = evaluate_levels(np.array([np.nan]), np.zeros(1, dtype=np.int32), table)
    assert level.tolist() == [0]
    assert side.tolist() == [0]


def test_toxic_set_points_are_oel_multiples_converted_at_20_degrees() -> None:
    # H2S MAC 10 mg/m³ (GBZ 2.1-2019) -> ppm at 20 °C, 101.325 kPa: 10 × 24.055 / 34.081.
    a1, a2 = (point.value for point in RULES["h2s"].set_points)
    assert a1 == pytest.approx(10 * 24.0548 / 34.081, rel=1e-4)
    assert a2 == pytest.approx(2 * a1)


def test_empty_batch() -> None:
    table = LimitTable.build(["lel"], RULES)
    level, side = evaluate_levels(np.empty(0), np.empty(0, dtype=np.int32), table)
    assert len(level) == 0
    assert len(side) == 0


def test_highest_level_wins_when_set_points_are_unordered() -> None:
    rule = LimitRule(
        id="test.unordered",
        quantity="co",
        unit="ppm",
        standard="test",
        clause="1",
        confirmed="unconfirmed",
        set_points=(SetPoint(3, "above", 100.0), SetPoint(1, "above", 10.0)),
    )
    table = LimitTable.build(["co"], {"co": rule})
    level, _ = evaluate_levels(np.array([5.0, 10.0, 150.0]), np.zeros(3, dtype=np.int32), table)
    assert level.tolist() == [0, 1, 3]
