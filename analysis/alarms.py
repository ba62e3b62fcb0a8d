"""Alarm state per channel.

:class:`LevelTracker` finds level transitions (what an alert is raised or cleared on);
:func:`alarm_levels` computes alarm levels with hysteresis, a minimum duration,
latching and acknowledgement, vectorised over many channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.limits import LimitTable
from hazmon.analysis.readings import Readings


@dataclass(frozen=True, slots=True)
class Transitions:
    """Readings whose level differs from the channel's previous level (columns)."""

    row: NDArray[np.intp]
    """Row of the reading in the batch it came from."""
    channel: NDArray[np.int32]
    previous_level: NDArray[np.uint8]
    level: NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.row)


@dataclass(slots=True)
class LevelTracker:
    """Keeps each channel's last level and finds where a batch changes it.

    Readings without a value keep the previous level: a silent meter is a
    communication fault, not the end of an alarm.
    """

    last_level: dict[int, int] = field(default_factory=dict)
    resumed_level: dict[int, int] = field(default_factory=dict)
    """A channel's level where a replay (:meth:`resume`) ended, until its first reading
    after it: an alarm announced before a restart and over by then is cleared by it."""

    def resume(self, readings: Readings, level: NDArray[np.uint8]) -> None:
        """Note where a replay of stored readings leaves each channel, announcing nothing.

        An alarm still in force at the first reading after it is raised again (the
        receivers and the new alert state learn it anew); one over by then is cleared,
        because the previous run announced it and nobody else will clear it.
        """
        _, channel, current = self._ordered(readings, level)
        if len(channel):
            last = np.r_[channel[1:] != channel[:-1], True]
            for number, value in zip(channel[last], current[last], strict=True):
                self.resumed_level[int(number)] = int(value)

    def _ordered(
        self, readings: Readings, level: NDArray[np.uint8]
    ) -> tuple[NDArray[np.intp], NDArray[np.int32], NDArray[np.uint8]]:
        """Rows with a value sorted by channel, then time; their channels and levels."""
        rows = np.flatnonzero(~np.isnan(readings.value))
        order = rows[np.lexsort((readings.ts[rows], readings.channel[rows]))]
        return order, readings.channel[order], level[order]

    def update(self, readings: Readings, level: NDArray[np.uint8]) -> Transitions:
        """Return the transitions in ``readings`` (sorted by channel, then time)."""
        order, channel, current = self._ordered(readings, level)
        previous = np.empty_like(current)
        if len(order):
            previous[1:] = current[:-1]
            first = np.ones(len(order), dtype=bool)
            first[1:] = channel[1:] != channel[:-1]
            previous[first] = [
                self._previous(int(number), int(value))
                for number, value in zip(channel[first], current[first], strict=True)
            ]
            last = np.r_[first[1:], True]
            for number, value in zip(channel[last], current[last], strict=True):
                self.last_level[int(number)] = int(value)
        changed = np.flatnonzero(current != previous)
        return Transitions(
            row=order[changed],
            channel=channel[changed],
            previous_level=previous[changed],
            level=current[changed],
        )

    def _previous(self, number: int, level: int) -> int:
        """The level a channel's first reading of a batch changes from."""
        resumed = self.resumed_level.pop(number, 0)
        if number in self.last_level:
            return self.last_level[number]
        # First reading since a replay: an alarm over by now is cleared from the level
        # the replay ended at; one still in force is raised again (from 0).
        return resumed if level == 0 else 0


