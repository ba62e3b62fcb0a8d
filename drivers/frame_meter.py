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

from hazmon.config.profile import FrameSection, Profile
from hazmon.config.quality import Quality
from hazmon.drivers.base import transport_section
from hazmon.drivers.frames import (
    WINSEN_QUESTION,
    WINSEN_TO_ACTIVE_MODE,
    WINSEN_TO_QUESTION_MODE,
    Frame,
    FrameDecoder,
    WinsenRule,
)
from hazmon.drivers.serial_link import SerialQueryMeter, SerialStreamMeter
from hazmon.drivers.stream import Decoded, Framer, Rejected


def frame_section(profile: Profile) -> FrameSection:
    """The profile's ``[frame]`` section; ValueError for another transport's profile."""
    return transport_section(profile, profile.frame, "frame")


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
        rule = WinsenRule(section.gas_code, section.full_range, active=section.mode == "active")
        self.decoder = FrameDecoder(section.format, section.gas_code, rule)

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


class FrameStreamMeter(SerialStreamMeter):
    """A module uploading frames on its own: PMS5003/7003, SDS011, Winsen active upload.
    Built as :class:`~hazmon.drivers.serial_link.SerialStreamMeter` is, with a
    ``[frame]`` profile in ``mode = "active"``; the silence timeout is for valid frames.

    Attributes
    ----------
    decoder
        The frame decoder (its counters: checksum errors, skipped bytes).
    """

    def framing(self, profile: Profile) -> tuple[Framer[bytes], bytes | None, bytes | None]:
        """The frame framer; no terminator; the Winsen switch to upload mode."""
        self.section = frame_section(profile)
        framer = FrameFramer(self.section)
        self.decoder = framer.decoder
        # A module left in Q&A mode by another program would stay silent.
        greeting = WINSEN_TO_ACTIVE_MODE if self.section.format == "winsen_ze" else None
        return framer, None, greeting


class WinsenQueryMeter(SerialQueryMeter):
    """A Winsen ZE module in question/answer mode: each poll sends the question
    ``FF 01 86 00 00 00 00 00 79`` and decodes the answer.

    Built as :class:`~hazmon.drivers.serial_link.SerialQueryMeter` is, with a
    ``[frame]`` profile of ``format = "winsen_ze"`` and ``mode = "query"``; the answer
    is awaited 1 s by default.
    """

    def prepare(self, profile: Profile) -> float:
        """Check the profile is a Winsen query profile; 1 s to answer by default."""
        self.section = frame_section(profile)
        if self.section.format != "winsen_ze" or self.section.mode != "query":
            raise ValueError(f'profile {profile.name} is not format "winsen_ze", mode "query"')
        self.checksum_errors = 0
        self.greeting = WINSEN_TO_QUESTION_MODE
        self.question = WINSEN_QUESTION
        return 1.0

    async def answer(self) -> Decoded | Rejected | None:
        """The first answer frame; a CRC_ERROR rejection for a corrupted one."""
        decoder = FrameDecoder("winsen_ze")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while (remaining := deadline - loop.time()) > 0:
            frames, bad = decoder.feed(await self.link.read_some(remaining))
            answers = [frame for frame in frames if frame.kind == "answer"]
            if answers:
                return Decoded(frame_values(self.section, answers[0]))
            if bad:
                self.checksum_errors += bad
                return Rejected("answer failed its checksum", Quality.CRC_ERROR)
        return None
