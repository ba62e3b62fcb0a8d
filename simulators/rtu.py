"""A simulated RS-485 line: several meters (unit ids) answering Modbus RTU frames.

The line is served on a pseudo-terminal (the client opens its slave side with
pyserial, as it would ``/dev/ttyUSB0``) or on a TCP port, as a serial device server
forwards RTU frames (``rtu+tcp://``). Written without the drivers' code: its CRC is
table-driven where the drivers' is bitwise, and the framing is its own.

Timing follows the line, not the pseudo-terminal (which moves bytes instantly):

- a request occupies the line for its length in character times from its first
  byte's arrival; the reply starts no earlier than t3.5 (the silent interval) after
  that, and
- the reply's bytes are written at the configured baud rate, each when its last bit
  would have left the meter.

A request is framed by its function code (01-04 requests are 8 bytes), or else by
t3.5 of silence; frames with a bad CRC, for a unit id not on the line, or broadcast
(unit 0) get no reply, as on a real line.

Link faults from each meter's scenario (``faults``) apply to its replies: no reply,
late reply, exception codes, a corrupted CRC, a reply split in two with a pause,
garbage bytes instead of the reply, a reply carrying another unit id, and a
disconnect (the TCP connection is closed; on a serial line the meter drops off the
line, i.e. it does not answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import termios
import tty
from collections.abc import Awaitable, Callable, Mapping

from hazmon.simulators.errors import SimulatorError
from hazmon.simulators.lifecycle import Served
from hazmon.simulators.modbus_pdu import FUNCTION_KINDS, RegisterSource, current_fault, respond_pdu

log = logging.getLogger(__name__)

#: Fixed t3.5 above 19200 baud (Modbus over Serial Line v1.02, §2.5.1.1) [s].
FIXED_SILENT_INTERVAL = 0.00175
#: Length of every 01-04 request frame: unit, function, address, quantity, CRC [bytes].
READ_REQUEST_LENGTH = 8


def _crc_table() -> list[int]:
    table = []
    for index in range(256):
        value = index
        for _ in range(8):
            value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
        table.append(value)
    return table


_CRC_TABLE = _crc_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS of ``data`` (reflected polynomial 0xA001, start 0xFFFF).

    The frame carries it low byte first: the spec's example request ``02 07`` has
    CRC 0x1241 and is sent ``02 07 41 12``.
    """
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    """``unit | pdu | CRC`` (CRC low byte first)."""
    body = bytes([unit]) + pdu
    crc = crc16_modbus(body)
    return body + bytes([crc & 0xFF, crc >> 8])


def line_timing(
    baudrate: int, parity: str = "N", stopbits: int = 1, bytesize: int = 8
) -> tuple[float, float]:
    """Character time and t3.5 of a serial line [s].

    A character is a start bit, ``bytesize`` data bits, a parity bit unless ``N`` and
    the stop bits; t3.5 is fixed at 1.75 ms above 19200 baud.
    """
    bits = 1 + bytesize + (0 if parity == "N" else 1) + stopbits
    character = bits / baudrate
    silent = FIXED_SILENT_INTERVAL if baudrate > 19200 else 3.5 * character
    return character, silent


Receive = Callable[[float | None], Awaitable[tuple[float, bytes] | None]]
"""Wait up to a timeout [s] for bytes; (arrival time, bytes), b"" at EOF, None on timeout."""