# --------------------------------------------------------------------------------------
# Vectorised alarm state: hysteresis, minimum duration, latching, acknowledgement.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlarmPolicy:
    """How each set point of each channel raises and clears (channels × set points).

    Attributes
    ----------
    thresholds : [canonical unit]
        (channels, set points); NaN where a channel has fewer set points.
    levels : NDArray[np.uint8]
        Level each set point raises.
    direction : NDArray[np.int8]
        +1 raises at or above the threshold, −1 strictly below it, 0 unused.
    hysteresis : [canonical unit]
        An upper alarm clears below ``threshold − hysteresis`` (a lower alarm at or
        above ``threshold + hysteresis``); in between the state holds.
    min_duration_ns : [ns]
        The condition must hold this long before the alarm is raised.
    latch : NDArray[np.bool_]
        A latching alarm stays raised after the condition clears until acknowledged
        (GB/T 50493-2019 practice: the combustible A2 alarm latches).
    """

    thresholds: NDArray[np.float64]
    levels: NDArray[np.uint8]
    direction: NDArray[np.int8]
    hysteresis: NDArray[np.float64]
    min_duration_ns: NDArray[np.int64]
    latch: NDArray[np.bool_]

    @classmethod
    def from_limits(
        cls,
        table: LimitTable,
        *,
        hysteresis: float | NDArray[np.float64] = 0.0,
        min_duration_ns: int | NDArray[np.int64] = 0,
        latching: dict[str, frozenset[int]] | None = None,
    ) -> AlarmPolicy:
        """A policy from a :class:`LimitTable` (latching levels per quantity).

        By default the combustible-gas (``lel``) A2 level latches.
        """
        latching = DEFAULT_LATCHING if latching is None else latching
        shape = table.thresholds.shape
        latch = np.zeros(shape, bool)
        for row, rule in enumerate(table.rules):
            if rule is not None:
                levels = latching.get(rule.quantity, frozenset())
                latch[row] = np.isin(table.levels[row], list(levels)) & (table.direction[row] != 0)
        return cls(
            thresholds=table.thresholds,
            levels=table.levels,
            direction=table.direction,
            hysteresis=np.broadcast_to(np.asarray(hysteresis, dtype=np.float64), shape).copy(),
            min_duration_ns=np.broadcast_to(np.asarray(min_duration_ns, np.int64), shape).copy(),
            latch=latch,
        )


#: Levels that latch by quantity: the combustible-gas A2 alarm.
DEFAULT_LATCHING: dict[str, frozenset[int]] = {"lel": frozenset({2})}


@dataclass(frozen=True, slots=True)
class AlarmCarry:
    """Per-channel, per-set-point state carried from one batch to the next.

    Attributes
    ----------
    on : NDArray[np.bool_]
        The condition (after hysteresis) holds.
    since_ns : NDArray[np.int64]
        When it began to hold [ns] (meaningful where ``on``).
    active : NDArray[np.bool_]
        The alarm is raised by its condition (it held for the minimum duration).
    unacknowledged : NDArray[np.bool_]
        A latching alarm was raised and not acknowledged since.
    """

    on: NDArray[np.bool_]
    since_ns: NDArray[np.int64]
    active: NDArray[np.bool_]
    unacknowledged: NDArray[np.bool_]

    @classmethod
    def initial(cls, channels: int, set_points: int) -> AlarmCarry:
        """Nothing raised yet."""
        shape = (channels, set_points)
        return cls(
            np.zeros(shape, bool),
            np.zeros(shape, np.int64),
            np.zeros(shape, bool),
            np.zeros(shape, bool),
        )

    def padded(self, channels: int, set_points: int) -> AlarmCarry:
        """This state for a larger policy: the new channels and set points raise nothing."""
        grown = AlarmCarry.initial(channels, set_points)
        rows, columns = self.on.shape
        for mine, theirs in zip(
            (self.on, self.since_ns, self.active, self.unacknowledged),
            (grown.on, grown.since_ns, grown.active, grown.unacknowledged),
            strict=True,
        ):
            theirs[:rows, :columns] = mine
        return grown


def _fill_forward(
    marker: NDArray[np.bool_], channel_start_row: NDArray[np.intp]
) -> NDArray[np.intp]:
    """Row of the latest marked row at or before each row in the same channel; −1: none."""
    rows = np.where(marker, np.arange(len(marker)), -1)
    latest = np.maximum.accumulate(rows) if len(rows) else rows
    return np.where(latest >= channel_start_row, latest, -1)


@dataclass(frozen=True, slots=True)
class AlarmLevels:
    """Levels of a batch of readings (sorted by channel, then time) and the carry.

    Attributes
    ----------
    level : NDArray[np.uint8]
        The alarm shown at each reading: the highest level raised by its condition or
        latched (what alerts and the live view follow).
    condition : NDArray[np.uint8]
        The highest level whose condition holds (after hysteresis and the minimum
        duration), latching aside: what events and hazards follow.
    side : NDArray[np.int8]
        +1 where ``condition`` comes from an upper set point, −1 from a lower one.
    carry : AlarmCarry
        State to pass with the next batch.
    """

    level: NDArray[np.uint8]
    condition: NDArray[np.uint8]
    side: NDArray[np.int8]
    carry: AlarmCarry


