"""What the reader returns: readings, their channel table and how they were read."""

from __future__ import annotations

from dataclasses import dataclass, field

from hazmon.acquisition.datalog.summary import NOT_STATED, ReadSummary
from hazmon.analysis.readings import Channel, ChannelTable, Readings


@dataclass(slots=True)
class Datalog:
    """Readings parsed from a datalog, with their channel table and how they were read."""

    source: str
    layout: str
    readings: Readings
    channels: ChannelTable
    blank_values: int = 0
    warnings: list[str] = field(default_factory=list)
    read: ReadSummary | None = None
    value_kinds: dict[tuple[str, str, str, str, str], str] = field(default_factory=dict)
    """Channel key → what one reading is (average, peak, ... or ``not stated``)."""

    def value_kind(self, channel: Channel) -> str:
        """What one reading of ``channel`` is."""
        return self.value_kinds.get(channel.key, NOT_STATED)
