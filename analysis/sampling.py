"""Irregular sampling: sample-and-hold with a maximum gap, and 1-minute bins.

A reading holds its value from its own time until the next reading of its channel,
for at most ``max_gap``; the rest of a longer silence is missing data, counted and
reported, never filled. The last reading of a channel holds for the interval before
it (capped the same way), as a datalogger's record stands for its logging interval;
a channel's only reading holds for no time. A reading without a value (NaN) holds
nothing: its interval is missing.

Minute bins (mean, min, max, count) are what portable detectors keep: exposure metrics
(STEL, TWA, L_EX,8h) are computed from their time integrals, so a stream's state is a
few hundred bins per channel, not hours of raw readings. Everything here works on
readings sorted by channel, then time, for many channels at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

NS_PER_S = 1_000_000_000
MINUTE_NS = 60 * NS_PER_S
#: Bits a bin key keeps for the minute number (minutes since 1970 fit in 2^32 until 10136).
KEY_SHIFT = 32


def channel_time_order(ts: NDArray[np.int64], channel: NDArray[np.int32]) -> NDArray[np.intp]:
    """Indices that sort rows by channel, then time (stable).

    A live stream arrives in time order with channels interleaved; then a stable sort
    on the channel alone suffices, and for fewer than 65,536 channels numpy does it as
    a radix sort (linear time) on 16-bit keys. Otherwise a full ``lexsort``.
    """
    if len(ts) == 0:
        return np.empty(0, np.intp)
    if np.all(ts[1:] >= ts[:-1]):
        low, high = int(channel.min()), int(channel.max())
        if low >= 0 and high < 65536:
            return np.argsort(channel.astype(np.uint16), kind="stable")
        return np.argsort(channel, kind="stable")
    return np.lexsort((ts, channel))


def is_channel_time_sorted(ts: NDArray[np.int64], channel: NDArray[np.int32]) -> bool:
    """True when rows are already sorted by channel, then time."""
    if len(ts) < 2:
        return True
    same = channel[1:] == channel[:-1]
    return bool(np.all(channel[1:] >= channel[:-1]) and np.all(ts[1:][same] >= ts[:-1][same]))


def channel_starts(channel: NDArray[np.int32]) -> NDArray[np.bool_]:
    """True at the first row of each channel (rows sorted by channel)."""
    first = np.ones(len(channel), dtype=bool)
    first[1:] = channel[1:] != channel[:-1]
    return first


def neighbour_times(
    ts: NDArray[np.int64], channel: NDArray[np.int32]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Previous and next time of the same channel (−1 where there is none).

    Parameters
    ----------
    ts : [ns]
        Sorted by channel, then time.
    channel
        Channel of each row.
    """
    first = channel_starts(channel)
    last = np.r_[first[1:], True] if len(first) else first
    previous = np.empty_like(ts)
    following = np.empty_like(ts)
    if len(ts):
        previous[1:] = ts[:-1]
        following[:-1] = ts[1:]
    previous[first] = -1
    following[last] = -1
    return previous, following


