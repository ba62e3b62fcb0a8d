"""The one module that talks to pymodbus (and to pyserial's port listing).

pymodbus changes its API between minor versions (``slave`` became ``device_id`` in
3.10; the exception classes and logging moved too), so every call to it lives here
and the rest of hazmon sees :class:`ModbusTransport` and the exceptions of
:mod:`hazmon.drivers.errors`.

One transport object owns one link: a TCP socket, or a serial port with every meter
on its RS-485 line. It serialises every request (an :class:`asyncio.Lock`, FIFO), keeps
the silent interval t3.5 between the end of one frame and the start of the next on
serial lines, and applies the timeout of the meter being asked.

What pymodbus 3.16 does, checked in its ``transaction.py``, and what we do about it:

- After ``retries + 3`` requests in a row without a reply it closes the connection,
  except on ``CommType.SERIAL`` (the pymodbus#1654 fix). On an RTU-over-TCP link or a
  TCP gateway that would drop every meter of the line because one is silent, so the
  count is disabled for the bus transports (serial and RTU over TCP); a plain Modbus
  TCP link keeps it, as a silent socket there is the meter itself.
- A reply that fails its CRC, comes from another unit id or cannot be framed is
  dropped silently and the request ends in "no response". We watch the bytes that
  arrived (``trace_packet``) and the link (``trace_connect``) so that those end as
  :class:`CrcError` or :class:`TransportConnectionError` rather than a timeout.
- Its timeout is one client-wide value read at each request; we set it to the
  timeout of the meter asked, under our lock, before each request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException
from pymodbus.framer import FramerType

from hazmon.config.addresses import (
    Address,
    RtuOverTcpAddress,
    SerialAddress,
    TcpAddress,
    format_address,
)
from hazmon.drivers.errors import (
    CrcError,
    DeviceException,
    TransportConnectionError,
    TransportError,
    TransportTimeout,
)

RegisterKind = Literal["holding", "input", "coil", "discrete_input"]

# pymodbus logs every timeout at ERROR before raising; we raise our own exception with
# the same facts and flag the reading, so its lines would only duplicate ours.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "server device failure",
    0x05: "acknowledge",
    0x06: "server device busy",
    0x0A: "gateway path unavailable",
    0x0B: "gateway target device failed to respond",
}

FUNCTION_CODES: dict[str, int] = {"coil": 1, "discrete_input": 2, "holding": 3, "input": 4}

#: Requests without a reply after which pymodbus would close a link; large = never.
_NEVER = 2**31


def crc16(data: bytes) -> int:
    """The Modbus RTU CRC-16 of ``data`` (polynomial 0xA001 reflected, start 0xFFFF).

    Returns the CRC as a number; it is sent low byte first.
    """
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def raise_if_cancelled() -> None:
    """Raise the cancellation an ``asyncio.wait_for`` inside pymodbus swallowed.

    On Python 3.11, ``wait_for`` returns the inner result when the task is cancelled in
    the same loop iteration as that result arrives (CPython gh-86296, fixed in 3.12):
    pymodbus awaits its connect and every reply that way, so Ctrl-C right as a link
    opened was lost and ``hazmon read`` waited out its timeout (seen under load).
    The task still counts the request (:meth:`asyncio.Task.cancelling`): honour it.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _reply_length(function_code: int, count: int) -> int:
    if function_code in (1, 2):
        return 5 + (count + 7) // 8
    return 5 + 2 * count


@dataclass(slots=True)
class _Exchange:
    """What was seen on the link during one request."""

    received: list[bytes]
    """Every receive buffer pymodbus framed (each holds the bytes not yet consumed)."""
    link_lost: bool = False
    device_id: int = 0
    """The unit asked (0: none yet)."""


