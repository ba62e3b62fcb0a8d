"""The one module that talks to pymodbus.

pymodbus changes its API between minor versions (``slave`` became ``device_id`` in
3.10; the exception classes and logging moved too), so every call to it lives here
and the rest of hazmon sees :class:`ModbusTcpTransport` and the exceptions of
:mod:`hazmon.drivers.errors`.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Literal, Self

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from hazmon.drivers.errors import DeviceException, TransportConnectionError, TransportTimeout

RegisterKind = Literal["holding", "input"]

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


class ModbusTcpTransport:
    """A Modbus TCP connection to one host, shared by the unit ids behind it.

    The constructor does no I/O; ``connect`` (or ``async with``) opens the socket.

    Parameters
    ----------
    host, port
        Where the meter or gateway listens.
    timeout : [s]
        How long to wait for each reply.
    """

    def __init__(self, host: str, port: int, *, timeout: float = 1.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        # Retries are ours to decide (a silent meter is flagged, not retried blindly).
        self._client = AsyncModbusTcpClient(
            host, port=port, timeout=timeout, retries=0, reconnect_delay=0
        )

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    async def connect(self) -> None:
        """Open the connection; raise :class:`TransportConnectionError` when refused."""
        try:
            connected = await self._client.connect()
        except (OSError, ModbusException) as error:
            raise TransportConnectionError(f"cannot connect to {self.address}: {error}") from error
        if not connected:
            raise TransportConnectionError(f"cannot connect to {self.address}")

    @property
    def connected(self) -> bool:
        """Whether the socket is open."""
        return bool(self._client.connected)

    def close(self) -> None:
        """Close the connection (idempotent)."""
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

    async def read_registers(
        self, kind: RegisterKind, address: int, count: int, device_id: int
    ) -> list[int]:
        """Read ``count`` 16-bit registers from ``address`` (function 03 or 04).

        Raises
        ------
        TransportTimeout
            No reply within the timeout.
        TransportConnectionError
            Not connected and cannot connect, or the link broke.
        DeviceException
            The meter answered with an exception code.
        """
        if not self.connected:
            await self.connect()
        read = (
            self._client.read_holding_registers
            if kind == "holding"
            else self._client.read_input_registers
        )
        try:
            response = await read(address, count=count, device_id=device_id)
        except ModbusIOException as error:
            if "no response" in str(error).lower():
                raise TransportTimeout(
                    f"{self.address} unit {device_id}: no reply within {self.timeout} s"
                ) from error
            raise TransportConnectionError(f"{self.address} unit {device_id}: {error}") from error
        except (ConnectionException, OSError) as error:
            raise TransportConnectionError(f"{self.address} unit {device_id}: {error}") from error
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise DeviceException(
                code, f"{self.address} unit {device_id}: exception {code:02X} ({name})"
            )
        registers = list(response.registers)
        if len(registers) != count:
            raise TransportConnectionError(
                f"{self.address} unit {device_id}: asked for {count} registers, "
                f"got {len(registers)}"
            )
        return registers
