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


def aggregate_window(window: Window, interval_ns: int) -> Aggregates:
    """Summarise a window per ``interval_ns`` [ns] in numpy (no loop per reading).

    Used by stores that cannot aggregate server-side with exact interval edges.
    """
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be positive, got {interval_ns}")
    bucket = window.ts - np.mod(window.ts, interval_ns)
    starts, inverse = np.unique(bucket, return_inverse=True)
    size = len(starts)
    has_value = ~np.isnan(window.value)
    count = np.bincount(inverse[has_value], minlength=size).astype(np.int64)
    total = np.bincount(inverse[has_value], weights=window.value[has_value], minlength=size)
    minimum = np.full(size, np.inf)
    maximum = np.full(size, -np.inf)
    np.minimum.at(minimum, inverse[has_value], window.value[has_value])
    np.maximum.at(maximum, inverse[has_value], window.value[has_value])
    empty = count == 0
    minimum[empty] = np.nan
    maximum[empty] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(empty, np.nan, total / np.maximum(count, 1))
    quality = np.zeros(size, np.uint16)
    np.bitwise_or.at(quality, inverse, window.quality)
    level = np.zeros(size, np.uint8)
    np.maximum.at(level, inverse, window.level)
    return Aggregates(starts.astype(np.int64), minimum, mean, maximum, count, quality, level)


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


__all__ = ["Aggregates", "TimeSeriesStore", "Window", "WindowReader", "aggregate_window"]