class ModbusTransport:
    """A link to one or more meters (unit ids), owned by this object.

    The constructor does no I/O and needs no event loop; ``connect`` (or
    ``async with``) opens the link. Use :func:`open_transport` to build one from an
    address.

    Parameters
    ----------
    address
        Where the link goes.
    timeout : [s]
        Reply timeout when a request gives none.
    """

    silent_interval: float = 0.0
    """t3.5 kept between frames [s]; 0 on TCP, where frames do not share a line."""

    def __init__(self, address: Address, *, timeout: float = 1.0) -> None:
        self.target = address
        self.timeout = timeout
        self._client: Any = None
        self._lock: asyncio.Lock | None = None
        self._quiet_from = 0.0
        self._exchange = _Exchange([])
        self.requests = 0
        """Requests sent on this link (for tests and benchmarks)."""
        self.connections = 0
        """Times the link was opened; stays 1 while no meter's silence closes it."""

    @property
    def address(self) -> str:
        """The link's address, canonical form."""
        return format_address(self.target)

    def _make_client(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._exchange.received.append(bytes(data))
        return data

    def _trace_connect(self, connected: bool) -> None:
        if connected:
            self.connections += 1
        else:
            self._exchange.link_lost = True

    async def connect(self) -> None:
        """Open the link; raise :class:`TransportConnectionError` when it cannot."""
        if self._client is None:
            self._client = self._make_client()
        try:
            connected = await self._client.connect()
        except Exception as error:
            # pyserial raises SerialException, termios.error (e.g. a parity the port
            # cannot do) or ValueError besides OSError; pymodbus its own. All mean the
            # link cannot be opened.
            raise TransportConnectionError(f"cannot connect to {self.address}: {error}") from error
        raise_if_cancelled()
        if not connected:
            raise TransportConnectionError(f"cannot connect to {self.address}")

    @property
    def connected(self) -> bool:
        """Whether the link is open."""
        return self._client is not None and bool(self._client.connected)

    def close(self) -> None:
        """Close the link (idempotent)."""
        if self._client is not None:
            self._client.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def read(
        self,
        kind: RegisterKind,
        address: int,
        count: int,
        device_id: int,
        *,
        reply_timeout: float | None = None,
    ) -> list[int]:
        """Read ``count`` registers (function 03, 04) or bits (01, 02) from ``address``.

        Returns 16-bit register words, or 0/1 per coil or discrete input.

        Parameters
        ----------
        reply_timeout : [s]
            This request's reply timeout (the meter's); the transport's by default.

        Raises
        ------
        TransportTimeout
            No reply within the timeout.
        CrcError
            A reply arrived whose CRC is wrong (RTU framings).
        TransportConnectionError
            Not connected and cannot connect, the link broke, or the reply was
            malformed or came from another unit id.
        DeviceException
            The meter answered with an exception code.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self.connected:
                await self.connect()
            loop = asyncio.get_running_loop()
            wait = self._quiet_from + self.silent_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._read_locked(kind, address, count, device_id, reply_timeout)
            finally:
                # The line is quiet from the end of this exchange: the next frame waits t3.5.
                self._quiet_from = loop.time()

    async def _read_locked(
        self,
        kind: RegisterKind,
        address: int,
        count: int,
        device_id: int,
        reply_timeout: float | None,
    ) -> list[int]:
        client = self._client
        client.ctx.comm_params.timeout_connect = reply_timeout or self.timeout
        methods: dict[str, Callable[..., Awaitable[Any]]] = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete_input": client.read_discrete_inputs,
        }
        where = f"{self.address} unit {device_id}"
        self._exchange = _Exchange([], device_id=device_id)
        self.requests += 1
        try:
            response = await methods[kind](address, count=count, device_id=device_id)
        except ModbusIOException as error:
            raise_if_cancelled()
            raise self._classify(error, kind, count, device_id, reply_timeout) from error
        except (ConnectionException, OSError) as error:
            raise_if_cancelled()
            raise TransportConnectionError(f"{where}: {error}") from error
        raise_if_cancelled()
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise DeviceException(code, f"{where}: exception {code:02X} ({name})")
        values = (
            [int(bit) for bit in response.bits[:count]]
            if kind in ("coil", "discrete_input")
            else list(response.registers)
        )
        if len(values) != count:
            noun = "bits" if kind in ("coil", "discrete_input") else "registers"
            raise TransportConnectionError(f"{where}: asked for {count} {noun}, got {len(values)}")
        return values

    def _classify(
        self,
        error: ModbusIOException,
        kind: RegisterKind,
        count: int,
        device_id: int,
        timeout: float | None,
    ) -> TransportError:
        where = f"{self.address} unit {device_id}"
        if "no response" not in str(error).lower():
            return TransportConnectionError(f"{where}: {error}")
        if self._exchange.link_lost:
            return TransportConnectionError(f"{where}: the link closed during the request")
        buffers = [buffer for buffer in self._exchange.received if buffer]
        if not buffers:
            return TransportTimeout(f"{where}: no reply within {timeout or self.timeout} s")
        return self._classify_bytes(buffers, FUNCTION_CODES[kind], count, device_id, where)

    def _classify_bytes(
        self, buffers: list[bytes], function_code: int, count: int, device_id: int, where: str
    ) -> TransportError:
        longest = max(buffers, key=len)
        return TransportConnectionError(f"{where}: malformed reply {longest[:16].hex(' ')}")

    async def read_registers(
        self, kind: RegisterKind, address: int, count: int, device_id: int
    ) -> list[int]:
        """Read ``count`` registers; :meth:`read` with the transport's timeout."""
        return await self.read(kind, address, count, device_id)


class ModbusTcpTransport(ModbusTransport):
    """Modbus TCP (MBAP framing) to one host, shared by the unit ids behind it.

    Parameters
    ----------
    host, port
        Where the meter or gateway listens.
    timeout : [s]
        How long to wait for each reply.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 1.0) -> None:
        super().__init__(TcpAddress(host, port), timeout=timeout)
        self.host = host
        self.port = port

    @property
    def address(self) -> str:
        """``host:port`` (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def _make_client(self) -> Any:
        # Retries are ours to decide (a silent meter is flagged, not retried blindly).
        return AsyncModbusTcpClient(
            self.host,
            port=self.port,
            timeout=self.timeout,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )


def _other_units_frame_length(data: bytes, device_id: int) -> int:
    """Length of the CRC-valid reply frame from another unit at the start of ``data``.

    0 when ``data`` does not start with one (it may be the asked unit's reply, line
    noise or a frame not yet complete). Only the read functions (01–04) and exception
    replies are recognised: those are the replies hazmon's requests can leave late.
    """
    if len(data) < 5 or data[0] == device_id:
        return 0
    function = data[1]
    if function & 0x80:
        length = 5
    elif function in (1, 2, 3, 4):
        length = 3 + data[2] + 2
    else:
        return 0
    if len(data) < length:
        return 0
    body, sent = data[: length - 2], data[length - 2 : length]
    return length if crc16(body) == sent[0] | sent[1] << 8 else 0


class _RtuMixin(ModbusTransport):
    stale_replies = 0
    """Late replies from other units discarded while another unit was asked."""

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        data = super()._trace_packet(sending, data)
        if sending or not self._exchange.device_id:
            return data
        # A meter that answers after its timeout puts its reply on the line while the
        # next unit is asked. pymodbus' RTU framer then consumes the whole buffer for
        # that wrong-unit frame, the asked unit's reply with it, and the request times
        # out (seen under load: both frames in one read). Drop such leading frames,
        # from pymodbus' own buffer too so that its cut stays aligned, and let the
        # asked unit's reply be framed; the bytes stay in ``received`` for diagnosis.
        kept = data
        while length := _other_units_frame_length(kept, self._exchange.device_id):
            kept = kept[length:]
            self.stale_replies += 1
        if len(kept) != len(data):
            context = getattr(self._client, "ctx", None)
            if context is not None and getattr(context, "recv_buffer", None) == data:
                context.recv_buffer = kept
            else:  # pragma: no cover - a pymodbus whose buffer we cannot align
                return data
        return kept

    def _classify_bytes(
        self, buffers: list[bytes], function_code: int, count: int, device_id: int, where: str
    ) -> TransportError:
        for received in buffers:
            found = self._find_frame(received, function_code, count, device_id, where)
            if found is not None:
                return found
        longest = max(buffers, key=len)
        return TransportConnectionError(f"{where}: garbled reply {longest[:16].hex(' ')}")

    @staticmethod
    def _find_frame(
        received: bytes, function_code: int, count: int, device_id: int, where: str
    ) -> TransportError | None:
        # Look for a frame from the unit asked, for the function asked: if one is
        # there, it arrived and failed its CRC; a valid frame from another unit id is
        # a wrong reply; anything else is line noise.
        for start in range(len(received)):
            frame = received[start:]
            if len(frame) < 5:
                break
            unit, function = frame[0], frame[1]
            length = 5 if function == function_code | 0x80 else _reply_length(function, count)
            if function not in (function_code, function_code | 0x80) or len(frame) < length:
                continue
            body, sent = frame[: length - 2], frame[length - 2 : length]
            crc_ok = crc16(body) == sent[0] | sent[1] << 8
            if unit == device_id and not crc_ok:
                return CrcError(f"{where}: reply failed its CRC ({frame[:length].hex(' ')})")
            if unit != device_id and crc_ok:
                return TransportConnectionError(
                    f"{where}: reply from unit {unit} instead ({frame[:length].hex(' ')})"
                )
        return None


class ModbusRtuOverTcpTransport(_RtuMixin):
    """RTU frames over a TCP socket: a serial device server in front of an RS-485 line."""

    def __init__(self, host: str, port: int, *, timeout: float = 1.0) -> None:
        super().__init__(RtuOverTcpAddress(host, port), timeout=timeout)
        self.host = host
        self.port = port

    def _make_client(self) -> Any:
        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            framer=FramerType.RTU,
            timeout=self.timeout,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )
        client.set_max_no_responses(_NEVER)  # one silent meter must not drop the line
        return client


class ModbusSerialTransport(_RtuMixin):
    """Modbus RTU on a serial port: the one owner of that port and its RS-485 line."""

    def __init__(self, address: SerialAddress, *, timeout: float = 1.0) -> None:
        super().__init__(address, timeout=timeout)
        self.serial = address
        self.silent_interval = address.silent_interval

    def _make_client(self) -> Any:
        client = AsyncModbusSerialClient(
            self.serial.device,
            framer=FramerType.RTU,
            baudrate=self.serial.baudrate,
            bytesize=self.serial.bytesize,
            parity=self.serial.parity,
            stopbits=self.serial.stopbits,
            timeout=self.timeout,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )
        client.set_max_no_responses(_NEVER)
        return client


def open_transport(address: Address, *, timeout: float = 1.0) -> ModbusTransport:
    """The transport for ``address`` (no I/O; ``connect`` opens it)."""
    if isinstance(address, TcpAddress):
        return ModbusTcpTransport(address.host, address.port, timeout=timeout)
    if isinstance(address, RtuOverTcpAddress):
        return ModbusRtuOverTcpTransport(address.host, address.port, timeout=timeout)
    return ModbusSerialTransport(address, timeout=timeout)


@dataclass(frozen=True, slots=True)
class SerialPortInfo:
    """A serial port the operating system lists."""

    device: str
    description: str
    hardware_id: str


def list_serial_ports() -> list[SerialPortInfo]:
    """The serial ports present (USB–RS-485 adapters show up here), sorted by device."""
    from serial.tools import list_ports  # imported here: only ``hazmon scan`` needs it

    return sorted(
        (
            SerialPortInfo(str(port.device), str(port.description), str(port.hwid))
            for port in list_ports.comports()
        ),
        key=lambda port: port.device,
    )
