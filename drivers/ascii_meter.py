"""Serial meters speaking text, declared by a profile's ``[ascii]`` section.

A *stream* meter prints a line per measurement (:class:`AsciiLineMeter`, streaming);
a *query* meter answers a command such as ``MEAS?`` (:class:`AsciiQueryMeter`,
polled). Either way one regular expression with a named group per channel reads the
line (:func:`parse_line`): no parser is written per meter.

Nothing is dropped silently: a line the pattern does not match is counted, logged
and gives a row per channel with NaN and ``COMM_ERROR``; text in a group that is no
number (``----``, ``OL``) reads NaN with ``SENSOR_FAULT``.
"""

from __future__ import annotations

import re

from hazmon.config.profile import AsciiSection, Profile
from hazmon.config.quality import Quality
from hazmon.drivers.base import transport_section
from hazmon.drivers.serial_link import SerialQueryMeter, SerialStreamMeter
from hazmon.drivers.stream import Decoded, Framer, Rejected


def ascii_section(profile: Profile) -> AsciiSection:
    """The profile's ``[ascii]`` section; ValueError for another transport's profile."""
    return transport_section(profile, profile.ascii, "ascii")


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_line(
    section: AsciiSection, line: str, pattern: re.Pattern[str] | None = None
) -> dict[str, float | None] | None:
    """Channel → raw value read from ``line``, or None when the pattern does not
    match. A group holding no number gives None for its channel (a sensor fault)."""
    compiled = pattern or re.compile(section.pattern)
    match = compiled.search(line)
    if match is None:
        return None
    return {f.channel: _number(match.group(f.group_name)) for f in section.fields}


class AsciiLineFramer:
    """The pure framer of a text meter: one line (without its terminator) in, its
    values or a rejection out.

    Attributes
    ----------
    rejected_lines
        Lines the pattern did not match (each a COMM_ERROR row, logged).
    """

    def __init__(self, section: AsciiSection) -> None:
        self.section = section
        self.pattern = re.compile(section.pattern)
        self.rejected_lines = 0

    def feed(self, chunk: bytes) -> list[Decoded | Rejected]:
        """The values of a line; nothing for an empty line (CR LF sent as two
        terminators)."""
        if not chunk.strip():
            return []
        # Line noise may carry bytes no codec maps: replaced, the pattern still searches.
        text = chunk.decode(self.section.encoding, errors="replace")
        values = parse_line(self.section, text, self.pattern)
        if values is None:
            self.rejected_lines += 1
            message = f"line {text[:80]!r} does not match the profile's pattern"
            return [Rejected(message, Quality.COMM_ERROR)]
        return [Decoded(values)]


class AsciiLineMeter(SerialStreamMeter):
    """A meter printing a line per measurement. Built as
    :class:`~hazmon.drivers.serial_link.SerialStreamMeter` is, with an ``[ascii]``
    profile in ``mode = "stream"``; the silence timeout is for lines.

    Attributes
    ----------
    lines
        The line framer (its count of rejected lines).
    """

    def framing(self, profile: Profile) -> tuple[Framer[bytes], bytes | None, bytes | None]:
        """The line framer and the profile's terminator; no greeting."""
        self.section = ascii_section(profile)
        if self.section.mode != "stream":
            raise ValueError(f'profile {profile.name} is mode "{self.section.mode}", not "stream"')
        self.lines = AsciiLineFramer(self.section)
        return self.lines, self.section.terminator.encode("ascii"), None


class AsciiQueryMeter(SerialQueryMeter):
    """A meter answering a command (``mode = "query"``): each poll sends ``command``
    and parses the answer line. Built as
    :class:`~hazmon.drivers.serial_link.SerialQueryMeter` is; the answer is awaited
    the profile's ``timeout`` by default.

    Attributes
    ----------
    lines
        The line framer (its count of rejected lines).
    """

    def prepare(self, profile: Profile) -> float:
        """Check the profile is an ASCII query profile; its timeout by default."""
        self.section = ascii_section(profile)
        if self.section.mode != "query" or self.section.command is None:
            raise ValueError(f'profile {profile.name} is mode "{self.section.mode}", not "query"')
        self.lines = AsciiLineFramer(self.section)
        self.terminator = self.section.terminator.encode("ascii")
        self.question = (self.section.command + self.section.command_terminator).encode(
            self.section.encoding
        )
        return self.section.timeout

    async def answer(self) -> Decoded | Rejected | None:
        """The first line that is not empty, parsed."""
        while (line := await self.link.read_until(self.terminator, self.timeout)) is not None:
            items = self.lines.feed(line)
            if items:
                return items[0]
        return None
