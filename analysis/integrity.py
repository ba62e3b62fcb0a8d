"""Electrical and wall-thickness comparisons, corrosion rate and remaining life.

References
----------
IEC 60364-6 (insulation resistance); JGJ 46-2005 §8.2.10–8.2.11 (residual-current
devices); GB 50057 (earthing, clauses unconfirmed); GB/T 150 (thickness relations);
API 510 (corrosion rate, remaining life, inspection interval). Values and formulas as
quoted in docs/standards.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def at_least(measured: ArrayLike, minimum: ArrayLike) -> NDArray[np.bool_]:
    """True where ``measured ≥ minimum`` (insulation resistance, wall thickness).

    NaN (no measurement, no limit) is False: nothing unmeasured passes.
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(
            np.asarray(measured, dtype=np.float64) >= np.asarray(minimum, dtype=np.float64)
        )


def at_most(measured: ArrayLike, maximum: ArrayLike) -> NDArray[np.bool_]:
    """True where ``measured ≤ maximum`` (earthing resistance, trip current and time)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(
            np.asarray(measured, dtype=np.float64) <= np.asarray(maximum, dtype=np.float64)
        )


def rcd_passes(
    trip_current_ma: ArrayLike,
    trip_time_s: ArrayLike,
    rated_max_ma: float = 30.0,
    time_max_s: float = 0.1,
) -> NDArray[np.bool_]:
    """A residual-current device trips within its limits.

    Parameters
    ----------
    trip_current_ma : [mA]
        Measured (or rated) residual operating current IΔn.
    trip_time_s : [s]
        Measured trip time.
    rated_max_ma : [mA]
        30 mA for a final distribution box, 15 mA in damp or corrosive places
        (JGJ 46-2005 §8.2.10–8.2.11).
    time_max_s : [s]
        0.1 s.
    """
    return at_most(trip_current_ma, rated_max_ma) & at_most(trip_time_s, time_max_s)


def current_time_product(trip_current_ma: ArrayLike, trip_time_s: ArrayLike) -> NDArray[np.float64]:
    """``IΔn · t`` [mA·s] of a main-box RCD (limit 30 mA·s, JGJ 46-2005)."""
    return np.asarray(
        np.asarray(trip_current_ma, dtype=np.float64) * np.asarray(trip_time_s, dtype=np.float64),
        dtype=np.float64,
    )


def effective_thickness(
    nominal_mm: ArrayLike, mill_tolerance_mm: ArrayLike, corrosion_allowance_mm: ArrayLike
) -> NDArray[np.float64]:
    """GB/T 150 effective thickness ``δe = δn − C1 − C2`` [mm].

    Parameters
    ----------
    nominal_mm : [mm] δn
    mill_tolerance_mm : [mm] C1, negative mill tolerance
    corrosion_allowance_mm : [mm] C2
    """
    return np.asarray(
        np.asarray(nominal_mm, dtype=np.float64)
        - np.asarray(mill_tolerance_mm, dtype=np.float64)
        - np.asarray(corrosion_allowance_mm, dtype=np.float64),
        dtype=np.float64,
    )


def corrosion_rate(
    earlier_mm: ArrayLike, actual_mm: ArrayLike, years: ArrayLike
) -> NDArray[np.float64]:
    """API 510 corrosion rate ``CR = (t_earlier − t_actual) / years`` [mm/year].

    With the previous measurement this is the short-term rate; with the initial
    thickness, the long-term rate.

    Parameters
    ----------
    earlier_mm, actual_mm : [mm]
    years : [year] between the two measurements
    """
    return np.asarray(
        (np.asarray(earlier_mm, dtype=np.float64) - np.asarray(actual_mm, dtype=np.float64))
        / np.asarray(years, dtype=np.float64),
        dtype=np.float64,
    )


def remaining_life(
    actual_mm: ArrayLike, required_mm: ArrayLike, *rates_mm_per_year: ArrayLike
) -> NDArray[np.float64]:
    """API 510 remaining life ``RL = (t_actual − t_required) / max(CR)`` [year].

    Infinite where no rate is positive (no measurable corrosion); zero or negative
    where the wall is already below the required thickness.

    Parameters
    ----------
    actual_mm, required_mm : [mm]
    rates_mm_per_year : [mm/year]
        Short- and long-term corrosion rates; the largest governs.
    """
    rate = np.max(np.asarray(np.broadcast_arrays(*rates_mm_per_year), dtype=np.float64), axis=0)
    margin = np.asarray(actual_mm, dtype=np.float64) - np.asarray(required_mm, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(rate > 0, margin / rate, np.inf), dtype=np.float64)


def next_inspection_years(
    life_years: ArrayLike, life_fraction: float = 0.5, maximum_years: float = 10.0
) -> NDArray[np.float64]:
    """API 510 interval to the next thickness inspection ``min(RL/2, 10 years)`` [year]."""
    life = np.asarray(life_years, dtype=np.float64)
    return np.asarray(np.clip(life * life_fraction, 0.0, maximum_years), dtype=np.float64)