class RtuLine:
    """The meters on one simulated line and how they answer.

    Parameters
    ----------
    units
        The register source behind each unit id on the line.
    baudrate : [bit/s]
        Line speed the replies are paced at; ``None`` writes them at once (no pacing).
    parity, stopbits, bytesize
        Character framing, for the character time.
    seed
        Seeds the garbage bytes of the ``garbage`` fault.

    Attributes
    ----------
    requests_served : dict[int, int]
        Requests answered (or deliberately left unanswered by a fault) per unit id.
    """

    def __init__(
        self,
        units: Mapping[int, RegisterSource],
        *,
        baudrate: int | None = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        seed: int = 0,
    ) -> None:
        self.units = dict(units)
        self.baudrate = baudrate
        self.character_time, self.silent_interval = line_timing(
            baudrate or 10**9, parity, stopbits, bytesize
        )
        if baudrate is None:
            self.character_time = 0.0
            self.silent_interval = 0.0
        self.requests_served: dict[int, int] = dict.fromkeys(self.units, 0)
        self._random = random.Random(seed)

    async def serve(self, receive: Receive, send: Callable[[bytes], None]) -> None:
        """Answer requests from ``receive`` through ``send`` until EOF or a disconnect."""
        buffer = b""
        first_arrival = 0.0
        while True:
            chunk = await receive(self.silent_interval if buffer else None)
            if chunk is None:
                # t3.5 of silence ends a frame this line could not size: drop it.
                log.debug("dropping %d unframed bytes: %s", len(buffer), buffer.hex(" "))
                buffer = b""
                continue
            arrival, data = chunk
            if not data:
                return
            if not buffer:
                first_arrival = arrival
            buffer += data
            while len(buffer) >= 2 and buffer[1] in FUNCTION_KINDS:
                if len(buffer) < READ_REQUEST_LENGTH:
                    break
                frame, buffer = buffer[:READ_REQUEST_LENGTH], buffer[READ_REQUEST_LENGTH:]
                if not await self._answer(frame, first_arrival, send):
                    return
                first_arrival = asyncio.get_running_loop().time()

    async def _answer(self, frame: bytes, arrival: float, send: Callable[[bytes], None]) -> bool:
        """Answer one request frame; False when the link is to be closed."""
        body, crc = frame[:-2], frame[-2:]
        if crc16_modbus(body) != crc[0] | crc[1] << 8:
            log.debug("request with a bad CRC ignored: %s", frame.hex(" "))
            return True
        unit = frame[0]
        source = self.units.get(unit)
        if source is None:  # another unit's request, or a broadcast: stay silent
            return True
        self.requests_served[unit] += 1
        fault = current_fault(source)
        reply = rtu_frame(unit, respond_pdu(unit, source, frame[1:-2]))
        loop = asyncio.get_running_loop()
        start = max(loop.time(), arrival + len(frame) * self.character_time + self.silent_interval)
        if fault is None or fault.kind == "exception":
            await self._send_paced(reply, start, send)
        elif fault.kind == "disconnect":
            return False
        elif fault.kind == "late_reply":
            await self._send_paced(reply, start + fault.delay, send)
        elif fault.kind == "bad_crc":
            await self._send_paced(reply[:-2] + bytes([reply[-2] ^ 0xFF, reply[-1]]), start, send)
        elif fault.kind == "split_frame":
            half = len(reply) // 2
            await self._send_paced(reply[:half], start, send)
            later = loop.time() + fault.delay
            await self._send_paced(reply[half:], later, send)
        elif fault.kind == "garbage":
            noise = bytes(self._random.randrange(256) for _ in range(len(reply)))
            await self._send_paced(noise, start, send)
        elif fault.kind == "wrong_unit_id":
            other = unit % 247 + 1
            await self._send_paced(rtu_frame(other, reply[1:-2]), start, send)
        # no_reply: silence.
        return True

    async def _send_paced(self, data: bytes, start: float, send: Callable[[bytes], None]) -> None:
        """Write ``data`` as a line at the baud rate would deliver it from ``start``."""
        loop = asyncio.get_running_loop()
        if self.character_time == 0:
            delay = start - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            send(data)
            return
        sent = 0
        while sent < len(data):
            # Bytes whose last bit has left the meter by now.
            done = min(len(data), int((loop.time() - start) / self.character_time))
            if done > sent:
                send(data[sent:done])
                sent = done
            if sent < len(data):
                await asyncio.sleep(start + (sent + 1) * self.character_time - loop.time())