def alarm_levels(
    ts: NDArray[np.int64],
    channel: NDArray[np.int32],
    value: NDArray[np.float64],
    policy: AlarmPolicy,
    acknowledged: NDArray[np.bool_] | None = None,
    carry: AlarmCarry | None = None,
) -> AlarmLevels:
    """Alarm and condition levels of every reading (hysteresis, minimum duration, latching).

    Vectorised: one pass of array operations per set-point column (a handful), with
    forward fills (``maximum.accumulate``) standing in for the state machine. Fed
    batches in time order with the returned carry, it gives the same levels as one
    call over the whole stream.

    Parameters
    ----------
    ts : [ns]
        Sorted by channel, then time.
    channel
        Channel of each reading (row of the policy).
    value : [canonical unit]
        NaN (no reading) keeps the state as it was.
    policy
        Set points and their behaviour.
    acknowledged
        True where the operator acknowledged the channel's alarms at this reading.
    carry
        State after the previous batch (default: nothing raised).
    """
    count = len(value)
    channels, columns = policy.thresholds.shape
    carry = carry or AlarmCarry.initial(channels, columns)
    on_out, since_out = carry.on.copy(), carry.since_ns.copy()
    active_out, unack_out = carry.active.copy(), carry.unacknowledged.copy()
    level = np.zeros(count, np.uint8)
    condition = np.zeros(count, np.uint8)
    side = np.zeros(count, np.int8)
    if count == 0:
        return AlarmLevels(
            level, condition, side, AlarmCarry(on_out, since_out, active_out, unack_out)
        )
    ack = np.zeros(count, bool) if acknowledged is None else acknowledged
    first = channel_starts_of(channel)
    start_row = np.maximum.accumulate(np.where(first, np.arange(count), 0))
    last = np.r_[first[1:], True]
    rows = np.arange(count)
    for column in range(columns):
        threshold = policy.thresholds[channel, column]
        direction = policy.direction[channel, column]
        band = policy.hysteresis[channel, column]
        with np.errstate(invalid="ignore"):
            raise_here = np.where(direction > 0, value >= threshold, value < threshold)
            clear_here = np.where(
                direction > 0, value < threshold - band, value >= threshold + band
            )
        raise_here &= direction != 0
        clear_here &= direction != 0
        decided = _fill_forward(raise_here | clear_here, start_row)
        initial_on = carry.on[channel, column]
        on = np.where(decided >= 0, raise_here[np.maximum(decided, 0)], initial_on)
        # When the current on-run began: the first row of the run, or the carried time.
        previous_on = np.r_[False, on[:-1]]
        previous_on[first] = initial_on[first]
        rising = on & ~previous_on
        rise_row = _fill_forward(rising, start_row)
        since = np.where(
            rise_row >= 0, ts[np.maximum(rise_row, 0)], carry.since_ns[channel, column]
        )
        active = on & (ts - since >= policy.min_duration_ns[channel, column])
        latch = policy.latch[channel, column]
        # Latching: raised from the first active reading until acknowledged while clear.
        previous_active = np.r_[False, active[:-1]]
        previous_active[first] = carry.active[channel[first], column]
        activation = active & ~previous_active
        last_activation = _fill_forward(activation, start_row)
        last_ack = _fill_forward(ack, start_row)
        carried_unack = carry.unacknowledged[channel, column]
        # Activation "before the batch" is row −0.5: any ack in the batch comes after it.
        activation_mark = np.where(
            last_activation >= 0,
            last_activation.astype(np.float64),
            np.where(carried_unack, -0.5, -2.0),
        )
        unacknowledged = (activation_mark > -1.0) & (last_ack.astype(np.float64) < activation_mark)
        raised = active | (latch & unacknowledged)
        column_level = policy.levels[channel, column]
        level = np.where(raised, np.maximum(level, column_level), level)
        stronger = active & (column_level > condition)
        condition = np.where(stronger, column_level, condition)
        side = np.where(stronger, direction, side)
        ends = rows[last]
        ch = channel[ends]
        on_out[ch, column] = on[ends]
        since_out[ch, column] = since[ends]
        active_out[ch, column] = active[ends]
        unack_out[ch, column] = (latch & unacknowledged)[ends]
    return AlarmLevels(level, condition, side, AlarmCarry(on_out, since_out, active_out, unack_out))


def channel_starts_of(channel: NDArray[np.int32]) -> NDArray[np.bool_]:
    """True at the first row of each channel (rows sorted by channel)."""
    first = np.ones(len(channel), dtype=bool)
    first[1:] = channel[1:] != channel[:-1]
    return first
