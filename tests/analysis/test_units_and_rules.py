"""Worked examples for the pure rule functions, each computed by hand here.

Sources of the formulas: docs/standards.md (quoting GBZ 2.1-2019, GBZ 2.2-2007,
GBZ/T 189.8-2007, JGJ 46-2005, GB/T 150 and API 510).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hazmon.analysis.exposure import excursion_runs, mixture_index, shift_twa, summarise_excursions
from hazmon.analysis.heat import wbgt_indoor, wbgt_limit_row, wbgt_outdoor
from hazmon.analysis.integrity import (
    at_least,
    at_most,
    corrosion_rate,
    current_time_product,
    effective_thickness,
    next_inspection_years,
    rcd_passes,
    remaining_life,
)
from hazmon.analysis.noise import allowed_impulse_peak, laeq, lex_8h, lex_40h, short_shift_limit
from hazmon.analysis.sampling import MinuteBins
from hazmon.analysis.units import REFERENCE_20C, REFERENCE_25C, mg_m3_to_ppm, ppm_to_mg_m3
from hazmon.config.standards import load_limit_rows

# -- units (STANDARDS.md "ppm ↔ mg/m³") ------------------------------------------------


def test_molar_volumes_of_the_two_offered_reference_states() -> None:
    # V_m = 22.414 × (273.15 + t)/273.15: 20 °C → 24.055, 25 °C → 24.465 L/mol
    # (STANDARDS.md rounds them to 24.06 and 24.45).
    assert REFERENCE_20C.molar_volume == pytest.approx(22.414 * 293.15 / 273.15)
    assert REFERENCE_20C.molar_volume == pytest.approx(24.06, abs=0.01)
    assert REFERENCE_25C.molar_volume == pytest.approx(24.45, abs=0.02)


def test_co_pc_twa_in_ppm_at_both_states_and_back() -> None:
    # CO PC-TWA 20 mg/m³, M = 28.010 g/mol: 20 × 24.055 / 28.010 = 17.176 ppm at 20 °C;
    # 20 × 24.465 / 28.010 = 17.469 ppm at 25 °C.
    assert float(mg_m3_to_ppm(20.0, 28.010)) == pytest.approx(17.176, abs=1e-3)
    assert float(mg_m3_to_ppm(20.0, 28.010, REFERENCE_25C)) == pytest.approx(17.469, abs=1e-3)
    back = ppm_to_mg_m3(mg_m3_to_ppm([20.0, 30.0], 28.010), 28.010)
    assert back.tolist() == pytest.approx([20.0, 30.0])


# -- GBZ 2.1-2019: TWA, excursions, mixtures -------------------------------------------


def test_shift_twa_sums_c_times_t_over_eight_hours_whatever_the_shift() -> None:
    # 2 h at 10 + 3 h at 20 + 3 h at 5 mg/m³: (20 + 60 + 15) / 8 = 11.875 mg/m³.
    hours = 3600.0
    assert float(shift_twa([10, 20, 5], [2 * hours, 3 * hours, 3 * hours])) == 11.875
    # A 4-hour shift at 20 mg/m³ is still divided by 8 h: 10 mg/m³.
    assert float(shift_twa([20.0], [4 * hours])) == 10.0
    # Many channels at once: one row per channel.
    twa = shift_twa([[10, 10], [40, 0]], [[4 * hours, 4 * hours]] * 2)
    assert twa.tolist() == [10.0, 20.0]


def _bins(minutes: list[int], means: list[float], channel: int = 0) -> MinuteBins:
    count = len(minutes)
    return MinuteBins(
        channel=np.full(count, channel, np.int32),
        minute=np.asarray(minutes, np.int64),
        integral=np.asarray(means) * 60.0,
        covered=np.full(count, 60.0),
        minimum=np.asarray(means, dtype=np.float64),
        maximum=np.asarray(means, dtype=np.float64),
        count=np.ones(count, np.int64),
    )


def test_excursions_count_duration_and_spacing() -> None:
    # Dust PC-TWA 8 mg/m³: excursions above 3 × 8 = 24. Minutes 0–4 at 30 (5 min),
    # 10–29 at 25 (20 min), 100 at 41: three runs, longest 20 min, closest spacing
    # 10 − 4 − 1 = 5 min; the peak 41 is above 5 × 8 = 40.
    minutes = [0, 1, 2, 3, 4, 5, *range(10, 30), 30, 100]
    means = [30.0] * 5 + [8.0] + [25.0] * 20 + [8.0, 41.0]
    runs = excursion_runs(_bins(minutes, means), np.array([24.0]))
    assert runs.start_minute.tolist() == [0, 10, 100]
    assert runs.duration_min.tolist() == [5, 20, 1]
    assert runs.peak.tolist() == [30.0, 25.0, 41.0]
    summary = summarise_excursions(runs, 1, day_offset_s=0)
    assert summary.count_day_max.tolist() == [3]
    assert summary.longest_min.tolist() == [20.0]
    assert summary.min_spacing_min.tolist() == [5.0]


def test_mixture_index() -> None:
    # CO 10 of 20 mg/m³ and NO2 2 of 5 mg/m³: 0.5 + 0.4 = 0.9 ≤ 1 passes.
    assert float(mixture_index([10.0, 2.0], [20.0, 5.0])) == pytest.approx(0.9)
    assert mixture_index([[10.0, 2.0], [20.0, 5.0]], [20.0, 5.0]).tolist() == pytest.approx(
        [0.9, 2.0]
    )


# -- GBZ 2.2-2007 noise ------------------------------------------------------------------


def test_laeq_of_two_halves() -> None:
    # 4 h at 90 and 4 h at 80 dB(A): 10 lg(0.5 × 10^9 + 0.5 × 10^8) = 10 lg(5.5e8) = 87.40.
    assert float(laeq([90.0, 80.0], [4.0, 4.0])) == pytest.approx(10 * math.log10(5.5e8))
    assert float(laeq([90.0, 80.0], [4.0, 4.0])) == pytest.approx(87.404, abs=1e-3)


def test_lex_8h_normalises_the_day_length() -> None:
    # 4 h at L_Aeq 91 dB(A): 91 + 10 lg(4/8) = 87.99; 10 h at 85: 85 + 10 lg(10/8) = 85.97.
    assert float(lex_8h(91.0, 4 * 3600)) == pytest.approx(87.99, abs=0.01)
    assert float(lex_8h(85.0, 10 * 3600)) == pytest.approx(85.97, abs=0.01)


def test_lex_40h_of_a_short_week() -> None:
    # Five days at 85 → 85. Three days at 90 (a 3-day week): 10 lg(3 × 10^9 / 5) = 87.78.
    assert float(lex_40h([85.0] * 5)) == pytest.approx(85.0)
    assert float(lex_40h([90.0] * 3)) == pytest.approx(87.78, abs=0.01)


def test_impulse_peak_by_daily_count_and_short_shift_limit() -> None:
    # ≤ 100 impulses: 140 dB; ≤ 1000: 130; ≤ 10000: 120; more: no allowance (NaN).
    allowed = allowed_impulse_peak([1, 100, 101, 1000, 10000, 10001])
    assert allowed[:5].tolist() == [140.0, 140.0, 130.0, 130.0, 120.0]
    assert math.isnan(allowed[5])
    # GBZ/T 189.8 App. B: 4 h → 88 dB(A), 2 h → 91 (+3 dB each halving); 8 h → 85.
    assert short_shift_limit([8.0, 4.0, 2.0]).tolist() == pytest.approx([85.0, 88.0, 91.0])


# -- GBZ 2.2-2007 heat ---------------------------------------------------------------------


def test_wbgt_indoor_and_outdoor() -> None:
    # t_nw 25, t_g 40, t_d 32 °C: indoor 0.7·25 + 0.3·40 = 29.5;
    # outdoor 0.7·25 + 0.2·40 + 0.1·32 = 28.7.
    assert float(wbgt_indoor(25.0, 40.0)) == pytest.approx(29.5)
    assert float(wbgt_outdoor(25.0, 40.0, 32.0)) == pytest.approx(28.7)


def test_wbgt_limit_takes_the_next_higher_exposure_column() -> None:
    rows = load_limit_rows("gbz2.2-2007")
    cell = wbgt_limit_row(rows, "II", 60.0)  # between 50 and 75 %: the 75 % column
    assert cell is not None
    assert cell.value == 29.0
    assert cell.confirmed == "secondary"
    cell = wbgt_limit_row(rows, "IV", 100.0)
    assert cell is not None
    assert cell.value == 25.0


# -- Electrical (JGJ 46-2005, IEC 60364-6) and wall thickness (GB/T 150, API 510) --------


def test_electrical_comparisons() -> None:
    assert at_least([0.4, 1.0, np.nan], 1.0).tolist() == [False, True, False]
    assert at_most([3.9, 4.0, 4.1], 4.0).tolist() == [True, True, False]
    # Final box: 28 mA in 0.08 s passes; 28 mA in 0.12 s fails; 35 mA fails.
    assert rcd_passes([28, 28, 35], [0.08, 0.12, 0.05]).tolist() == [True, False, False]
    # Main box: 100 mA × 0.2 s = 20 mA·s ≤ 30.
    assert float(current_time_product(100.0, 0.2)) == pytest.approx(20.0)


def test_wall_thickness_corrosion_rate_and_remaining_life() -> None:
    # δn 12, C1 0.3, C2 2: δe = 9.7 mm.
    assert float(effective_thickness(12.0, 0.3, 2.0)) == pytest.approx(9.7)
    # Short term: 10.0 → 9.4 mm in 3 years = 0.2 mm/year; long term: 12.0 → 9.4 in
    # 10 years = 0.26 mm/year. Required 8.0 mm: RL = 1.4 / max(0.2, 0.26) = 5.385 years;
    # next inspection min(5.385 / 2, 10) = 2.69 years.
    short = corrosion_rate(10.0, 9.4, 3.0)
    long = corrosion_rate(12.0, 9.4, 10.0)
    assert float(short) == pytest.approx(0.2)
    assert float(long) == pytest.approx(0.26)
    life = remaining_life(9.4, 8.0, short, long)
    assert float(life) == pytest.approx(1.4 / 0.26)
    assert float(next_inspection_years(life)) == pytest.approx(1.4 / 0.26 / 2)
    # No corrosion: infinite life, inspection capped at 10 years.
    assert float(next_inspection_years(remaining_life(9.4, 8.0, 0.0))) == 10.0
