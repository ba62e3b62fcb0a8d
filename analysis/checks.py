"""Sensor checks: stuck lines, spikes, out of range, negative drift.

Each check takes readings sorted by channel, then time (many channels at once) and
returns :class:`~hazmon.config.quality.Quality` bits to OR into the readings'
quality. A check never changes or drops a value: it says what is wrong with it.
Calibration and warm-up are flagged where the reading is taken (the one mapper,
``drivers/channel_values.py``): they depend on the meter and its link, not on the values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import median_filter

from hazmon.analysis.sampling import channel_starts
from hazmon.config.quality import Quality


def _flag(mask: NDArray[np.bool_], flag: Quality) -> NDArray[np.uint16]:
    return np.where(mask, np.uint16(flag), np.uint16(0)).astype(np.uint16)


def stuck(
    ts: NDArray[np.int64],
    channel: NDArray[np.int32],
    value: NDArray[np.float64],
    min_duration_ns: int,
    tolerance: float = 0.0,
) -> NDArray[np.uint16]:
    """Flag ``STALE`` on runs of unchanged values lasting at least ``min_duration_ns``.

    A live sensor's reading wanders; one that repeats the same value (within
    ``tolerance``) for a long time is frozen or disconnected.

    Parameters
    ----------
    ts : [ns]
    channel
    value : [unit]
    min_duration_ns : [ns]
        From the run's first to its last reading.
    tolerance : [unit]
        Largest step still counted as "unchanged".
    """
    count = len(value)
    if count == 0:
        return np.zeros(0, np.uint16)
    first = channel_starts(channel)
    with np.errstate(invalid="ignore"):
        same = np.r_[False, np.abs(np.diff(value)) <= tolerance] & ~first
    run = np.cumsum(~same) - 1
    starts = np.flatnonzero(~same)
    ends = np.r_[starts[1:] - 1, count - 1]
    long_run = (ts[ends] - ts[starts]) >= min_duration_ns
    long_run &= ends > starts
    return _flag(long_run[run], Quality.STALE)


def spikes(
    channel: NDArray[np.int32],
    value: NDArray[np.float64],
    window: int = 5,
    threshold: float = 6.0,
    floor: float = 1e-9,
) -> NDArray[np.uint16]:
    """Flag ``SENSOR_FAULT`` on spikes: readings far from their running median.

    The residual ``|x − median_w(x)|`` is compared with ``threshold`` times a robust
    scale of the channel's residuals (1.4826 × their median absolute value, at least
    ``floor``). The median filter (scipy) runs per channel, so a window never mixes
    two channels (a loop over channels, not readings).

    Parameters
    ----------
    channel
    value : [unit]
    window
        Median window length [readings], odd.
    threshold
        Multiple of the robust scale.
    floor : [unit]
        Smallest scale (a flat channel has none).
    """
    out = np.zeros(len(value), np.uint16)
    starts = np.flatnonzero(channel_starts(channel))
    ends = np.r_[starts[1:], len(value)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        segment = value[start:end]
        valid = ~np.isnan(segment)
        if valid.sum() < window:
            continue
        clean = segment[valid]
        residual = np.abs(clean - median_filter(clean, size=window, mode="nearest"))
        scale = max(1.4826 * float(np.median(residual)), floor)
        flagged = np.zeros(len(segment), bool)
        flagged[valid] = residual > threshold * scale
        out[start:end] = _flag(flagged, Quality.SENSOR_FAULT)
    return out


def out_of_range(
    value: NDArray[np.float64], low: NDArray[np.float64], high: NDArray[np.float64]
) -> NDArray[np.uint16]:
    """Flag ``UNDER_RANGE`` / ``OVER_RANGE`` outside the measuring range.

    Parameters
    ----------
    value : [unit]
    low, high : [unit]
        Range of each reading's instrument (broadcast; NaN: no bound).
    """
    with np.errstate(invalid="ignore"):
        return _flag(value < low, Quality.UNDER_RANGE) | _flag(value > high, Quality.OVER_RANGE)


def negative_drift(
    value: NDArray[np.float64], tolerance: NDArray[np.float64] | float
) -> NDArray[np.uint16]:
    """Flag ``SENSOR_FAULT`` where a concentration reads below ``−tolerance``.

    A gas or dust concentration cannot be negative; a reading below the zero
    tolerance means the zero has drifted (exposure metrics clamp such readings to 0,
    as portable detectors do).

    Parameters
    ----------
    value : [unit]
    tolerance : [unit]
    """
    with np.errstate(invalid="ignore"):
        return _flag(value < -np.asarray(tolerance), Quality.SENSOR_FAULT)
