"""Evidence chart data: a window of readings downsampled per pixel, the peaks kept."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from hazmon.store.timeseries import Aggregates, Window

#: A minute [ns]: the SQLite store keeps a summary per channel and minute.
MINUTE_NS = 60_000_000_000


def pixel_interval(start_ns: int, end_ns: int, width: int) -> int:
    """The interval [ns] one pixel column of a chart of ``[start_ns, end_ns]`` covers.

    A window longer than ``width`` minutes gets a whole number of minutes per column
    (rounded up, so there are never more columns than pixels): the store then answers
    from its per-minute summaries instead of every reading. A shorter window keeps its
    exact share of the window per column, read from the raw readings.
    """
    interval = max(-(-(end_ns - start_ns + 1) // width), 1)
    if interval > MINUTE_NS:
        interval = -(-interval // MINUTE_NS) * MINUTE_NS
    return int(interval)


def per_pixel(
    ts: NDArray[np.int64], value: NDArray[np.float64], start_ns: int, end_ns: int, width: int
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Min and max of ``value`` per pixel column over ``[start_ns, end_ns]`` [ns UTC].

    Returns (column start [ns UTC], minimum, maximum) for every column that holds a
    reading with a value; a reading that breaks a limit is the extreme of its column
    and so stays in the chart however many readings share the column.
    """
    keep = ~np.isnan(value)
    ts, value = ts[keep], value[keep]
    if len(ts) == 0:
        empty = np.empty(0, np.float64)
        return np.empty(0, np.int64), empty, empty
    span = max(end_ns - start_ns, 1)
    column = ((ts - start_ns) * width // span).clip(0, width - 1)
    # Readings arrive in time order, so the columns do too: each run is one column.
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    minimum = np.minimum.reduceat(value, starts)
    maximum = np.maximum.reduceat(value, starts)
    column_start = start_ns + column[starts] * span // width
    return column_start.astype(np.int64), minimum, maximum


def excursions(
    ts: NDArray[np.int64], level: NDArray[np.uint8], min_level: int
) -> list[tuple[int, int]]:
    """(start, end) [ns UTC] of each run of readings at or above ``min_level``."""
    above = level >= min_level
    if not above.any():
        return []
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    first = np.flatnonzero(edges == 1)
    last = np.flatnonzero(edges == -1) - 1
    return [(int(ts[a]), int(ts[b])) for a, b in zip(first, last, strict=True)]


def chart_data(
    window: Window,
    start_ns: int,
    end_ns: int,
    width: int,
    *,
    limit: float | None,
    min_level: int,
) -> dict[str, Any]:
    """What the page's uPlot chart draws, as JSON-ready lists.

    ``x`` is in seconds since the epoch (uPlot's unit); ``minimum``/``maximum`` are per
    pixel [canonical unit]; ``excursions`` are [start, end] in seconds.
    """
    width = int(min(max(width, 50), 4000))
    column, minimum, maximum = per_pixel(window.ts, window.value, start_ns, end_ns, width)
    return {
        "x": (column / 1e9).tolist(),
        "minimum": minimum.tolist(),
        "maximum": maximum.tolist(),
        "limit": limit,
        "excursions": [
            [a / 1e9, b / 1e9] for a, b in excursions(window.ts, window.level, min_level)
        ],
        "readings": len(window.ts),
        "points": len(column),
        "flagged": int(np.count_nonzero(window.quality)),
    }


def chart_from_aggregates(
    aggregates: Aggregates,
    interval_ns: int,
    *,
    limit: float | None,
    min_level: int,
) -> dict[str, Any]:
    """:func:`chart_data` from per-interval summaries computed by the store.

    The store answers one row per pixel column (min, max, the highest level, every
    quality bit), so a million readings never cross into Python; the peaks survive
    because a column's maximum is the largest reading in it.
    """
    has_value = aggregates.value_count > 0
    starts = aggregates.start_ts[has_value]
    above = aggregates.level[has_value] >= min_level
    runs: list[list[float]] = []
    if above.any():
        edges = np.diff(np.r_[0, above.astype(np.int8), 0])
        first = np.flatnonzero(edges == 1)
        last = np.flatnonzero(edges == -1) - 1
        runs = [[starts[a] / 1e9, starts[b] / 1e9] for a, b in zip(first, last, strict=True)]
    return {
        "x": (starts / 1e9).tolist(),
        "minimum": aggregates.minimum[has_value].tolist(),
        "maximum": aggregates.maximum[has_value].tolist(),
        "limit": limit,
        "excursions": runs,
        "readings": int(aggregates.value_count.sum()),
        "points": int(has_value.sum()),
        "flagged": int(np.count_nonzero(aggregates.quality)),
        "interval_s": interval_ns / 1e9,
    }
