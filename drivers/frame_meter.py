"""Serial sensor modules sending binary frames (PMS5003/7003, SDS011, Winsen ZE).

:class:`FrameStreamMeter` reads a module that uploads frames on its own (a streaming
meter); :class:`WinsenQueryMeter` asks a Winsen module in question/answer mode (a
polled meter). Decoding is :mod:`hazmon.drivers.frames`; the port is
:class:`hazmon.drivers.serial_link.SerialLink`.

Nothing is dropped silently: a frame failing its checksum gives a row per channel
with NaN and ``CRC_ERROR``; a silent module gives ``COMM_TIMEOUT`` rows; a port that
fails gives ``COMM_ERROR`` rows while it is opened again with backoff.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator

import numpy as np
from numpy.typing import NDArray

from hazmon.config.profile import FrameSection, Profile
from hazmon.config.quality import Quality
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import ChannelMapper
from hazmon.drivers.errors import TransportConnectionError
from hazmon.drivers.frames import (
    WINSEN_QUESTION,
    WINSEN_TO_ACTIVE_MODE,
    WINSEN_TO_QUESTION_MODE,
    Frame,
    FrameDecoder,
)
from hazmon.drivers.schedule import Backoff
from hazmon.drivers.serial_link import SerialLink

log = logging.getLogger(__name__)


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


def _result(readings_source: ChannelMapper, flag: Quality, message: str) -> PollResult:
    return PollResult(readings_source.failed(flag, time.time_ns()), None, (message,), ())


class FrameStreamMeter:
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
            profile,
            channel_numbers,
            calibration_due=calibration_due,
            warmup=profile.calibration.warmup_seconds if warmup is None else warmup,
        )
        self.channel_numbers = self.mapper.channel_numbers
        self.decoder = FrameDecoder(self.section.format, self.section.gas_code)
        self.silence_timeout = silence_timeout
        self._backoff = Backoff(reconnect_initial, reconnect_max)

    @property
    def label(self) -> str:
        """The port, for messages."""
        return self.link.label

    async def _open(self) -> None:
        await self.link.open()
        self.mapper.start_warmup()
        if self.section.format == "winsen_ze":
            # A module left in Q&A mode by another program would stay silent.
            await self.link.write(WINSEN_TO_ACTIVE_MODE)

    async def results(self) -> AsyncIterator[PollResult]:
        """Readings per valid frame; flagged rows for bad frames, silence and link faults."""
        while True:
            try:
                if not self.link.is_open:
                    await self._open()
                    self._backoff.success()
                data = await self.link.read_some(self.silence_timeout)
            except TransportConnectionError as error:
                self.link.close()
                yield _result(self.mapper, Quality.COMM_ERROR, str(error))
                await asyncio.sleep(self._backoff.failure())
                continue
            if not data:
                yield _result(
                    self.mapper,
                    Quality.COMM_TIMEOUT,
                    f"{self.label}: no frame within {self.silence_timeout} s",
                )
                continue
            frames, bad = self.decoder.feed(data)
            for _ in range(bad):
                log.warning("%s: %s frame failed its checksum", self.label, self.section.format)
                yield _result(self.mapper, Quality.CRC_ERROR, f"{self.label}: checksum error")
            for frame in frames:
                if frame.kind == "answer":
                    continue  # a late answer to a question someone else asked
                yield PollResult(
                    self.mapper.readings(frame_values(self.section, frame), time.time_ns()),
                    None,
                    (),
                    (),
                )

    def close(self) -> None:
        """Close the port."""
        self.link.close()


class WinsenQueryMeter:
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
            profile,
            channel_numbers,
            calibration_due=calibration_due,
            warmup=profile.calibration.warmup_seconds if warmup is None else warmup,
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
                    readings = self.mapper.readings(
                        frame_values(self.section, answers[0]), timestamp
                    )
                    return PollResult(readings, None, (), ())
                if bad:
                    self.checksum_errors += bad
                    message = f"{self.label}: answer failed its checksum"
                    log.warning("%s", message)
                    return PollResult(
                        self.mapper.failed(Quality.CRC_ERROR, timestamp), None, (message,), ()
                    )
        except TransportConnectionError as error:
            self.link.close()
            return PollResult(
                self.mapper.failed(Quality.COMM_ERROR, timestamp), None, (str(error),), ()
            )
        message = f"{self.label}: no answer within {self.timeout} s"
        return PollResult(self.mapper.failed(Quality.COMM_TIMEOUT, timestamp), None, (message,), ())

    def close(self) -> None:
        """Close the port."""
        self.link.close()
