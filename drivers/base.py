"""What every meter driver gives the acquisition layer, whatever its transport.

A meter is either *polled* (asked on a schedule: Modbus, query/response ASCII) or
*streaming* (it talks when it likes: active-upload serial frames, MQTT). Both hand
over :class:`PollResult` objects: readings with their quality flags, plus what went
wrong, so that the scheduler, the pipeline and the health records treat every meter
alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Readings
from hazmon.config.profile import Profile
from hazmon.config.quality import Quality

SectionT = TypeVar("SectionT")


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll produced."""

    readings: Readings
    status_word: int | None
    errors: tuple[str, ...]
    """One message per failed request (address, unit id, what went wrong)."""
    exception_codes: tuple[int, ...]
    """Modbus exception codes answered by the meter, kept for diagnosis."""
    texts: dict[str, str] = field(default_factory=dict)
    """The profile's string fields (model, serial number), when read."""

    @property
    def silent(self) -> bool:
        """Whether the meter did not answer at all (every block timed out)."""
        flags = self.readings.quality
        return bool(len(flags)) and bool(np.all(flags & np.uint16(Quality.COMM_TIMEOUT)))


@runtime_checkable
class PolledMeter(Protocol):
    """A meter asked for its readings (one reading per channel per poll)."""

    channel_numbers: NDArray[np.int32]

    @property
    def label(self) -> str:
        """Where the meter is, for messages (``address unit N``)."""
        ...

    async def poll(self, now_ns: int | None = None) -> PollResult:
        """Ask once; never raises for a meter or link fault (rows get flags instead)."""
        ...


@runtime_checkable
class StreamingMeter(Protocol):
    """A meter that sends readings when it likes."""

    channel_numbers: NDArray[np.int32]

    @property
    def label(self) -> str:
        """Where the meter is, for messages."""
        ...

    def results(self) -> AsyncIterator[PollResult]:
        """Readings as they arrive, until the caller stops iterating; link faults are
        yielded as flagged rows, reconnection is the meter's own business."""
        ...


def transport_section(profile: Profile, section: SectionT | None, name: str) -> SectionT:
    """The profile's ``[name]`` section (``section``, read from it by the caller).

    Raises
    ------
    ValueError
        For a profile of another transport.
    """
    if section is None:
        raise ValueError(f"profile {profile.name} is a {profile.transport} profile, not [{name}]")
    return section
