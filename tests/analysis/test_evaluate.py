"""Sample-and-hold, minute bins and the full evaluation: worked examples and the
streaming-equals-batch property.

Worked examples are computed by hand in the comments from the formulas in
docs/standards.md (GBZ 2.1-2019 TWA and STEL; GBZ 2.2-2007 L_EX,8h; GB/T 50493-2019
§5.5.2 set points).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.analysis.evaluate import (
    ChannelPlan,
    ChannelResult,
    EvaluationSettings,
    StreamingEvaluator,
    evaluate,
)
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.analysis.sampling import hold_durations, minute_bins, neighbour_times
from hazmon.config.standards import SiteLimits, effective_limit_rows, rules_by_quantity

S = 1_000_000_000
MINUTE = 60 * S
#: 2026-03-02 00:00 CST (16:00 UTC the day before): days start at local midnight.
T0 = 1_772_380_800 * S
RULES = rules_by_quantity(("gbt50493-2019",))


def _plan(quantities: list[str], site: SiteLimits | None = None, **kw: object) -> ChannelPlan:
    table = ChannelTable([Channel("", f"d{n}", q, _unit(q)) for n, q in enumerate(quantities)])
    settings = EvaluationSettings.from_site(site or SiteLimits(), **kw)
    return ChannelPlan.build(table, effective_limit_rows(site), RULES, settings)


def _unit(quantity: str) -> str:
    return {
        "lel": "%LEL",
        "o2": "%vol",
        "noise": "dB(A)",
        "noise_peak": "dB(C)",
        "dust_total": "mg/m³",
        "wbgt": "°C",
        "insulation_resistance": "MΩ",
        "surface_temperature": "°C",
    }.get(quantity, "ppm")


def _minutely(values: list[float], channel: int = 0, start: int = T0) -> Readings:
    return Readings.from_columns(
        [start + number * MINUTE for number in range(len(values))], [channel] * len(values), values
    )


def test_hold_until_next_reading_capped_at_max_gap() -> None:
    # Readings at 0, 10, 400, 410 s with a 60 s maximum gap: holds 10, 60 (of 390; 330
    # missing), 10 and, for the last, the interval before it (10 s).
    ts = np.array([0, 10, 400, 410], np.int64) * S
    channel = np.zeros(4, np.int32)
    previous, following = neighbour_times(ts, channel)
    hold, missing = hold_durations(ts, previous, following, 60 * S)
    assert (hold // S).tolist() == [10, 60, 10, 10]
    assert (missing // S).tolist() == [0, 330, 0, 0]


def test_minute_bins_cut_held_values_at_minute_boundaries() -> None:
    # 10 ppm at 0:30 held 60 s → 30 s in minute 0 and 30 s in minute 1; 20 ppm at 1:30
    # held 30 s. Minute 0: ∫ = 300 ppm·s over 30 s; minute 1: 300 + 600 = 900 over 60 s.
    ts = np.array([30, 90], np.int64) * S
    bins = minute_bins(ts, np.zeros(2, np.int32), np.array([10.0, 20.0]), np.array([60, 30]) * S)
    assert bins.minute.tolist() == [0, 1]
    assert bins.integral.tolist() == [300.0, 900.0]
    assert bins.covered.tolist() == [30.0, 60.0]
    assert bins.count.tolist() == [1, 1]
    assert bins.maximum.tolist() == [10.0, 20.0]
    assert bins.mean.tolist() == [10.0, 15.0]


def test_co_stel_twa_and_verdicts_worked_example() -> None:
    # One CO reading a minute for 8 h: 15 minutes at 60 ppm, then 0. Each reading holds
    # 60 s. STEL = 60 × 900 s / 900 s = 60 ppm; TWA = 60 × 900 / 28800 = 1.875 ppm.
    # GBZ 2.1-2019 CO PC-STEL 30 mg/m³ = 30 × 24.055 / 28.010 = 25.76 ppm → fails;
    # PC-TWA 20 mg/m³ = 17.18 ppm → passes.
    values = [60.0] * 15 + [0.0] * 465
    (result,) = evaluate(_minutely(values), _plan(["co"]))
    assert result.metrics["stel_max"] == pytest.approx(60.0)
    assert result.metrics["twa_8h"] == pytest.approx(1.875)
    assert result.metrics["max"] == 60.0
    verdicts = {verdict.rule: verdict for verdict in result.verdicts}
    assert verdicts["gbz2.1.co.pc_stel"].limit == pytest.approx(30 * 24.0548 / 28.010, rel=1e-4)
    assert not verdicts["gbz2.1.co.pc_stel"].passed
    assert verdicts["gbz2.1.co.pc_twa"].passed
    assert verdicts["gbz2.1.co.pc_twa"].clause == "GBZ 2.1-2019 Table 1"


def test_short_exposure_still_divided_by_fifteen_minutes() -> None:
    # 5 minutes at 90 ppm CO, then silence (the detector off): STEL = 90 × 300 / 900 = 30.
    (result,) = evaluate(_minutely([90.0] * 5), _plan(["co"]))
    assert result.metrics["stel_max"] == pytest.approx(30.0)


def test_noise_lex_8h_from_a_datalog() -> None:
    # 4 h at 91 dB(A) logged each minute: L_Aeq = 91; L_EX,8h = 91 + 10 lg(4/8) = 87.99
    # → fails 85 dB(A).
    (result,) = evaluate(_minutely([91.0] * 240), _plan(["noise"]))
    assert result.metrics["laeq"] == pytest.approx(91.0)
    assert result.metrics["lex_8h"] == pytest.approx(91 + 10 * math.log10(0.5))
    assert "mean" not in result.metrics
    assert "twa_8h" not in result.metrics
    (verdict,) = result.verdicts
    assert verdict.rule == "gbz2.2.noise.lex_8h"
    assert not verdict.passed


def test_lel_event_with_dose_above_the_a2_set_point() -> None:
    # %LEL each minute: 10, 60, 70, 10. A1 = 25, A2 = 50 %LEL (GB/T 50493-2019
    # §5.5.2 items 1, 2): one event (it starts at A1, reaches A2) from minute 1 to 2,
    # peak 70, dose above A1 (60 − 25)·60 + (70 − 25)·60 = 4800 %LEL·s.
    (result,) = evaluate(_minutely([10.0, 60.0, 70.0, 10.0]), _plan(["lel"]))
    (record,) = result.events
    assert record.event.start_ts == T0 + MINUTE
    assert record.event.duration_s == 60.0
    assert record.event.peak == 70.0
    assert record.event.dose == pytest.approx(4800.0)
    assert record.event.max_level == 2
    assert record.hazard
    assert record.rule == "gbt50493.combustible"
    assert record.clause == "GB/T 50493-2019 §5.5.2(2)"
    assert record.limit == 25.0


def test_gaps_are_reported_not_filled() -> None:
    # Readings at 0 and 20 min with a 5-minute maximum gap: 15 min missing.
    readings = Readings.from_columns([T0, T0 + 20 * MINUTE], [0, 0], [5.0, 5.0])
    (result,) = evaluate(readings, _plan(["co"]))
    assert result.metrics["gaps"] == 1
    assert result.metrics["missing_s"] == 15 * 60.0


def test_dust_excursion_verdicts() -> None:
    # Dust PC-TWA 8 mg/m³ (no PC-STEL): 5 excursions of 2 min at 30 (> 3 × 8), 70 min
    # apart, in one day: count 5 > 4 fails; duration 2 ≤ 15 and spacing 68 ≥ 60 pass.
    values: list[float] = []
    for _ in range(5):
        values += [30.0, 30.0] + [1.0] * 68
    (result,) = evaluate(_minutely(values), _plan(["dust_total"]))
    verdicts = {verdict.rule: verdict for verdict in result.verdicts}
    assert result.metrics["excursions_day_max"] == 5
    assert not verdicts["gbz2.1.excursion.count"].passed
    assert verdicts["gbz2.1.excursion.duration"].passed
    assert verdicts["gbz2.1.excursion.spacing"].value == 68.0
    assert verdicts["gbz2.1.excursion.cap"].passed  # 30 ≤ 5 × 8


def test_wbgt_and_temperature_class_need_the_site() -> None:
    site = SiteLimits(labour_intensity="III", exposure_rate=50, temperature_class="T4")
    plan = _plan(["wbgt", "surface_temperature"], site)
    readings = Readings.concat([_minutely([30.0] * 10, 0), _minutely([140.0] * 10, 1)])
    wbgt, surface = evaluate(readings, plan)
    # WBGT limit for intensity III at 50 %: 29 °C; mean 30 fails.
    assert [(v.rule, v.limit, v.passed) for v in wbgt.verdicts] == [
        ("gbz2.2.wbgt.50.iii", 29.0, False)
    ]
    # T4: 135 °C maximum surface temperature; 140 fails.
    assert [(v.rule, v.passed) for v in surface.verdicts] == [("ex.temperature_class.t4", False)]
    no_site = evaluate(readings, _plan(["wbgt", "surface_temperature"]))
    assert all(not result.verdicts for result in no_site)


def test_impulse_verdict_by_daily_count() -> None:
    # 150 impulses in a shift (each a peak of 125 rising out of a 90 dB(C) background,
    # the last one 135): 150 > 100 impulses allows 130 → 135 fails.
    values = [90.0, 125.0] * 149 + [90.0, 135.0]
    (result,) = evaluate(_minutely(values), _plan(["noise_peak"]))
    (verdict,) = result.verdicts
    assert result.metrics["impulses_day_max"] == 150
    assert (verdict.rule, verdict.limit, verdict.value, verdict.passed) == (
        "gbz2.2.impulse.1000",
        130.0,
        135.0,
        False,
    )


def test_wall_thickness_against_the_site_minimum() -> None:
    site = SiteLimits.model_validate(
        {
            "rows": [
                {
                    "id": "v101",
                    "kind": "required_thickness",
                    "quantity": "wall_thickness",
                    "device": "d0",
                    "value": 8.2,
                    "unit": "mm",
                    "clause": "design minimum",
                    "confirmed": "confirmed",
                }
            ]
        }
    )
    (result,) = evaluate(_minutely([9.0, 8.1, 8.5]), _plan(["wall_thickness"], site))
    (verdict,) = [v for v in result.verdicts if v.rule == "v101"]
    assert (verdict.value, verdict.limit, verdict.passed) == (8.1, 8.2, False)


# -- streaming equals batch --------------------------------------------------------------

QUANTITIES = ["co", "lel", "o2", "noise", "dust_total", "noise_peak", "h2s"]
BASE = {
    "co": 20.0,
    "lel": 40.0,
    "o2": 20.0,
    "noise": 88.0,
    "dust_total": 22.0,
    "noise_peak": 125.0,
    "h2s": 8.0,
}


@st.composite
def streams(draw: st.DrawFn) -> tuple[Readings, list[int]]:
    seed = draw(st.integers(0, 2**32 - 1))
    count = draw(st.integers(1, 400))
    rng = np.random.default_rng(seed)
    channel = rng.integers(0, len(QUANTITIES), count).astype(np.int32)
    # Irregular times over up to 30 hours (crossing a local midnight), some long gaps.
    step = rng.choice([1, 7, 45, 200, 900], count, p=[0.2, 0.3, 0.3, 0.15, 0.05])
    ts = T0 + 20 * 3600 * S + np.cumsum(step).astype(np.int64) * S
    base = np.array([BASE[q] for q in QUANTITIES])[channel]
    value = base + rng.normal(0, 1, count) * base * 0.5
    value[rng.random(count) < 0.05] = np.nan
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=8)))
    return Readings.from_columns(ts, channel, value), cuts


def _same(batch: list[ChannelResult], streamed: list[ChannelResult]) -> None:
    assert [r.channel for r in batch] == [r.channel for r in streamed]
    for one, other in zip(batch, streamed, strict=True):
        assert one.metrics.keys() == other.metrics.keys()
        for key, value in one.metrics.items():
            assert other.metrics[key] == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True), key
        assert [(v.rule, v.passed) for v in one.verdicts] == [
            (v.rule, v.passed) for v in other.verdicts
        ]
        for a, b in zip(one.events, other.events, strict=True):
            assert (a.event.start_ts, a.event.end_ts, a.event.peak, a.event.samples) == (
                b.event.start_ts,
                b.event.end_ts,
                b.event.peak,
                b.event.samples,
            )
            assert a.event.dose == pytest.approx(b.event.dose, rel=1e-9, abs=1e-9)
        assert len(one.events) == len(other.events)


@settings(max_examples=60, deadline=None)
@given(streams())
def test_streaming_over_any_chunking_equals_batch(stream: tuple[Readings, list[int]]) -> None:
    readings, cuts = stream
    plan = _plan(QUANTITIES, max_gap_s=300.0)
    batch = evaluate(readings, plan, slice_rows=None)
    evaluator = StreamingEvaluator(plan)
    for part in np.split(np.arange(len(readings)), cuts):
        evaluator.update(readings.take(part))
    _same(batch, evaluator.finish())
    # evaluate's own slicing of a long record (channel-major slices) agrees too.
    _same(batch, evaluate(readings, plan, slice_rows=37))


def test_streaming_state_is_bounded_by_the_moving_window() -> None:
    # Two days of one reading a second on 3 channels in 10-minute chunks: the state
    # keeps at most 480 minute bins a channel (the moving 8-hour window), never raw data.
    plan = _plan(["co", "noise", "dust_total"])
    evaluator = StreamingEvaluator(plan)
    for start in range(0, 4 * 3600, 600):
        ts = T0 + (start + np.arange(600)) * S
        chunk = Readings.from_columns(
            np.repeat(ts, 3), np.tile(np.arange(3), 600), np.tile([5.0, 80.0, 2.0], 600)
        )
        evaluator.update(chunk)
    per_channel = evaluator.state_bytes_per_channel()
    assert per_channel < 480 * 48 + 2000
