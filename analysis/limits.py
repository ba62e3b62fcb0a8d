"""Instantaneous multi-level limits, evaluated over many channels at once.

Each channel gets the limit rule of its quantity (GB/T 50493-2019 §5.5.2 set points,
for the skeleton). Thresholds are laid out as a (channels × set points) matrix, so a
batch of any number of readings on any mix of channels is judged with a handful of
array operations and no Python loop per reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hazmon.config.standards import LimitRule

#: Reading levels (DESIGN.md): 0 normal, 1 pre-alarm / A1, 2 alarm / A2, 3 critical.
NORMAL, PRE_ALARM, ALARM, CRITICAL = 0, 1, 2, 3
LEVEL_NAMES = ("normal", "A1", "A2", "critical")

ABOVE, BELOW = np.int8(1), np.int8(-1)


@dataclass(frozen=True, slots=True)
class LimitTable:
    """Set points per channel as dense matrices (NaN where a channel has fewer).

    Attributes
    ----------
    thresholds : NDArray[np.float64]
        (channels, set points) threshold [canonical unit of the channel's quantity].
    levels : NDArray[np.uint8]
        (channels, set points) level a reading reaches when it passes the threshold.
    direction : NDArray[np.int8]
        (channels, set points) +1 for "at or above", -1 for "below", 0 for no set point.
    rules : tuple[LimitRule | None, ...]
        The rule applied to each channel, for citations.
    """

    thresholds: NDArray[np.float64]
    levels: NDArray[np.uint8]
    direction: NDArray[np.int8]
    rules: tuple[LimitRule | None, ...]

    @classmethod
    def build(cls, quantities: Sequence[str], rules: Mapping[str, LimitRule]) -> LimitTable:
        """Lay out the set points of ``rules`` for channels measuring ``quantities``.

        Parameters
        ----------
        quantities
            The quantity of each channel, indexed by channel number.
        rules
            The limit rule for each quantity; channels of other quantities get none.
        """
        channel_rules = tuple(rules.get(quantity) for quantity in quantities)
        width = max((len(rule.set_points) for rule in channel_rules if rule), default=0)
        width = max(width, 1)
        count = len(channel_rules)
        thresholds = np.full((count, width), np.nan)
        levels = np.zeros((count, width), dtype=np.uint8)
        direction = np.zeros((count, width), dtype=np.int8)
        for row, rule in enumerate(channel_rules):
            for column, point in enumerate(rule.set_points if rule else ()):
                thresholds[row, column] = point.value
                levels[row, column] = point.level
                direction[row, column] = ABOVE if point.direction == "above" else BELOW
        return cls(thresholds, levels, direction, channel_rules)

    def __len__(self) -> int:
        return len(self.rules)


def evaluate_levels(
    value: NDArray[np.float64], channel: NDArray[np.int32], table: LimitTable
) -> tuple[NDArray[np.uint8], NDArray[np.int8]]:
    """Level of every reading against its channel's set points.

    A reading reaches a level when it is at or above an "above" threshold, or
    strictly below a "below" threshold (oxygen deficiency, GB/T 50493-2019 §5.5.2);
    it takes the highest level it reaches. A NaN value (no reading) is level 0: its
    quality flag, not its level, says what is wrong.

    Parameters
    ----------
    value : [canonical unit]
        Reading values.
    channel
        Channel number of each reading (row of ``table``).
    table
        Set points per channel.

    Returns
    -------
    level : NDArray[np.uint8]
        0 normal, 1 A1, 2 A2, 3 critical.
    side : NDArray[np.int8]
        +1 when the level comes from an upper threshold, -1 from a lower one, 0 normal.
    """
    level = np.zeros(len(value), dtype=np.uint8)
    side = np.zeros(len(value), dtype=np.int8)
    # Most readings pass every set point: a reading can reach a level only at or above
    # its channel's lowest "above" threshold or below its highest "below" one, so the
    # per-column loop runs on those candidates alone (same result, far fewer rows).
    with np.errstate(invalid="ignore"):
        lowest_above = np.fmin.reduce(
            np.where(table.direction == ABOVE, table.thresholds, np.nan), axis=1
        )
        highest_below = np.fmax.reduce(
            np.where(table.direction == BELOW, table.thresholds, np.nan), axis=1
        )
        candidate = np.flatnonzero(
            (value >= lowest_above.take(channel)) | (value < highest_below.take(channel))
        )
    if len(candidate) == 0:
        return level, side
    value = value[candidate]
    channel = channel[candidate]
    found_level = np.zeros(len(candidate), dtype=np.uint8)
    found_side = np.zeros(len(candidate), dtype=np.int8)
    # A loop over set-point columns (a handful), each an array operation over all readings.
    for column in range(table.thresholds.shape[1]):
        threshold = np.take(table.thresholds[:, column], channel)
        direction = np.take(table.direction[:, column], channel)
        column_level = np.take(table.levels[:, column], channel)
        with np.errstate(invalid="ignore"):
            reached = np.where(direction == ABOVE, value >= threshold, value < threshold)
        reached &= direction != 0
        stronger = reached & (column_level > found_level)
        found_level = np.where(stronger, column_level, found_level)
        found_side = np.where(stronger, direction, found_side)
    level[candidate] = found_level
    side[candidate] = found_side
    return level, side
