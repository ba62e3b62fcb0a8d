"""Events: contiguous runs of readings at or above a level on one channel.

An event is what a hazard record cites: when the channel reached the level, when
it last read at that level, the peak (the most extreme value on the side of the
limit that was broken) and when it happened. Readings without a value (NaN: the
meter did not answer) neither start nor end a run: whether the level held during
the silence is unknown, and the reading's quality flag says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Readings
from hazmon.analysis.sampling import channel_time_order, is_channel_time_sorted


@dataclass(frozen=True, slots=True)
class EventRuns:
    """Runs found in one batch, as columns (one row per run).

    Attributes
    ----------
    channel : NDArray[np.int32]
    start_ts, end_ts : NDArray[np.int64]
        First and last reading at or above the level [ns UTC].
    peak : NDArray[np.float64]
        Most extreme value of the run [canonical unit]: the maximum for an upper
        limit, the minimum for a lower one.
    peak_ts : NDArray[np.int64]
        Time of the peak [ns UTC]; the first such reading when it repeats.
    max_level : NDArray[np.uint8]
        Highest level reached during the run.
    side : NDArray[np.int8]
        +1 upper limit, -1 lower limit.
    samples : NDArray[np.int64]
        Number of readings in the run.
    open_start, open_end : NDArray[np.bool_]
        The run begins at the channel's first (ends at its last) valid reading of the
        batch, so it may continue from the previous batch (into the next one).
    dose : NDArray[np.float64]
        Sum of the per-reading ``weight`` over the run (see :func:`extract_events`):
        the dose above the limit [canonical unit · s]; 0 when no weight was given.
    """

    channel: NDArray[np.int32]
    start_ts: NDArray[np.int64]
    end_ts: NDArray[np.int64]
    peak: NDArray[np.float64]
    peak_ts: NDArray[np.int64]
    max_level: NDArray[np.uint8]
    side: NDArray[np.int8]
    samples: NDArray[np.int64]
    open_start: NDArray[np.bool_]
    open_end: NDArray[np.bool_]
    dose: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def duration_s(self) -> NDArray[np.float64]:
        """``end_ts - start_ts`` [s]."""
        return (self.end_ts - self.start_ts).astype(np.float64) / 1e9


def extract_events(
    readings: Readings,
    level: NDArray[np.uint8],
    side: NDArray[np.int8],
    min_level: int,
    weight: NDArray[np.float64] | None = None,
    *,
    assume_sorted: bool = False,
) -> EventRuns:
    """Find the runs at or above ``min_level`` in a batch, for every channel at once.

    A run ends where the level falls below ``min_level`` or flips side (an oxygen
    reading jumping from deficiency to enrichment is two events).

    Parameters
    ----------
    readings
        The batch, in any order.
    level, side
        Per reading, from :func:`hazmon.analysis.limits.evaluate_levels`.
    min_level
        The level a run must reach and hold (2 for A2 events).
    weight : [canonical unit · s], optional
        Per reading, summed over each run into ``dose``: the excess over the limit
        times the time the reading holds gives the dose above the limit.
    assume_sorted
        The caller guarantees the batch is sorted by channel, then time: the check
        (three passes over the batch) is skipped.
    """
    if not assume_sorted and not is_channel_time_sorted(readings.ts, readings.channel):
        order = channel_time_order(readings.ts, readings.channel)
        readings = readings.take(order)
        level, side = level[order], side[order]
        weight = None if weight is None else weight[order]
    return _sorted_runs(readings, level, side, min_level, weight)


def _sorted_runs(
    readings: Readings,
    level: NDArray[np.uint8],
    side: NDArray[np.int8],
    min_level: int,
    weight: NDArray[np.float64] | None,
) -> EventRuns:
    """:func:`extract_events` of readings sorted by channel, then time.

    Runs are made of the readings at or above the level, a small share of a batch:
    everything after finding them works on those rows alone. Readings without a
    value are skipped, so a row's neighbours are the previous and next rows with a
    value (found by their rank among those rows).
    """
    value = readings.value
    channel = readings.channel
    valid = ~np.isnan(value)
    members = np.flatnonzero(valid & (level >= min_level))
    if len(members) == 0:
        return _no_runs()
    rows = np.flatnonzero(valid)
    rank = np.searchsorted(rows, members)
    member_channel = channel[members]
    member_side = side[members]
    before = rows[np.maximum(rank - 1, 0)]
    first_of_channel = (rank == 0) | (channel[before] != member_channel)
    after = rows[np.minimum(rank + 1, len(rows) - 1)]
    last_of_channel = (rank == len(rows) - 1) | (channel[after] != member_channel)
    # A member continues the run of the previous valid row when that row is the
    # previous member, on the same channel and the same side.
    continues = np.zeros(len(members), dtype=bool)
    continues[1:] = (rank[1:] == rank[:-1] + 1) & (member_side[1:] == member_side[:-1])
    continues &= ~first_of_channel
    opens = ~continues
    starts = np.flatnonzero(opens)
    member_run = np.cumsum(opens) - 1
    # The last member of each run: where the run number changes, or the final member.
    last_member = np.flatnonzero(np.r_[member_run[1:] != member_run[:-1], True])
    samples = np.diff(np.r_[-1, last_member])

    ts = readings.ts[members]
    member_value = value[members]
    # Peak: sort members by run, then signed value (upper: value, lower: -value), then
    # by time descending so the last row of each run is its first-in-time extreme.
    signed = member_value * member_side
    by_peak = np.lexsort((-ts, signed, member_run))
    peak_rows = by_peak[last_member]
    segment_starts = np.r_[0, last_member[:-1] + 1]
    max_level = np.maximum.reduceat(level[members], segment_starts)
    if weight is None:
        dose = np.zeros(len(starts))
    else:
        dose = np.add.reduceat(weight[members], segment_starts)

    return EventRuns(
        channel=member_channel[starts],
        start_ts=ts[starts],
        end_ts=ts[last_member],
        peak=member_value[peak_rows],
        peak_ts=ts[peak_rows],
        max_level=max_level.astype(np.uint8),
        side=member_side[starts],
        samples=samples.astype(np.int64),
        open_start=first_of_channel[starts],
        open_end=last_of_channel[last_member],
        dose=dose.astype(np.float64),
    )


def _no_runs() -> EventRuns:
    return EventRuns(
        channel=np.empty(0, np.int32),
        start_ts=np.empty(0, np.int64),
        end_ts=np.empty(0, np.int64),
        peak=np.empty(0, np.float64),
        peak_ts=np.empty(0, np.int64),
        max_level=np.empty(0, np.uint8),
        side=np.empty(0, np.int8),
        samples=np.empty(0, np.int64),
        open_start=np.empty(0, bool),
        open_end=np.empty(0, bool),
        dose=np.empty(0),
    )


@dataclass(frozen=True, slots=True)
class Event:
    """One event on one channel (see :class:`EventRuns` for the fields' meaning)."""

    channel: int
    start_ts: int
    end_ts: int
    peak: float
    peak_ts: int
    max_level: int
    side: int
    samples: int
    dose: float = 0.0

    @property
    def duration_s(self) -> float:
        """Time from the first to the last reading at or above the level [s]."""
        return (self.end_ts - self.start_ts) / 1e9

    def merged_with(self, later: Event) -> Event:
        """This event continued by ``later`` (the same run seen in the next batch)."""
        take_later_peak = (later.peak - self.peak) * self.side > 0
        return replace(
            self,
            end_ts=later.end_ts,
            peak=later.peak if take_later_peak else self.peak,
            peak_ts=later.peak_ts if take_later_peak else self.peak_ts,
            max_level=max(self.max_level, later.max_level),
            samples=self.samples + later.samples,
            dose=self.dose + later.dose,
        )


def _row(runs: EventRuns, row: int) -> Event:
    return Event(
        channel=int(runs.channel[row]),
        start_ts=int(runs.start_ts[row]),
        end_ts=int(runs.end_ts[row]),
        peak=float(runs.peak[row]),
        peak_ts=int(runs.peak_ts[row]),
        max_level=int(runs.max_level[row]),
        side=int(runs.side[row]),
        samples=int(runs.samples[row]),
        dose=float(runs.dose[row]) if len(runs.dose) else 0.0,
    )


@dataclass(slots=True)
class EventTracker:
    """Streaming event extraction: batches in, closed events out.

    Holds at most one open run per channel, so its state is bounded by the number of
    channels. Fed the batches of a stream in time order, it yields the same events
    as :func:`extract_events` over the whole stream (a test proves it).
    """

    min_level: int
    open_events: dict[int, Event] = field(default_factory=dict)

    def update(
        self,
        readings: Readings,
        level: NDArray[np.uint8],
        side: NDArray[np.int8],
        weight: NDArray[np.float64] | None = None,
        *,
        assume_sorted: bool = False,
    ) -> tuple[list[Event], list[Event]]:
        """Feed one batch; return (events that closed, events that opened).

        Opened events are those first seen in this batch, still open or not: they
        are what an alert is raised on. ``weight`` and ``assume_sorted`` are as for
        :func:`extract_events`.
        """
        runs = extract_events(
            readings, level, side, self.min_level, weight, assume_sorted=assume_sorted
        )
        present = _channels_with_values(readings, assume_sorted)
        continued: set[int] = set()
        closed: list[Event] = []
        opened: list[Event] = []
        # A loop per run, not per reading: runs are few.
        for row in range(len(runs)):
            event = _row(runs, row)
            previous = self.open_events.get(event.channel)
            if runs.open_start[row] and previous is not None and previous.side == event.side:
                event = previous.merged_with(event)
                continued.add(event.channel)
            else:
                if previous is not None:
                    # The open run ended before this one began.
                    closed.append(self.open_events.pop(event.channel))
                opened.append(event)
            if runs.open_end[row]:
                self.open_events[event.channel] = event
                continued.add(event.channel)
            else:
                self.open_events.pop(event.channel, None)
                closed.append(event)
        for channel in [int(number) for number in present]:
            previous = self.open_events.get(channel)
            if previous is not None and channel not in continued:
                closed.append(self.open_events.pop(channel))
        closed.sort(key=lambda event: (event.start_ts, event.channel))
        return closed, opened

    def flush(self) -> list[Event]:
        """Close every open event (end of the stream) and return them."""
        closed = sorted(
            self.open_events.values(), key=lambda event: (event.start_ts, event.channel)
        )
        self.open_events.clear()
        return closed


def _channels_with_values(readings: Readings, assume_sorted: bool) -> NDArray[np.intp]:
    """Channels with at least one valid (non-NaN) reading in the batch, ascending."""
    channel = readings.channel
    if len(channel) == 0:
        return np.empty(0, np.intp)
    no_value = np.flatnonzero(np.isnan(readings.value))
    if assume_sorted:
        # Each channel is one run of rows: its first row names it, and it counts
        # unless every row of the run is NaN (NaN rows counted per run).
        first = np.flatnonzero(np.r_[True, channel[1:] != channel[:-1]])
        present = channel[first].astype(np.intp)
        if len(no_value):
            sizes = np.diff(np.r_[first, len(channel)])
            nan_rows = np.bincount(
                np.searchsorted(first, no_value, side="right") - 1, minlength=len(first)
            )
            present = present[nan_rows < sizes]
        return present
    # All rows counted, minus the (few) NaN rows, rather than a copy of the valid
    # rows' channels.
    per_channel = np.bincount(channel)
    if len(no_value):
        per_channel -= np.bincount(channel[no_value], minlength=len(per_channel))
    return np.flatnonzero(per_channel)
