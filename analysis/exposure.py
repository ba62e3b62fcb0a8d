"""Occupational exposure metrics for chemicals and dust (GBZ 2.1-2019).

Every function takes arrays for many channels (or many exposures) at once.

References
----------
GBZ 2.1-2019, Table 1 (MAC, PC-TWA, PC-STEL) and Table 2 (dust); the TWA, STEL,
peak-excursion and mixture rules as quoted in docs/standards.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hazmon.analysis.sampling import NS_PER_S, MinuteBins, segment_max, window_sums

#: Reference duration of a shift TWA [s] (GBZ 2.1-2019: Σ C·T / 8 h).
SHIFT_S = 8 * 3600.0
#: STEL averaging time [s]; shorter exposures are still divided by it.
STEL_S = 15 * 60.0
#: Width of the STEL window [min] and of the moving 8-hour TWA [min].
STEL_MINUTES = 15
SHIFT_MINUTES = 480
DAY_S = 86_400
#: China Standard Time (UTC+8): the default "day" for shift TWA and L_EX,8h [s].
CHINA_DAY_OFFSET_S = 8 * 3600


def shift_twa(
    concentration: ArrayLike, duration_s: ArrayLike, reference_s: float = SHIFT_S
) -> NDArray[np.float64]:
    """Shift time-weighted average ``C_TWA = Σ C_i·T_i / 8 h``, whatever the shift length.

    Parameters
    ----------
    concentration : [ppm or mg/m³], shape (..., samples)
        C_i, one row per exposure.
    duration_s : [s], same shape
        T_i.
    reference_s : [s]
        Divisor (8 h).

    Returns
    -------
    NDArray[np.float64] : [unit of concentration]

    References
    ----------
    GBZ 2.1-2019 (C_TWA definition, as quoted in docs/standards.md).
    """
    c = np.asarray(concentration, dtype=np.float64)
    t = np.asarray(duration_s, dtype=np.float64)
    return np.asarray(np.sum(c * t, axis=-1) / reference_s, dtype=np.float64)


def stel_series(bins: MinuteBins) -> NDArray[np.float64]:
    """15-minute TWA ending at each minute bin: ``Σ ∫C dt over 15 min / 900 s``.

    Minutes without data add nothing, and an exposure shorter than 15 minutes is
    still divided by 15 minutes (GBZ 2.1-2019 PC-STEL; detectors: mean of the last 15
    minute values, missing minutes counting 0).

    Returns
    -------
    NDArray[np.float64] : [unit of the integrand], one per bin
    """
    return window_sums(bins.key, bins.integral, STEL_MINUTES) / STEL_S


def moving_twa_series(bins: MinuteBins) -> NDArray[np.float64]:
    """Moving 8-hour TWA ending at each minute bin (what portable detectors display).

    Returns
    -------
    NDArray[np.float64] : [unit of the integrand], ``Σ ∫C dt over 480 min / 8 h``
    """
    return window_sums(bins.key, bins.integral, SHIFT_MINUTES) / SHIFT_S


def day_number(
    minute: NDArray[np.int64], day_offset_s: int = CHINA_DAY_OFFSET_S
) -> NDArray[np.int64]:
    """Local day of each minute: ``(minute·60 + offset) // 86400``."""
    return (minute * 60 + day_offset_s) // DAY_S


@dataclass(frozen=True, slots=True)
class DailySums:
    """Per (channel, day) sums of minute bins, sorted by channel then day.

    Attributes
    ----------
    channel, day : NDArray
    integral : [integrand unit · s]
    count : readings
    maximum : [unit]
    """

    channel: NDArray[np.int32]
    day: NDArray[np.int64]
    integral: NDArray[np.float64]
    count: NDArray[np.int64]
    maximum: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.channel)


def daily_sums(bins: MinuteBins, day_offset_s: int = CHINA_DAY_OFFSET_S) -> DailySums:
    """Group minute bins by local day (for shift TWA, L_EX,8h, impulse counts)."""
    day = day_number(bins.minute, day_offset_s)
    if len(bins) == 0:
        return DailySums(bins.channel, day, bins.integral, bins.count, bins.maximum)
    new = np.r_[True, (bins.channel[1:] != bins.channel[:-1]) | (day[1:] != day[:-1])]
    starts = np.flatnonzero(new)
    return DailySums(
        channel=bins.channel[starts],
        day=day[starts],
        integral=np.add.reduceat(bins.integral, starts),
        count=np.add.reduceat(bins.count, starts),
        maximum=np.fmax.reduceat(bins.maximum, starts),
    )


