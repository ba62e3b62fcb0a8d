"""The one streaming loop: a link, a pure framer and the mapper.

Every meter that talks when it likes (binary frames on a serial port, text lines,
JSON over MQTT) is read the same way. A *link* opens, hands over chunks (bytes, a
line, an MQTT message) and closes; a *framer* is pure, turning each chunk into
decoded raw values or counted rejections; the mapper
(:class:`hazmon.drivers.channel_values.ChannelMapper`) makes readings of them.
:func:`stream_results` owns what is common:

- reconnection with the one backoff (:class:`hazmon.retry.Backoff`): a link that
  fails to open or breaks gives a row of ``COMM_ERROR`` and is opened again after a
  jittered, doubling wait;
- silence: no reading (nor rejection) for ``silence_timeout`` gives a row of
  ``COMM_TIMEOUT``, and another after each further ``silence_timeout``;
- warm-up starting when the link opens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, Unpack

import numpy as np
from numpy.typing import NDArray

from hazmon.config.profile import Profile
from hazmon.config.quality import Quality
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import ChannelMapper, MappedMeter, MeterOptions
from hazmon.drivers.errors import TransportError
from hazmon.retry import Backoff

log = logging.getLogger(__name__)

ChunkT = TypeVar("ChunkT")
ChunkT_co = TypeVar("ChunkT_co", covariant=True)
ChunkT_contra = TypeVar("ChunkT_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Decoded:
    """Raw values a framer read from a chunk.

    Attributes
    ----------
    values
        Channel → raw value (None: a sensor fault).
    ts_ns : [ns UTC]
        When they were measured (a payload's own timestamp); None: when they arrived.
    arrived_ns : [ns UTC]
        When they reached hazmon (an MQTT message's arrival); None: now.
    clock_invalid
        The chunk carried a timestamp that cannot be read as a time.
    """

    values: Mapping[str, float | None]
    ts_ns: int | None = None
    arrived_ns: int | None = None
    clock_invalid: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """A chunk, or part of one, that gave no values.

    Attributes
    ----------
    message
        What was wrong, for the log and the result's errors.
    flag
        The flag of the row of NaN it gives (CRC_ERROR, COMM_ERROR); None for a
        message that is only counted and logged (a malformed MQTT payload).
    """

    message: str
    flag: Quality | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that gave no values, kept as it came so that someone can look at it.

    Attributes
    ----------
    source
        Where it came from (an MQTT topic).
    received_ns : [ns UTC]
        When it arrived.
    reason
        Why it could not be read.
    payload
        The message (its first :data:`DEAD_LETTER_BYTES`).
    """

    source: str
    received_ns: int
    reason: str
    payload: bytes


#: Bytes of a dead letter kept [bytes]: enough to see what a sender got wrong.
DEAD_LETTER_BYTES = 65_536


class StreamLink(Protocol[ChunkT_co]):
    """Where a streaming meter's chunks come from: a serial port, an MQTT session."""

    @property
    def label(self) -> str:
        """Where the meter is, for messages."""
        ...

    async def open(self) -> None:
        """Open (again); raises :class:`hazmon.drivers.errors.TransportError`."""
        ...

    async def read(self, timeout: float) -> ChunkT_co | None:
        """The next chunk, or None when none came within ``timeout`` [s]; raises
        :class:`hazmon.drivers.errors.TransportError` when the link broke."""
        ...

    async def close(self) -> None:
        """Close (idempotent)."""
        ...


class Framer(Protocol[ChunkT_contra]):
    """Pure decoding of chunks: no I/O, no clock."""

    def feed(self, chunk: ChunkT_contra) -> Sequence[Decoded | Rejected]:
        """What ``chunk`` (after what earlier chunks left over) holds, in order."""
        ...


def item_result(
    mapper: ChannelMapper, item: Decoded | Rejected, label: str, now_ns: int
) -> PollResult | None:
    """The result of one framer output: readings, a flagged row, or None (a rejection
    that is only counted and logged).

    Parameters
    ----------
    now_ns : [ns UTC]
        When it arrived (a query meter: when the poll started); the readings' time
        unless the framer read one from the chunk.
    """
    if isinstance(item, Rejected):
        log.warning("%s: %s", label, item.message)
        if item.flag is None:
            return None
        return mapper.failure(item.flag, now_ns, f"{label}: {item.message}")
    readings = mapper.readings(
        item.values,
        now_ns if item.ts_ns is None else item.ts_ns,
        arrived_ns=now_ns if item.arrived_ns is None else item.arrived_ns,
        clock_invalid=item.clock_invalid,
    )
    return PollResult(readings, None, (), ())


def _chunk_results(
    framer: Framer[ChunkT], mapper: ChannelMapper, chunk: ChunkT | None, label: str
) -> list[PollResult | None]:
    """The results of one chunk (None for each counted rejection); never raises.

    A framer or the mapper failing on a chunk nobody foresaw must cost that chunk
    only, never the meter's task: it becomes one COMM_ERROR row and a log line.
    """
    if chunk is None:
        return []
    try:
        return [item_result(mapper, item, label, time.time_ns()) for item in framer.feed(chunk)]
    except Exception as error:  # the last guard of a task's loop
        message = f"{label}: chunk could not be decoded: {type(error).__name__}: {error}"
        log.error("%s", message)
        return [mapper.failure(Quality.COMM_ERROR, time.time_ns(), message)]


async def stream_results(
    link: StreamLink[ChunkT],
    framer: Framer[ChunkT],
    mapper: ChannelMapper,
    *,
    silence_timeout: float,
    backoff: Backoff,
) -> AsyncIterator[PollResult]:
    """Results of a streaming meter, for as long as the caller iterates.

    Parameters
    ----------
    link
        The meter's link; opened here, again after each failure.
    framer
        Decodes each chunk.
    mapper
        Makes readings of the raw values; its warm-up starts at each opening.
    silence_timeout : [s]
        No reading for this long gives a row of COMM_TIMEOUT.
    backoff
        Waits between attempts to open a failed link.
    """
    loop = asyncio.get_running_loop()
    opened = False
    deadline = 0.0
    while True:
        try:
            if not opened:
                await link.open()
                opened = True
                mapper.start_warmup()
                deadline = loop.time() + silence_timeout
            chunk = await link.read(max(0.0, deadline - loop.time()))
            # Only a link that also reads is back: one failing at its first read
            # (a port that opens, then errors) keeps backing off.
            backoff.success()
        except TransportError as error:
            opened = False
            await link.close()
            yield mapper.failure(Quality.COMM_ERROR, time.time_ns(), str(error))
            await asyncio.sleep(backoff.failure())
            continue
        for result in _chunk_results(framer, mapper, chunk, link.label):
            deadline = loop.time() + silence_timeout
            if result is not None:
                yield result
        if loop.time() >= deadline:
            deadline = loop.time() + silence_timeout
            message = f"{link.label}: nothing within {silence_timeout} s"
            yield mapper.failure(Quality.COMM_TIMEOUT, time.time_ns(), message)


class StreamOptions(MeterOptions, total=False):
    """What a site says about a streaming meter, besides :class:`MeterOptions`.

    Attributes
    ----------
    silence_timeout : [s]
        No reading for this long gives a row of COMM_TIMEOUT; 5 s by default.
    reconnect_initial, reconnect_max : [s]
        Backoff between attempts to open a failed link again; 0.5 s doubling to
        30 s by default.
    """

    silence_timeout: float
    reconnect_initial: float
    reconnect_max: float


class StreamMeter(MappedMeter, Generic[ChunkT]):
    """A streaming meter: its link and framer, read by :func:`stream_results`.

    Parameters
    ----------
    link
        Where the chunks come from.
    framer
        What decodes them.
    profile, channel_numbers
        As for :class:`~hazmon.drivers.channel_values.MappedMeter`.
    options
        See :class:`StreamOptions`.
    """

    def __init__(
        self,
        link: StreamLink[ChunkT],
        framer: Framer[ChunkT],
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        **options: Unpack[StreamOptions],
    ) -> None:
        super().__init__(
            profile,
            channel_numbers,
            calibration_expires_ns=options.get("calibration_expires_ns"),
            warmup=options.get("warmup"),
        )
        self.stream_link = link
        self.framer = framer
        self.silence_timeout = options.get("silence_timeout", 5.0)
        self.backoff = Backoff(
            options.get("reconnect_initial", 0.5), options.get("reconnect_max", 30.0)
        )

    @property
    def label(self) -> str:
        """Where the meter is, for messages."""
        return self.stream_link.label

    def results(self) -> AsyncIterator[PollResult]:
        """Readings as they come; flagged rows for rejected chunks, silence and link
        faults (see :func:`stream_results`)."""
        return stream_results(
            self.stream_link,
            self.framer,
            self.mapper,
            silence_timeout=self.silence_timeout,
            backoff=self.backoff,
        )

    async def close(self) -> None:
        """Close the link."""
        await self.stream_link.close()
