"""Time-series stores: the interface every backend implements, and its result types.

Two backends live here, one module each:

- :mod:`hazmon.store.timeseries.sqlite`: the embedded default, one SQLite file.
- :mod:`hazmon.store.timeseries.line_protocol`: InfluxDB line protocol for InfluxDB
  2.x/3.x and VictoriaMetrics, written through the durable outbox of
  :mod:`hazmon.store.timeseries.outbox`.

A new store is one module that satisfies :class:`TimeSeriesStore`.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings


class Window(NamedTuple):
    """The readings of one channel in a time window, in time order.

    Attributes
    ----------
    ts : NDArray[np.int64]
        Sample time [ns UTC]; a store that keeps coarser times (VictoriaMetrics keeps
        milliseconds) returns them truncated.
    value : NDArray[np.float64]
        [canonical unit]; NaN where the reading had no value.
    quality : NDArray[np.uint16]
        :class:`~hazmon.config.quality.Quality` bits.
    level : NDArray[np.uint8]
        0 normal, 1 A1, 2 A2, 3 critical.
    """

    ts: NDArray[np.int64]
    value: NDArray[np.float64]
    quality: NDArray[np.uint16]
    level: NDArray[np.uint8]

    @classmethod
    def empty(cls) -> Window:
        """A window with no readings."""
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            np.empty(0, np.uint16),
            np.empty(0, np.uint8),
        )


class Aggregates(NamedTuple):
    """Per-interval summaries of one channel that keep the peaks.

    Attributes
    ----------
    start_ts : NDArray[np.int64]
        Start of each interval [ns UTC], a multiple of the interval.
    minimum, mean, maximum : NDArray[np.float64]
        Over the readings with a value [canonical unit]; NaN when none had one.
    value_count : NDArray[np.int64]
        Readings with a value.
    quality : NDArray[np.uint16]
        Every quality bit seen in the interval (OR), so a flag is never averaged away.
    level : NDArray[np.uint8]
        The highest level in the interval.
    """

    start_ts: NDArray[np.int64]
    minimum: NDArray[np.float64]
    mean: NDArray[np.float64]
    maximum: NDArray[np.float64]
    value_count: NDArray[np.int64]
    quality: NDArray[np.uint16]
    level: NDArray[np.uint8]


class Summaries(NamedTuple):
    """Per-group summaries of readings, in the form a store merges (totals, not means).

    Attributes
    ----------
    key : NDArray[np.int64]
        The distinct group keys, sorted: 1-D, or one row per group for a 2-D key.
    minimum, maximum : NDArray[np.float64]
        Over the readings with a value [canonical unit]; NaN when none had one.
    total : NDArray[np.float64]
        Sum of the values [canonical unit]; 0 when none had one.
    value_count : NDArray[np.int64]
        Readings with a value.
    quality : NDArray[np.uint16]
        Every quality bit seen (OR).
    level : NDArray[np.uint8]
        The highest level.
    """

    key: NDArray[np.int64]
    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]
    total: NDArray[np.float64]
    value_count: NDArray[np.int64]
    quality: NDArray[np.uint16]
    level: NDArray[np.uint8]


def summarise(
    key: NDArray[np.int64],
    value: NDArray[np.float64],
    quality: NDArray[np.uint16],
    level: NDArray[np.uint8],
) -> Summaries:
    """Min, max, total, count, OR of quality and highest level per distinct ``key``.

    ``key`` is one group key per reading (an interval start [ns UTC]), or one row per
    reading for a compound key (channel id, interval start). numpy throughout: no loop
    per reading. The one summary both the SQLite store's write path and
    :func:`aggregate_window` build on, so the two cannot disagree.
    """
    if key.ndim == 1:
        starts, inverse = np.unique(key, return_inverse=True)
    else:
        # np.unique(axis=0) sorts rows as opaque bytes, ten times slower than a
        # lexsort of the columns on a 10,000-reading batch: the write path's cost.
        order = np.lexsort(key.T[::-1])
        ordered = key[order]
        first = np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)]
        inverse = np.empty(len(key), np.intp)
        inverse[order] = np.cumsum(first) - 1
        starts = ordered[first]
    size = len(starts)
    has_value = ~np.isnan(value)
    count = np.bincount(inverse[has_value], minlength=size).astype(np.int64)
    total = np.bincount(inverse[has_value], weights=value[has_value], minlength=size).astype(
        np.float64
    )
    minimum = np.full(size, np.inf)
    maximum = np.full(size, -np.inf)
    np.minimum.at(minimum, inverse[has_value], value[has_value])
    np.maximum.at(maximum, inverse[has_value], value[has_value])
    empty = count == 0
    minimum[empty] = np.nan
    maximum[empty] = np.nan
    bits = np.zeros(size, np.uint16)
    np.bitwise_or.at(bits, inverse, quality.astype(np.uint16))
    highest = np.zeros(size, np.uint8)
    np.maximum.at(highest, inverse, level.astype(np.uint8))
    return Summaries(starts.astype(np.int64), minimum, maximum, total, count, bits, highest)


def aggregate_window(window: Window, interval_ns: int) -> Aggregates:
    """Summarise a window per ``interval_ns`` [ns] in numpy (no loop per reading).

    Used by stores that cannot aggregate server-side with exact interval edges.
    """
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be positive, got {interval_ns}")
    bucket = window.ts - np.mod(window.ts, interval_ns)
    summary = summarise(bucket, window.value, window.quality, window.level)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(
            summary.value_count == 0, np.nan, summary.total / np.maximum(summary.value_count, 1)
        )
    return Aggregates(
        summary.key,
        summary.minimum,
        mean,
        summary.maximum,
        summary.value_count,
        summary.quality,
        summary.level,
    )


@runtime_checkable
class WindowReader(Protocol):
    """What a hazard's evidence summary needs: the readings of a channel in a window."""

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        """Readings of ``channel`` with ``start_ns <= ts <= end_ns`` [ns UTC], in time order."""
        ...

    def close(self) -> None:
        """Release the reader (idempotent)."""
        ...


@runtime_checkable
class TimeSeriesStore(WindowReader, Protocol):
    """What the pipeline and ``hazmon hazards show`` need from a time-series store."""

    def write(self, readings: Readings, level: NDArray[np.uint8], channels: ChannelTable) -> int:
        """Store (or durably accept) a batch; return the number of readings taken.

        Writing the same batch twice stores it once (same channel and time).
        """
        ...

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        """Readings of ``channel`` with ``start_ns <= ts <= end_ns`` [ns UTC], in time order."""
        ...

    def aggregate(
        self, channel: Channel, start_ns: int, end_ns: int, interval_ns: int
    ) -> Aggregates:
        """Min, mean and max per ``interval_ns`` [ns] of ``channel`` in the window."""
        ...

    def list_channels(self) -> list[Channel]:
        """Every channel the store holds readings of."""
        ...

    def close(self) -> None:
        """Release the store (idempotent); a networked store flushes what it can first."""
        ...


__all__ = [
    "Aggregates",
    "Summaries",
    "TimeSeriesStore",
    "Window",
    "WindowReader",
    "aggregate_window",
    "summarise",
]
