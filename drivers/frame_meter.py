"""Serial sensor modules sending binary frames (PMS5003/7003, SDS011, Winsen ZE).

:class:`FrameStreamMeter` reads a module that uploads frames on its own (a streaming
meter); :class:`WinsenQueryMeter` asks a Winsen module in question/answer mode (a
polled meter). Decoding is :mod:`hazmon.drivers.frames`; the port is
:class:`hazmon.drivers.serial_link.SerialLink`.

Nothing is dropped silently: a frame failing its checksum gives a row per channel
with NaN and ``CRC_ERROR``; a silent module gives ``COMM_TIMEOUT`` rows; a port that
fails gives ``COMM_ERROR`` rows while it is opened again with backoff. The stream
meter is a framer (:class:`FrameFramer`) and a link handed to the one streaming loop,
:func:`hazmon.drivers.stream.stream_results`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import numpy as np
from numpy.typing import NDArray

from hazmon.config.profile import FrameSection, Profile
from hazmon.config.quality import Quality
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import ChannelMapper, MappedMeter
from hazmon.drivers.errors import TransportConnectionError
from hazmon.drivers.frames import (
    WINSEN_QUESTION,
    WINSEN_TO_ACTIVE_MODE,
    WINSEN_TO_QUESTION_MODE,
    Frame,
    FrameDecoder,
)
from hazmon.drivers.serial_link import SerialLink, SerialStreamLink
from hazmon.drivers.stream import Decoded, Rejected, item_result, stream_results
from hazmon.retry import Backoff


def frame_section(profile: Profile) -> FrameSection:
    """The profile's ``[frame]`` section.

    Raises
    ------
    ValueError
        For a profile of another transport.
    """
    if profile.frame is None:
        raise ValueError(f"profile {profile.name} is a {profile.transport} profile, not [frame]")
    return profile.frame


def frame_values(section: FrameSection, frame: Frame) -> dict[str, float | None]:
    """Channel → raw value from a decoded frame, per the profile's field mapping."""
    return {f.channel: frame.values.get(f.field) for f in section.fields}


class FrameFramer:
    """The pure framer of a frame module: bytes in, decoded frames and checksum
    failures out, per the profile's field mapping.

    Attributes
    ----------
    decoder
        The frame decoder (its counters: checksum errors, skipped bytes).
    """

    def __init__(self, section: FrameSection) -> None:
        self.section = section
        self.decoder = FrameDecoder(section.format, section.gas_code)

    def feed(self, chunk: bytes) -> list[Decoded | Rejected]:
        """Frames completed by ``chunk``; a Rejected (CRC_ERROR row) per bad checksum."""
        frames, bad = self.decoder.feed(chunk)
        failed = f"{self.section.format} frame failed its checksum"
        items: list[Decoded | Rejected] = [Rejected(failed, Quality.CRC_ERROR)] * bad
        # An "answer" is a late answer to a question someone else asked.
        items += [
            Decoded(frame_values(self.section, frame)) for frame in frames if frame.kind != "answer"
        ]
        return items


