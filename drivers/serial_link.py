"""Serial I/O for every meter that is not Modbus (binary frames, ASCII text).

pyserial opens and configures the port (baud rate, parity, raw mode; a
pseudo-terminal works as ``/dev/ttyUSB0`` would); the event loop watches its file
descriptor (``loop.add_reader``), so no thread is needed and a read never blocks the
loop. Bytes arriving are kept in a buffer until a reader takes them.

pyserial is imported here and in the Modbus adapter only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Unpack

import numpy as np
import serial
from numpy.typing import NDArray

from hazmon.config.addresses import SerialPortAddress, format_any_address
from hazmon.config.profile import Profile
from hazmon.config.quality import Quality
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import MappedMeter, MeterOptions
from hazmon.drivers.errors import TransportConnectionError
from hazmon.drivers.stream import (
    Decoded,
    Framer,
    Rejected,
    StreamMeter,
    StreamOptions,
    item_result,
)

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
_READ_CHUNK = 4096


class SerialLink:
    """One serial port, read and written from asyncio. The constructor does no I/O.

    Attributes
    ----------
    bytes_received : int
        Every byte read since construction.
    discarded : int
        Bytes dropped from lines that grew past their maximum length without a
        terminator.
    """

    def __init__(self, address: SerialPortAddress) -> None:
        self.address = address
        self.bytes_received = 0
        self.discarded = 0
        self._port: serial.Serial | None = None
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self._error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def label(self) -> str:
        """The canonical address, for messages."""
        return format_any_address(self.address)

    @property
    def is_open(self) -> bool:
        """Whether the port is open and has not failed."""
        return self._port is not None and self._error is None

    async def open(self) -> None:
        """Open the port (idempotent).

        Raises
        ------
        TransportConnectionError
            The port does not exist or cannot be configured.
        """
        if self.is_open:
            return
        self.close()
        address = self.address
        try:
            port = serial.serial_for_url(
                address.device,
                baudrate=address.baudrate,
                parity=_PARITY[address.parity],
                stopbits=address.stopbits,
                bytesize=address.bytesize,
                timeout=0,
            )
        except (serial.SerialException, OSError, ValueError) as error:
            raise TransportConnectionError(f"{self.label}: {error}") from error
        self._loop = asyncio.get_running_loop()
        self._port = port
        self._error = None
        self._buffer.clear()
        self._arrived = asyncio.Event()
        self._loop.add_reader(port.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._port is not None
        try:
            data = os.read(self._port.fileno(), _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as error:
            # EIO: the other side of a pseudo-terminal closed, or the USB adapter left.
            self._fail(f"{self.label}: {error.strerror or error}")
            return
        if not data:
            self._fail(f"{self.label}: end of file")
            return
        self.bytes_received += len(data)
        self._buffer += data
        self._arrived.set()

    def _fail(self, message: str) -> None:
        self._error = message
        if self._loop is not None and self._port is not None:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._port.fileno())
        self._arrived.set()

    def _check(self) -> None:
        if self._port is None:
            raise TransportConnectionError(f"{self.label}: not open; call open()")
        if self._error is not None:
            raise TransportConnectionError(self._error)

    async def read_some(self, timeout: float) -> bytes:
        """Whatever has arrived, waiting up to ``timeout`` [s] for at least one byte;
        ``b""`` when nothing came.

        Raises
        ------
        TransportConnectionError
            The port failed (the device went away).
        """
        self._check()
        if not self._buffer:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)
            self._check()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def read_until(
        self, terminator: bytes, timeout: float, *, max_length: int = 4096
    ) -> bytes | None:
        """One line ending with ``terminator`` (returned without it), waiting up to
        ``timeout`` [s] in all; None when it did not come whole in time (what did
        come stays buffered, up to the last ``max_length`` bytes)."""
        self._check()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            index = self._buffer.find(terminator)
            if index >= 0:
                line = bytes(self._buffer[:index])
                del self._buffer[: index + len(terminator)]
                return line
            if len(self._buffer) > max_length:
                # No terminator in a line this long: noise, or lines cut short. Keep the
                # tail, where the next whole line may be starting.
                self.discarded += len(self._buffer) - max_length
                del self._buffer[:-max_length]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
            self._check()

    def discard_input(self) -> int:
        """Drop what has arrived (a late answer to an earlier question); return how
        many bytes."""
        count = len(self._buffer)
        self._buffer.clear()
        return count

    async def write(self, data: bytes) -> None:
        """Send ``data``.

        Raises
        ------
        TransportConnectionError
            The port failed.
        """
        self._check()
        assert self._port is not None
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as error:
            self._fail(f"{self.label}: {error}")
            raise TransportConnectionError(f"{self.label}: {error}") from error

    def close(self) -> None:
        """Close the port (idempotent)."""
        port, self._port = self._port, None
        if port is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(port.fileno())
        with contextlib.suppress(serial.SerialException, OSError):
            port.close()


class SerialStreamLink:
    """A :class:`SerialLink` as the link of the streaming loop
    (:func:`hazmon.drivers.stream.stream_results`).

    Parameters
    ----------
    link
        The port (owned: one streaming module per port).
    terminator
        Hand over whole lines ending with it (returned without it); by default
        whatever bytes arrived.
    greeting
        Bytes written at every opening (a command switching the module to upload).
    """

    def __init__(
        self, link: SerialLink, *, terminator: bytes | None = None, greeting: bytes | None = None
    ) -> None:
        self.link = link
        self.terminator = terminator
        self.greeting = greeting

    @property
    def label(self) -> str:
        """The port, for messages."""
        return self.link.label

    async def open(self) -> None:
        """Open the port and send the greeting."""
        await self.link.open()
        if self.greeting is not None:
            await self.link.write(self.greeting)

    async def read(self, timeout: float) -> bytes | None:
        """A line (with a terminator) or the bytes that arrived; None when none came
        within ``timeout`` [s]."""
        if self.terminator is not None:
            return await self.link.read_until(self.terminator, timeout)
        return await self.link.read_some(timeout) or None

    async def close(self) -> None:
        """Close the port."""
        self.link.close()


class SerialStreamMeter(StreamMeter[bytes]):
    """A streaming meter on its own serial port; a subclass says how its bytes are
    framed (:meth:`framing`).

    Parameters
    ----------
    link
        Its serial port (owned: one module per port).
    profile
        Its profile, of the transport the subclass reads.
    channel_numbers
        Index of each profile channel in the pipeline's channel table.
    options
        See :class:`~hazmon.drivers.stream.StreamOptions`: calibration due date,
        warm-up, silence timeout, reconnection backoff.
    """

    def __init__(
        self,
        link: SerialLink,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        **options: Unpack[StreamOptions],
    ) -> None:
        framer, terminator, greeting = self.framing(profile)
        stream_link = SerialStreamLink(link, terminator=terminator, greeting=greeting)
        super().__init__(stream_link, framer, profile, channel_numbers, **options)
        self.link = link

    def framing(self, profile: Profile) -> tuple[Framer[bytes], bytes | None, bytes | None]:
        """The framer, the line terminator (None: bytes as they come) and the greeting
        written at each opening (None: nothing) for ``profile``.

        Raises
        ------
        ValueError
            For a profile this meter cannot read.
        """
        raise NotImplementedError  # pragma: no cover - every subclass says


class SerialQueryMeter(MappedMeter):
    """A polled meter on its own serial port: each poll writes ``question`` and reads
    the answer. A subclass checks its profile and gives the default reply timeout
    (:meth:`prepare`), sets ``question`` (and ``greeting``, written at each opening)
    and reads the answer (:meth:`answer`).

    Parameters
    ----------
    link
        Its serial port.
    profile, channel_numbers, options
        As for :class:`~hazmon.drivers.channel_values.MappedMeter`.
    timeout : [s]
        How long to wait for the answer; the subclass's default when None.
    """

    def __init__(
        self,
        link: SerialLink,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        *,
        timeout: float | None = None,
        **options: Unpack[MeterOptions],
    ) -> None:
        super().__init__(profile, channel_numbers, **options)
        self.link = link
        self.greeting: bytes | None = None
        self.question = b""
        default = self.prepare(profile)
        self.timeout = default if timeout is None else timeout

    def prepare(self, profile: Profile) -> float:
        """Check ``profile``, keep what polling needs; return the default timeout [s].

        Raises
        ------
        ValueError
            For a profile this meter cannot read.
        """
        raise NotImplementedError  # pragma: no cover - every subclass says

    async def answer(self) -> Decoded | Rejected | None:
        """Read the answer to the question just written, within ``self.timeout``;
        None when none came. A rejection must flag a row."""
        raise NotImplementedError  # pragma: no cover - every subclass says

    @property
    def label(self) -> str:
        """The port, for messages."""
        return self.link.label

    async def poll(self, now_ns: int | None = None) -> PollResult:
        """Ask once; a missing, corrupted or unreadable answer gives flagged rows.

        Parameters
        ----------
        now_ns : [ns UTC]
            Timestamp for the readings; the time the poll started by default.
        """
        timestamp = time.time_ns() if now_ns is None else now_ns
        try:
            if not self.link.is_open:
                await self.link.open()
                self.mapper.start_warmup(timestamp)
                if self.greeting is not None:
                    await self.link.write(self.greeting)
            self.link.discard_input()  # a late answer to an earlier question
            await self.link.write(self.question)
            item = await self.answer()
        except TransportConnectionError as error:
            self.link.close()
            return self.mapper.failure(Quality.COMM_ERROR, timestamp, str(error))
        if item is None:
            message = f"{self.label}: no answer to {self.question!r} within {self.timeout} s"
            return self.mapper.failure(Quality.COMM_TIMEOUT, timestamp, message)
        result = item_result(self.mapper, item, self.label, timestamp)
        assert result is not None  # an answer gives values or a flagged row
        return result

    async def close(self) -> None:
        """Close the port."""
        self.link.close()
