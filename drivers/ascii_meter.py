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

import datetime as dt
import re
import time
from collections.abc import AsyncIterator

import numpy as np
from numpy.typing import NDArray

from hazmon.config.profile import AsciiSection, Profile
from hazmon.config.quality import Quality
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import ChannelMapper, MappedMeter
from hazmon.drivers.errors import TransportConnectionError
from hazmon.drivers.serial_link import SerialLink, SerialStreamLink
from hazmon.drivers.stream import Decoded, Rejected, item_result, stream_results
from hazmon.retry import Backoff


def ascii_section(profile: Profile) -> AsciiSection:
    """The profile's ``[ascii]`` section.

    Raises
    ------
    ValueError
        For a profile of another transport.
    """
    if profile.ascii is None:
        raise ValueError(f"profile {profile.name} is a {profile.transport} profile, not [ascii]")
    return profile.ascii


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


class _AsciiMeter(MappedMeter):
    def __init__(
        self,
        link: SerialLink,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_due: dt.date | None,
        warmup: float | None,
    ) -> None:
        self.link = link
        self.section = ascii_section(profile)
        self.framer = AsciiLineFramer(self.section)
        self.mapper = ChannelMapper(
            profile, channel_numbers, calibration_due=calibration_due, warmup=warmup
        )
        self.channel_numbers = self.mapper.channel_numbers
        self.terminator = self.section.terminator.encode("ascii")

    @property
    def label(self) -> str:
        """The port, for messages."""
        return self.link.label

    @property
    def rejected_lines(self) -> int:
        """Lines the pattern did not match."""
        return self.framer.rejected_lines

    async def close(self) -> None:
        """Close the port."""
        self.link.close()


class AsciiLineMeter(_AsciiMeter):
    """A meter printing a line per measurement (``mode = "stream"``).

    Parameters
    ----------
    link
        Its serial port.
    profile
        An ``[ascii]`` profile in ``mode = "stream"``.
    channel_numbers
        Index of each profile channel in the pipeline's channel table.
    calibration_due
        After this date every reading gets CALIBRATION_DUE.
    silence_timeout : [s]
        No line for this long gives a row of COMM_TIMEOUT.
    warmup : [s]
        Readings this soon after the port opens get WARMUP; the profile's by default.
    reconnect_initial, reconnect_max : [s]
        Backoff between attempts to open a failed port again.
    """

    def __init__(
        self,
        link: SerialLink,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_due: dt.date | None = None,
        silence_timeout: float = 5.0,
        warmup: float | None = None,
        reconnect_initial: float = 0.5,
        reconnect_max: float = 30.0,
    ) -> None:
        super().__init__(
            link, profile, channel_numbers, calibration_due=calibration_due, warmup=warmup
        )
        if self.section.mode != "stream":
            raise ValueError(f'profile {profile.name} is mode "{self.section.mode}", not "stream"')
        self.silence_timeout = silence_timeout
        self._backoff = Backoff(reconnect_initial, reconnect_max)
        self._stream_link = SerialStreamLink(link, terminator=self.terminator)

    def results(self) -> AsyncIterator[PollResult]:
        """A result per line; flagged rows for unreadable lines, silence, link faults."""
        return stream_results(
            self._stream_link,
            self.framer,
            self.mapper,
            silence_timeout=self.silence_timeout,
            backoff=self._backoff,
        )


class AsciiQueryMeter(_AsciiMeter):
    """A meter answering a command (``mode = "query"``): each poll sends ``command``
    and parses the answer line.

    Parameters
    ----------
    link, profile, channel_numbers, calibration_due, warmup
        As for :class:`AsciiLineMeter`; the profile is in ``mode = "query"``.
    timeout : [s]
        How long to wait for the answer; the profile's ``timeout`` by default.
    """

    def __init__(
        self,
        link: SerialLink,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_due: dt.date | None = None,
        timeout: float | None = None,
        warmup: float | None = None,
    ) -> None:
        super().__init__(
            link, profile, channel_numbers, calibration_due=calibration_due, warmup=warmup
        )
        if self.section.mode != "query" or self.section.command is None:
            raise ValueError(f'profile {profile.name} is mode "{self.section.mode}", not "query"')
        self.command = (self.section.command + self.section.command_terminator).encode(
            self.section.encoding
        )
        self.timeout = self.section.timeout if timeout is None else timeout

    async def poll(self, now_ns: int | None = None) -> PollResult:
        """Send the command once and parse the answer."""
        timestamp = time.time_ns() if now_ns is None else now_ns
        try:
            if not self.link.is_open:
                await self.link.open()
                self.mapper.start_warmup(timestamp)
            self.link.discard_input()  # a late answer to the previous poll
            await self.link.write(self.command)
            items: list[Decoded | Rejected] = []
            while not items:
                line = await self.link.read_until(self.terminator, self.timeout)
                if line is None:
                    break
                items = self.framer.feed(line)
        except TransportConnectionError as error:
            self.link.close()
            return self.mapper.failure(Quality.COMM_ERROR, timestamp, str(error))
        if not items:
            message = f"{self.label}: no answer to {self.section.command!r} within {self.timeout} s"
            return self.mapper.failure(Quality.COMM_TIMEOUT, timestamp, message)
        result = item_result(self.mapper, items[0], self.label, timestamp)
        assert result is not None  # a line gives values or a COMM_ERROR row
        return result