class FrameStreamMeter(MappedMeter):
    """A module uploading frames on its own: PMS5003/7003, SDS011, Winsen active upload.

    Parameters
    ----------
    link
        Its serial port (owned: one module per port).
    profile
        A ``[frame]`` profile in ``mode = "active"``.
    channel_numbers
        Index of each profile channel in the pipeline's channel table.
    calibration_due
        After this date every reading gets CALIBRATION_DUE.
    silence_timeout : [s]
        No valid frame for this long gives a row of COMM_TIMEOUT.
    warmup : [s]
        Readings this soon after the port opens get WARMUP; the profile's by default.
    reconnect_initial, reconnect_max : [s]
        Backoff between attempts to open a failed port again.

    Attributes
    ----------
    decoder
        The frame decoder (its counters: checksum errors, skipped bytes).
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
        self.link = link
        self.section = frame_section(profile)
        self.mapper = ChannelMapper(
            profile, channel_numbers, calibration_due=calibration_due, warmup=warmup
        )
        self.channel_numbers = self.mapper.channel_numbers
        self.framer = FrameFramer(self.section)
        self.decoder = self.framer.decoder
        self.silence_timeout = silence_timeout
        self._backoff = Backoff(reconnect_initial, reconnect_max)
        # A module left in Q&A mode by another program would stay silent.
        greeting = WINSEN_TO_ACTIVE_MODE if self.section.format == "winsen_ze" else None
        self._stream_link = SerialStreamLink(link, greeting=greeting)

    @property
    def label(self) -> str:
        """The port, for messages."""
        return self.link.label

    def results(self) -> AsyncIterator[PollResult]:
        """Readings per valid frame; flagged rows for bad frames, silence and link faults."""
        return stream_results(
            self._stream_link,
            self.framer,
            self.mapper,
            silence_timeout=self.silence_timeout,
            backoff=self._backoff,
        )

    async def close(self) -> None:
        """Close the port."""
        self.link.close()


class WinsenQueryMeter(MappedMeter):
    """A Winsen ZE module in question/answer mode: each poll sends the question
    ``FF 01 86 00 00 00 00 00 79`` and decodes the answer.

    Parameters
    ----------
    link
        Its serial port.
    profile
        A ``[frame]`` profile with ``format = "winsen_ze"`` and ``mode = "query"``.
    channel_numbers, calibration_due, warmup
        As for :class:`FrameStreamMeter`.
    timeout : [s]
        How long to wait for the answer.
    """

    def __init__(
        self,
        link: SerialLink,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_due: dt.date | None = None,
        timeout: float = 1.0,
        warmup: float | None = None,
    ) -> None:
        self.link = link
        self.section = frame_section(profile)
        if self.section.format != "winsen_ze" or self.section.mode != "query":
            raise ValueError(f'profile {profile.name} is not format "winsen_ze", mode "query"')
        self.mapper = ChannelMapper(
            profile, channel_numbers, calibration_due=calibration_due, warmup=warmup
        )
        self.channel_numbers = self.mapper.channel_numbers
        self.timeout = timeout
        self.checksum_errors = 0

    @property
    def label(self) -> str:
        """The port, for messages."""
        return self.link.label

    async def poll(self, now_ns: int | None = None) -> PollResult:
        """Ask once; a missing, corrupted or unreadable answer gives flagged rows."""
        timestamp = time.time_ns() if now_ns is None else now_ns
        try:
            if not self.link.is_open:
                await self.link.open()
                self.mapper.start_warmup(timestamp)
                await self.link.write(WINSEN_TO_QUESTION_MODE)
            self.link.discard_input()
            await self.link.write(WINSEN_QUESTION)
            decoder = FrameDecoder("winsen_ze")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            while (remaining := deadline - loop.time()) > 0:
                frames, bad = decoder.feed(await self.link.read_some(remaining))
                answers = [frame for frame in frames if frame.kind == "answer"]
                if answers:
                    decoded = Decoded(frame_values(self.section, answers[0]))
                    return self._result(decoded, timestamp)
                if bad:
                    self.checksum_errors += bad
                    failed = Rejected("answer failed its checksum", Quality.CRC_ERROR)
                    return self._result(failed, timestamp)
        except TransportConnectionError as error:
            self.link.close()
            return self.mapper.failure(Quality.COMM_ERROR, timestamp, str(error))
        message = f"{self.label}: no answer within {self.timeout} s"
        return self.mapper.failure(Quality.COMM_TIMEOUT, timestamp, message)

    def _result(self, item: Decoded | Rejected, timestamp: int) -> PollResult:
        result = item_result(self.mapper, item, self.label, timestamp)
        assert result is not None  # a Winsen answer is either values or a CRC_ERROR row
        return result

    async def close(self) -> None:
        """Close the port."""
        self.link.close()