def hold_durations(
    ts: NDArray[np.int64],
    previous_ts: NDArray[np.int64],
    next_ts: NDArray[np.int64],
    max_gap_ns: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """How long each reading's value holds, and how much of its interval is missing.

    Parameters
    ----------
    ts : [ns]
        Reading times.
    previous_ts, next_ts : [ns]
        Neighbouring reading times of the same channel, −1 where there is none.
    max_gap_ns : [ns]
        Longest time a value is held.

    Returns
    -------
    hold : [ns]
        ``min(next − ts, max_gap)``; for a channel's last reading
        ``min(ts − previous, max_gap)``; 0 for a lone reading.
    missing : [ns]
        ``next − ts − hold`` where positive (the unfilled part of a gap), else 0.
    """
    interval = np.where(next_ts >= 0, next_ts - ts, np.where(previous_ts >= 0, ts - previous_ts, 0))
    hold = np.minimum(interval, max_gap_ns)
    missing = np.where(next_ts >= 0, interval - hold, 0)
    return hold.astype(np.int64), missing.astype(np.int64)


@dataclass(frozen=True, slots=True)
class MinuteBins:
    """Per-channel 1-minute bins, sorted by channel then minute (one row per bin).

    Only minutes that some held value or reading touches have a bin; a minute without
    one counts as zero exposure (portable detectors count missing minutes as 0).

    Attributes
    ----------
    channel : NDArray[np.int32]
    minute : NDArray[np.int64]
        Minutes since 1970-01-01 UTC.
    integral : NDArray[np.float64]
        Time integral of the held integrand over the minute [integrand unit · s].
    covered : NDArray[np.float64]
        Time covered by held values [s].
    minimum, maximum : NDArray[np.float64]
        Extremes of the readings taken in the minute (NaN without any) [unit].
    count : NDArray[np.int64]
        Readings with a value taken in the minute.
    """

    channel: NDArray[np.int32]
    minute: NDArray[np.int64]
    integral: NDArray[np.float64]
    covered: NDArray[np.float64]
    minimum: NDArray[np.float64]
    maximum: NDArray[np.float64]
    count: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def key(self) -> NDArray[np.int64]:
        """``channel << 32 | minute``: sorts like (channel, minute)."""
        return bin_key(self.channel, self.minute)

    @property
    def mean(self) -> NDArray[np.float64]:
        """Time-weighted mean of the held integrand in each bin (NaN where uncovered)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.covered > 0, self.integral / self.covered, np.nan)

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> MinuteBins:
        """Bins selected by an index or mask."""
        return MinuteBins(
            self.channel[index],
            self.minute[index],
            self.integral[index],
            self.covered[index],
            self.minimum[index],
            self.maximum[index],
            self.count[index],
        )

    @classmethod
    def empty(cls) -> MinuteBins:
        """No bins."""
        return cls(
            np.empty(0, np.int32),
            np.empty(0, np.int64),
            np.empty(0),
            np.empty(0),
            np.empty(0),
            np.empty(0),
            np.empty(0, np.int64),
        )

    @classmethod
    def concat(cls, parts: list[MinuteBins]) -> MinuteBins:
        """Join bins end to end (no sorting or merging)."""
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([part.channel for part in parts]),
            np.concatenate([part.minute for part in parts]),
            np.concatenate([part.integral for part in parts]),
            np.concatenate([part.covered for part in parts]),
            np.concatenate([part.minimum for part in parts]),
            np.concatenate([part.maximum for part in parts]),
            np.concatenate([part.count for part in parts]),
        )


def bin_key(channel: NDArray[np.int32], minute: NDArray[np.int64]) -> NDArray[np.int64]:
    """``channel << 32 | minute`` as int64."""
    return (channel.astype(np.int64) << KEY_SHIFT) + minute


def minute_bins(
    ts: NDArray[np.int64],
    channel: NDArray[np.int32],
    value: NDArray[np.float64],
    hold_ns: NDArray[np.int64],
    integrand: NDArray[np.float64] | None = None,
) -> MinuteBins:
    """Split held values into 1-minute bins, for every channel at once.

    A held interval ``[ts, ts + hold)`` crossing minute boundaries is cut at them
    (no loop: each interval is repeated once per minute it touches).

    Parameters
    ----------
    ts : [ns]
        Reading times, sorted by channel, then time.
    channel
        Channel of each reading.
    value : [unit]
        Reading values (NaN: no value); give min, max and count.
    hold_ns : [ns]
        From :func:`hold_durations`.
    integrand : [integrand unit], optional
        What is integrated over time (default ``value``): clamped concentrations, or
        sound energy ``10^(0.1 L)`` for noise.
    """
    if len(ts) == 0:
        return MinuteBins.empty()
    integrand = value if integrand is None else integrand
    count = len(ts)
    first_minute = ts // MINUTE_NS
    end = ts + hold_ns
    boundary = (first_minute + 1) * MINUTE_NS
    # Most held intervals end inside their own minute: every reading gets its first
    # piece directly, and only the few crossing a minute boundary get more pieces.
    crossing = np.flatnonzero(end > boundary)
    seconds = (np.minimum(end, boundary) - ts) / NS_PER_S
    contribution = integrand * seconds
    no_value = np.flatnonzero(np.isnan(integrand))
    contribution[no_value] = 0.0
    # ``seconds`` itself becomes the covered time (it is not needed afterwards).
    covered = seconds
    covered[no_value] = 0.0
    first_key = bin_key(channel, first_minute)
    # A reading's own minute bin: readings with the same first key share it.
    group_start = np.flatnonzero(np.r_[True, first_key[1:] != first_key[:-1]])
    if len(crossing) == 0:
        position = np.arange(count)
        starts = group_start
        piece_contribution, piece_covered = contribution, covered
        bin_channel, bin_minute = channel[starts], first_minute[starts]
    else:
        extra = (end[crossing] - 1) // MINUTE_NS - first_minute[crossing]
        # Pieces in time order (a reading's first piece, then its later ones), so each
        # bin's sum adds the same numbers in the same order as piece-by-piece code.
        shift = np.zeros(count, np.int64)
        shift[crossing[crossing + 1 < count] + 1] = extra[crossing + 1 < count]
        position = np.arange(count) + np.cumsum(shift)
        reading = np.repeat(crossing, extra)
        offsets = np.arange(len(reading)) - np.repeat(np.cumsum(extra) - extra, extra) + 1
        minute = first_minute[reading] + offsets
        piece_seconds = (
            np.minimum(end[reading], (minute + 1) * MINUTE_NS) - minute * MINUTE_NS
        ) / NS_PER_S
        held = integrand[reading]
        has_value = ~np.isnan(held)
        pieces = count + len(reading)
        piece_contribution = np.empty(pieces)
        piece_covered = np.empty(pieces)
        piece_contribution[position] = contribution
        piece_covered[position] = covered
        later = position[reading] + offsets
        piece_contribution[later] = np.where(has_value, held * piece_seconds, 0.0)
        piece_covered[later] = np.where(has_value, piece_seconds, 0.0)
        # A first piece opens a bin unless the previous piece (the last one of the
        # previous reading) has its key; every later piece opens one.
        last_key = first_key.copy()
        last_key[crossing] += extra
        opens = np.r_[True, first_key[1:] != last_key[:-1]]
        opening = np.flatnonzero(opens)
        start_position = np.concatenate([position[opening], later])
        by_position = np.argsort(start_position, kind="stable")
        starts = start_position[by_position]
        bin_channel = np.concatenate([channel[opening], channel[reading]])[by_position]
        bin_minute = np.concatenate([first_minute[opening], minute])[by_position]
    bins = len(starts)
    minimum = np.full(bins, np.nan)
    maximum = np.full(bins, np.nan)
    counts = np.zeros(bins, np.int64)
    groups = np.searchsorted(starts, position[group_start], side="right") - 1
    minimum[groups] = np.fmin.reduceat(value, group_start)
    maximum[groups] = np.fmax.reduceat(value, group_start)
    sizes = np.diff(np.r_[group_start, count])
    missing_values = np.flatnonzero(np.isnan(value))
    if len(missing_values):
        sizes -= np.bincount(
            np.searchsorted(group_start, missing_values, side="right") - 1,
            minlength=len(group_start),
        )
    counts[groups] = sizes
    return MinuteBins(
        channel=bin_channel,
        minute=bin_minute,
        integral=np.add.reduceat(piece_contribution, starts),
        covered=np.add.reduceat(piece_covered, starts),
        minimum=minimum,
        maximum=maximum,
        count=counts,
    )


def merge_bins(bins: MinuteBins) -> MinuteBins:
    """Merge rows with the same (channel, minute): sums, extremes and counts combine."""
    if len(bins) == 0:
        return bins
    order = np.argsort(bins.key, kind="stable")
    ordered = bins.take(order)
    key = ordered.key
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    if len(starts) == len(ordered):
        return ordered
    return MinuteBins(
        channel=ordered.channel[starts],
        minute=ordered.minute[starts],
        integral=np.add.reduceat(ordered.integral, starts),
        covered=np.add.reduceat(ordered.covered, starts),
        minimum=np.fmin.reduceat(ordered.minimum, starts),
        maximum=np.fmax.reduceat(ordered.maximum, starts),
        count=np.add.reduceat(ordered.count, starts),
    )


def window_sums(
    key: NDArray[np.int64],
    x: NDArray[np.float64],
    width: int,
    at: NDArray[np.intp] | None = None,
) -> NDArray[np.float64]:
    """Sum of ``x`` over the ``width`` minutes ending at each bin (its own included).

    Bins are sparse: a minute without a bin adds nothing. With keys from
    :func:`bin_key` a window never reaches into another channel.

    Parameters
    ----------
    key
        Sorted bin keys.
    x
        Value per bin.
    width : [min]
        Window length.
    at
        Only the sums of these bins (increasing positions), when given: a stream
        needs them for its new bins alone, not for the window's worth kept before.
    """
    if at is None:
        at = np.arange(len(key))
    if len(key) == 0 or len(at) == 0:
        return np.empty(len(at))
    start = np.searchsorted(key, key[at] - (width - 1), side="left")
    channel = key >> KEY_SHIFT
    bounds = np.flatnonzero(np.r_[True, channel[1:] != channel[:-1], True])
    # One cumulative sum per channel: a running sum across channels would carry one
    # channel's magnitude (sound energy reaches 1e14) into another's differences and
    # cancel its digits away.
    begins, lengths = bounds[:-1], np.diff(bounds)
    rows, widest = len(lengths), int(lengths.max())
    if rows * (widest + 1) <= 2 * len(key) + 4096:
        # Channels as the rows of a zero-padded matrix: cumsum along rows is the same
        # sequential sum per channel as one np.cumsum each, without a Python loop
        # over channels (trailing padding never enters a row's prefix sums).
        row = np.repeat(np.arange(rows), lengths)
        column = np.arange(len(key)) - np.repeat(begins, lengths)
        padded = np.zeros((rows, widest))
        padded[row, column] = x
        cumulative_rows = np.zeros((rows, widest + 1))
        np.cumsum(padded, axis=1, out=cumulative_rows[:, 1:])
        row_at = row[at]
        ending: NDArray[np.float64] = cumulative_rows[row_at, column[at] + 1]
        before: NDArray[np.float64] = cumulative_rows[row_at, start - begins[row_at]]
        return ending - before
    # Very uneven channels would make the matrix mostly padding: a loop over channels
    # (not readings) instead.
    sums = np.empty(len(key))
    cumulative = np.zeros(len(key) + 1)
    start_all = np.zeros(len(key), np.intp)
    start_all[at] = start
    for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        # cumulative[begin] stays 0: this channel's running sum starts afresh.
        np.cumsum(x[begin:end], out=cumulative[begin + 1 : end + 1])
        cumulative[begin] = 0.0
        sums[begin:end] = cumulative[begin + 1 : end + 1] - cumulative[start_all[begin:end]]
    return sums[at]


def segment_max(group: NDArray[np.int32], x: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Maximum of ``x`` per group (rows sorted by group; NaN for groups without rows)."""
    out = np.full(size, np.nan)
    if len(group):
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        out[group[starts]] = np.fmax.reduceat(x, starts)
    return out