class PtyRtuServer(Served):
    """A simulated RS-485 line on a pseudo-terminal.

    Open :attr:`device` with pyserial (or ``rtu://<device>?baudrate=...``) to talk
    to the meters. The constructor does no I/O; ``start`` opens the pseudo-terminal.

    Parameters
    ----------
    units
        The register source behind each unit id on the line.
    baudrate, parity, stopbits, bytesize
        The line's settings: replies are paced at this rate.
    """

    def __init__(
        self,
        units: Mapping[int, RegisterSource],
        *,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
    ) -> None:
        self.line = RtuLine(
            units, baudrate=baudrate, parity=parity, stopbits=stopbits, bytesize=bytesize
        )
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self.bytesize = bytesize
        self._master = -1
        self._slave = -1
        self._device = ""
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    @property
    def device(self) -> str:
        """The pseudo-terminal's slave path, e.g. ``/dev/pts/3``."""
        if not self._device:
            raise RuntimeError("the line is not started; call start() or use async with")
        return self._device

    @property
    def address(self) -> str:
        """The ``rtu://`` address of the line, with its settings.

        The parity is always ``N`` here: Linux pseudo-terminals refuse to have parity
        set (EINVAL), so a client asked for ``E`` could not open the line. The line's
        timing still counts the configured parity bit.
        """
        return (
            f"rtu://{self.device}?baudrate={self.baudrate}&parity=N"
            f"&stopbits={self.stopbits}&bytesize={self.bytesize}"
        )

    @property
    def requests_served(self) -> dict[int, int]:
        """Requests seen per unit id."""
        return self.line.requests_served

    def _client_baud_matches(self) -> bool:
        """Whether the client set the line's baud rate on its end of the pseudo-terminal.

        A meter hears a master at another baud rate as framing errors and stays
        silent; so does this line. (Linux ptys keep the speed the client sets but
        drop the parity bits, so parity cannot be checked the same way.)
        """
        expected = getattr(termios, f"B{self.baudrate}", None)
        if expected is None:
            return True
        try:
            attributes = termios.tcgetattr(self._slave)
        except termios.error:
            return True
        return bool(attributes[5] == expected)

    def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: no slave side open any more
        if data and not self._client_baud_matches():
            log.debug("%d bytes at the wrong baud rate ignored", len(data))
            return
        self._queue.put_nowait((loop.time(), data))

    async def _receive(self, wait: float | None) -> tuple[float, bytes] | None:
        try:
            return await asyncio.wait_for(self._queue.get(), wait)
        except TimeoutError:
            return None

    def _send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    async def start(self) -> None:
        """Open the pseudo-terminal and start answering."""
        if self._task is not None:
            raise RuntimeError("the line is already started")
        try:
            self._master, self._slave = os.openpty()
        except OSError as error:
            raise SimulatorError(f"cannot open a pseudo-terminal: {error}") from error
        # Raw mode: no echo, no newline translation; and the slave end stays open here
        # so that the master does not read EIO between client connections.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._device = os.ttyname(self._slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        self._task = asyncio.create_task(self._run(), name=f"rtu line {self._device}")

    async def _run(self) -> None:
        while True:
            await self.line.serve(self._receive, self._send)

    async def stop(self) -> None:
        """Stop answering and close the pseudo-terminal; safe to call twice."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)


class RtuOverTcpServer(Served):
    """A serial device server: RTU frames of one simulated line over TCP.

    Parameters
    ----------
    host, port
        Where to listen; port 0 lets the OS choose (see :attr:`address`).
    units
        The register source behind each unit id on the line.
    baudrate : [bit/s]
        The serial line behind the server; replies are paced at it. ``None`` (the
        default) answers at once, as a fast line would.
    """

    def __init__(
        self,
        host: str,
        port: int,
        units: Mapping[int, RegisterSource],
        *,
        baudrate: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.line = RtuLine(units, baudrate=baudrate)
        self._server: asyncio.Server | None = None
        self._writers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not started; call start() or use async with")
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    @property
    def requests_served(self) -> dict[int, int]:
        """Requests seen per unit id."""
        return self.line.requests_served

    async def start(self) -> None:
        """Bind and start accepting connections (``OSError`` when the port is taken)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._writers[task] = writer
        loop = asyncio.get_running_loop()

        async def receive(wait: float | None) -> tuple[float, bytes] | None:
            try:
                data = await asyncio.wait_for(reader.read(512), wait)
            except TimeoutError:
                return None
            return loop.time(), data

        try:
            await self.line.serve(receive, writer.write)
        except (ConnectionError, OSError) as error:
            log.debug("rtu+tcp connection failed: %s", error)
        finally:
            self._writers.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def stop(self) -> None:
        """Close every connection and stop listening; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await asyncio.sleep(0)
        for writer in self._writers.values():
            writer.close()
        if self._writers:
            await asyncio.wait(set(self._writers), timeout=2.0)
        await server.wait_closed()