def max_daily_twa(days: DailySums, channels: int) -> NDArray[np.float64]:
    """Highest daily shift TWA per channel, ``max_day Σ C·T / 8 h`` [unit]."""
    return segment_max(days.channel, days.integral / SHIFT_S, channels)


@dataclass(frozen=True, slots=True)
class Excursions:
    """Runs of consecutive minutes whose mean exceeds a threshold (one row per run).

    Attributes
    ----------
    channel : NDArray[np.int32]
    start_minute, end_minute : NDArray[np.int64]
        First and last minute of the run (inclusive).
    peak : [unit]
        Highest reading during the run.
    """

    channel: NDArray[np.int32]
    start_minute: NDArray[np.int64]
    end_minute: NDArray[np.int64]
    peak: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def duration_min(self) -> NDArray[np.int64]:
        """Length of each run [min]."""
        return self.end_minute - self.start_minute + 1


def excursion_runs(bins: MinuteBins, threshold: NDArray[np.float64]) -> Excursions:
    """Find excursions: runs of 1-minute means above ``threshold[channel]``.

    Parameters
    ----------
    bins
        Minute bins (integrand: the concentration).
    threshold : [unit], one per channel
        ``excursion_factor × PC-TWA`` (NaN: no excursion rule for the channel).

    References
    ----------
    GBZ 2.1-2019 peak exposure control (3 × PC-TWA; clause unconfirmed).
    """
    with np.errstate(invalid="ignore"):
        above = bins.mean > threshold[bins.channel]
    rows = np.flatnonzero(above)
    if len(rows) == 0:
        return Excursions(
            np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        )
    channel = bins.channel[rows]
    minute = bins.minute[rows]
    new = np.r_[True, (channel[1:] != channel[:-1]) | (minute[1:] != minute[:-1] + 1)]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:] - 1, len(rows) - 1]
    return Excursions(
        channel=channel[starts],
        start_minute=minute[starts],
        end_minute=minute[ends],
        peak=np.fmax.reduceat(bins.maximum[rows], starts),
    )


@dataclass(frozen=True, slots=True)
class ExcursionSummary:
    """Per-channel excursion statistics (arrays indexed by channel).

    Attributes
    ----------
    count_day_max : most excursions in one day
    longest_min : [min] longest excursion (0 without any)
    min_spacing_min : [min] shortest time between the end of one excursion and the
        start of the next (NaN with fewer than two)
    """

    count_day_max: NDArray[np.int64]
    longest_min: NDArray[np.float64]
    min_spacing_min: NDArray[np.float64]


def summarise_excursions(
    runs: Excursions, channels: int, day_offset_s: int = CHINA_DAY_OFFSET_S
) -> ExcursionSummary:
    """Count, duration and spacing of excursions per channel (vectorised over runs)."""
    count_day_max = np.zeros(channels, np.int64)
    longest = np.zeros(channels)
    spacing = np.full(channels, np.nan)
    if len(runs):
        day = day_number(runs.start_minute, day_offset_s)
        new_day = np.r_[True, (runs.channel[1:] != runs.channel[:-1]) | (day[1:] != day[:-1])]
        starts = np.flatnonzero(new_day)
        per_day = np.diff(np.r_[starts, len(runs)])
        np.maximum.at(count_day_max, runs.channel[starts], per_day)
        np.maximum.at(longest, runs.channel, runs.duration_min.astype(np.float64))
        same = runs.channel[1:] == runs.channel[:-1]
        gaps = (runs.start_minute[1:] - runs.end_minute[:-1] - 1).astype(np.float64)
        np.fmin.at(spacing, runs.channel[1:][same], gaps[same])
    return ExcursionSummary(count_day_max, longest, spacing)


def mixture_index(concentration: ArrayLike, oel: ArrayLike) -> NDArray[np.float64]:
    """Additive mixture index ``Σ C_i / OEL_i`` (≤ 1 passes).

    Parameters
    ----------
    concentration : [same unit as oel], shape (..., components)
    oel : [same unit], shape (components,) or broadcastable

    References
    ----------
    GBZ 2.1-2019, mixtures (clause unconfirmed; docs/standards.md).
    """
    c = np.asarray(concentration, dtype=np.float64)
    limit = np.asarray(oel, dtype=np.float64)
    return np.asarray(np.sum(c / limit, axis=-1), dtype=np.float64)


def held_seconds(hold_ns: NDArray[np.int64]) -> NDArray[np.float64]:
    """Hold durations [ns] as seconds [s]."""
    return hold_ns.astype(np.float64) / NS_PER_S
