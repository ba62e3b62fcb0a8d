"""The meter side of a Modbus request PDU, shared by the TCP server and the RTU bus.

Function codes 01 (read coils), 02 (read discrete inputs), 03 (read holding
registers) and 04 (read input registers), answered from a
:class:`~hazmon.simulators.modbus_tcp_server.RegisterSource`. Written without the
drivers' code, so that each checks the other.
"""

from __future__ import annotations

import logging
import struct
from typing import Protocol

from hazmon.config.site import FaultInjection
from hazmon.simulators.errors import ModbusExceptionError

log = logging.getLogger(__name__)

READ_COILS = 0x01
READ_DISCRETE_INPUTS = 0x02
READ_HOLDING_REGISTERS = 0x03
READ_INPUT_REGISTERS = 0x04

EXCEPTION_ILLEGAL_FUNCTION = 0x01
EXCEPTION_ILLEGAL_DATA_ADDRESS = 0x02
EXCEPTION_ILLEGAL_DATA_VALUE = 0x03
EXCEPTION_SERVER_DEVICE_FAILURE = 0x04
EXCEPTION_GATEWAY_TARGET_FAILED = 0x0B

#: Register kind read by each supported function code.
FUNCTION_KINDS: dict[int, str] = {
    READ_COILS: "coil",
    READ_DISCRETE_INPUTS: "discrete_input",
    READ_HOLDING_REGISTERS: "holding",
    READ_INPUT_REGISTERS: "input",
}

#: Most registers one FC03/FC04 request may ask for (the reply must fit 253 bytes).
MAX_READ_QUANTITY = 125
#: Most coils or discrete inputs one FC01/FC02 request may ask for.
MAX_BIT_QUANTITY = 2000


class RegisterSource(Protocol):
    """Anything that can answer a register read (a simulated meter)."""

    def read_registers(self, kind: str, address: int, count: int) -> list[int]:
        """Return ``count`` 16-bit words (or 0/1 bits) of ``kind`` from ``address``.

        Raise :class:`~hazmon.simulators.errors.ModbusExceptionError` subclasses to
        answer with a Modbus exception.
        """
        ...


def exception_pdu(function_code: int, code: int) -> bytes:
    """The exception response PDU: ``function_code | 0x80``, exception ``code``."""
    return bytes([(function_code | 0x80) & 0xFF, code])


def pack_bits(bits: list[int]) -> bytes:
    """Coil/input states packed eight to a byte, first one in bit 0 of the first byte."""
    data = bytearray((len(bits) + 7) // 8)
    for index, bit in enumerate(bits):
        if bit:
            data[index // 8] |= 1 << (index % 8)
    return bytes(data)


def current_fault(source: RegisterSource) -> FaultInjection | None:
    """The link fault a source plays now (only simulated meters have any)."""
    method = getattr(source, "current_fault", None)
    return None if method is None else method()


def respond_pdu(unit: int, source: RegisterSource, request: bytes) -> bytes:
    """The response PDU to request PDU ``request`` (function code and data).

    Parameters
    ----------
    unit
        The unit id asked, for log messages.
    source
        The meter answering.
    request
        Function code and data (at least one byte).
    """
    function_code = request[0]
    kind = FUNCTION_KINDS.get(function_code)
    if kind is None:
        return exception_pdu(function_code, EXCEPTION_ILLEGAL_FUNCTION)
    if len(request) != 5:
        return exception_pdu(function_code, EXCEPTION_ILLEGAL_DATA_VALUE)
    address, quantity = struct.unpack(">HH", request[1:])
    bits = kind in ("coil", "discrete_input")
    if not 1 <= quantity <= (MAX_BIT_QUANTITY if bits else MAX_READ_QUANTITY):
        return exception_pdu(function_code, EXCEPTION_ILLEGAL_DATA_VALUE)
    if address + quantity > 0x10000:
        return exception_pdu(function_code, EXCEPTION_ILLEGAL_DATA_ADDRESS)
    fault = current_fault(source)
    if fault is not None and fault.kind == "exception" and fault.code is not None:
        return exception_pdu(function_code, fault.code)
    try:
        words = source.read_registers(kind, address, quantity)
    except ModbusExceptionError as error:
        return exception_pdu(function_code, error.code)
    except Exception:
        # A bug in the source must not kill the server; the client sees 04.
        log.exception("unit %d failed to read %s registers %d+%d", unit, kind, address, quantity)
        return exception_pdu(function_code, EXCEPTION_SERVER_DEVICE_FAILURE)
    if len(words) != quantity:
        log.error("unit %d returned %d words for %d registers", unit, len(words), quantity)
        return exception_pdu(function_code, EXCEPTION_SERVER_DEVICE_FAILURE)
    if bits:
        data = pack_bits(words)
        return bytes([function_code, len(data)]) + data
    return bytes([function_code, 2 * quantity]) + struct.pack(f">{quantity}H", *words)
