"""Level transitions per channel: what an alert is raised (or cleared) on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

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

    def update(self, readings: Readings, level: NDArray[np.uint8]) -> Transitions:
        """Return the transitions in ``readings`` (sorted by channel, then time)."""
        rows = np.flatnonzero(~np.isnan(readings.value))
        order = rows[np.lexsort((readings.ts[rows], readings.channel[rows]))]
        channel = readings.channel[order]
        current = level[order]
        previous = np.empty_like(current)
        if len(order):
            previous[1:] = current[:-1]
            first = np.ones(len(order), dtype=bool)
            first[1:] = channel[1:] != channel[:-1]
            previous[first] = [self.last_level.get(int(number), 0) for number in channel[first]]
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
