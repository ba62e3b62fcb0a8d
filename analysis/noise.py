"""Noise exposure (GBZ 2.2-2007): L_Aeq,T, L_EX,8h, L_EX,40h and impulse peaks.

Levels are averaged as energy, ``10^(0.1 L)``; the minute bins of a noise channel
integrate that energy, so ``L_EX,8h = 10 lg(Σ 10^(0.1 L_i)·t_i / 8 h)``.

References
----------
GBZ 2.2-2007 noise limits; GBZ/T 189.8-2007 Appendix B (short shifts), as quoted in
docs/standards.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

SHIFT_S = 8 * 3600.0
WEEK_DAYS = 5


def sound_energy(level: ArrayLike) -> NDArray[np.float64]:
    """``10^(0.1 L)`` [1], the quantity averaged over time.

    Parameters
    ----------
    level : [dB(A)]
    """
    return np.asarray(np.power(10.0, 0.1 * np.asarray(level, dtype=np.float64)), dtype=np.float64)


def energy_level(energy: ArrayLike) -> NDArray[np.float64]:
    """``10 lg(E)`` [dB]; −inf for zero energy."""
    with np.errstate(divide="ignore"):
        return np.asarray(10.0 * np.log10(np.asarray(energy, dtype=np.float64)), dtype=np.float64)


def laeq(level: ArrayLike, duration_s: ArrayLike) -> NDArray[np.float64]:
    """Equivalent continuous level ``L_Aeq,T = 10 lg[(1/T) Σ t_i·10^(0.1 L_i)]``.

    Parameters
    ----------
    level : [dB(A)], shape (..., intervals)
    duration_s : [s], same shape; ``T = Σ t_i``

    Returns
    -------
    NDArray[np.float64] : [dB(A)]
    """
    t = np.asarray(duration_s, dtype=np.float64)
    energy = np.sum(sound_energy(level) * t, axis=-1)
    return energy_level(energy / np.sum(t, axis=-1))


def lex_8h(laeq_te: ArrayLike, te_s: ArrayLike) -> NDArray[np.float64]:
    """Daily exposure level ``L_EX,8h = L_Aeq,Te + 10 lg(Te / 8 h)``.

    Parameters
    ----------
    laeq_te : [dB(A)]
        Equivalent level over the working day.
    te_s : [s]
        Length of the working day.
    """
    return np.asarray(
        np.asarray(laeq_te, dtype=np.float64)
        + 10.0 * np.log10(np.asarray(te_s, dtype=np.float64) / SHIFT_S),
        dtype=np.float64,
    )


def lex_40h(daily_lex_8h: ArrayLike) -> NDArray[np.float64]:
    """Weekly level ``L_EX,w = 10 lg[(1/5) Σ_k 10^(0.1 L_EX,8h,k)]``.

    Parameters
    ----------
    daily_lex_8h : [dB(A)], shape (..., days)
    """
    energy = np.sum(sound_energy(daily_lex_8h), axis=-1) / WEEK_DAYS
    return energy_level(energy)


def short_shift_limit(shift_hours: ArrayLike) -> NDArray[np.float64]:
    """L_Aeq limit for a shift shorter than 8 h: 85 dB(A) + 3 dB per halving.

    GBZ/T 189.8-2007 App. B: 4 h → 88 dB(A) (so 2 h → 91, 1 h → 94).

    Parameters
    ----------
    shift_hours : [h]
    """
    hours = np.asarray(shift_hours, dtype=np.float64)
    return np.asarray(85.0 + 3.0 * np.log2(8.0 / hours), dtype=np.float64)


def allowed_impulse_peak(
    daily_count: ArrayLike,
    max_impulses: ArrayLike = (100, 1000, 10000),
    peak_limit: ArrayLike = (140.0, 130.0, 120.0),
) -> NDArray[np.float64]:
    """The impulse-noise peak allowed for a daily number of impulses.

    140 dB for ≤ 100 impulses a day, 130 dB for ≤ 1000, 120 dB for ≤ 10000; NaN above
    the largest count (no limit given: the exposure fails).

    Parameters
    ----------
    daily_count
        Impulses a day.
    max_impulses, peak_limit : [dB(C)]
        The GBZ 2.2-2007 table, sorted by count.
    """
    counts = np.asarray(max_impulses, dtype=np.float64)
    limits = np.asarray(peak_limit, dtype=np.float64)
    order = np.argsort(counts)
    counts, limits = counts[order], limits[order]
    row = np.searchsorted(counts, np.asarray(daily_count, dtype=np.float64), side="left")
    padded = np.r_[limits, np.nan]
    return np.asarray(padded[row], dtype=np.float64)
