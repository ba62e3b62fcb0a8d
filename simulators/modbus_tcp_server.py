"""A Modbus TCP server written from scratch on :func:`asyncio.start_server`.

It serves function codes 0x01/0x02 (read coils / discrete inputs) and 0x03/0x04
(read holding / input registers) for one or more unit ids, each backed by a :class:`RegisterSource`
(usually a :class:`~hazmon.simulators.meter.SimulatedMeter`). It deliberately
shares no code with the drivers, so a driver test against it checks both sides.

Frame (Modbus Messaging on TCP/IP Implementation Guide v1.0b, §3.1.3)::

    MBAP: transaction id (2) | protocol id = 0 (2) | length (2) | unit id (1)
    PDU:  function code (1) | data

where length counts the bytes after it (unit id + PDU). All fields are big-endian.

Choices a real device makes differently, documented here:

- A request for a unit id not served is answered with exception 0x0B "gateway
  target device failed to respond", as a TCP/RTU gateway would, rather than
  ignored: a client then fails fast instead of waiting for its timeout.
- A frame with protocol id != 0, or a length that cannot hold a PDU, drops the
  connection: the stream can no longer be trusted to be framed.
- Requests on one connection are answered in order; connections run concurrently.
- Link faults from a meter's scenario (``faults``) apply: no reply, late reply,
  exception, split frame, wrong unit id, disconnect (the connection is closed);
  ``bad_crc`` and ``garbage`` are RTU line faults and change nothing on TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Mapping

from hazmon.simulators.lifecycle import Served
from hazmon.simulators.modbus_pdu import (
    EXCEPTION_GATEWAY_TARGET_FAILED,
    EXCEPTION_ILLEGAL_DATA_ADDRESS,
    EXCEPTION_ILLEGAL_DATA_VALUE,
    EXCEPTION_ILLEGAL_FUNCTION,
    EXCEPTION_SERVER_DEVICE_FAILURE,
    FUNCTION_KINDS,
    MAX_READ_QUANTITY,
    READ_HOLDING_REGISTERS,
    READ_INPUT_REGISTERS,
    RegisterSource,
    current_fault,
    exception_pdu,
    respond_pdu,
)

log = logging.getLogger(__name__)

__all__ = [
    "EXCEPTION_GATEWAY_TARGET_FAILED",
    "EXCEPTION_ILLEGAL_DATA_ADDRESS",
    "EXCEPTION_ILLEGAL_DATA_VALUE",
    "EXCEPTION_ILLEGAL_FUNCTION",
    "EXCEPTION_SERVER_DEVICE_FAILURE",
    "FUNCTION_KINDS",
    "MAX_READ_QUANTITY",
    "READ_HOLDING_REGISTERS",
    "READ_INPUT_REGISTERS",
    "ModbusTcpServer",
    "RegisterSource",
    "exception_pdu",
]

_MBAP = struct.Struct(">HHHB")
#: Largest MBAP length: unit id + the 253-byte maximum PDU.
_MAX_LENGTH = 254
#: How long :meth:`ModbusTcpServer.stop` waits for connections to close [s].
_STOP_TIMEOUT = 2.0


class ModbusTcpServer(Served):
    """An asyncio Modbus TCP server for FC03 and FC04.

    Parameters
    ----------
    host
        Interface to bind, e.g. ``127.0.0.1``.
    port
        TCP port; 0 lets the OS choose a free one (see :attr:`address`).
    units
        The register source behind each unit id served.

    Attributes
    ----------
    requests_served : dict[int, int]
        Requests answered per unit id, exception replies included.
    """

    def __init__(self, host: str, port: int, units: Mapping[int, RegisterSource]) -> None:
        self.host = host
        self.port = port
        self.units = dict(units)
        self.requests_served: dict[int, int] = dict.fromkeys(self.units, 0)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound; raises ``RuntimeError`` before :meth:`start`."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not started; call start() or use async with")
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    async def start(self) -> None:
        """Bind and start accepting connections.

        Raises
        ------
        OSError
            When the address cannot be bound (e.g. the port is in use).
        """
        if self._server is not None:
            raise RuntimeError("the server is already started")
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        log.debug("Modbus TCP server listening on %s:%d", *self.address)

    async def stop(self) -> None:
        """Stop accepting, close every open connection and wait for them to end."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await asyncio.sleep(0)  # let connections accepted just now register their handler
        # Python 3.11's wait_closed does not wait for open connections, and a cancelled
        # connection task makes asyncio log a CancelledError traceback; closing the
        # transports instead ends each handler through its EOF path.
        for writer in self._connections.values():
            writer.close()
        tasks = set(self._connections)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)
            for task in pending:  # a handler stuck elsewhere: the last resort
                task.cancel()
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # start_server runs each connection in its own task
        self._connections[task] = writer
        peer = writer.get_extra_info("peername")
        try:
            while True:
                header = await reader.readexactly(_MBAP.size)
                transaction, protocol, length, unit = _MBAP.unpack(header)
                if protocol != 0 or not 2 <= length <= _MAX_LENGTH:
                    log.debug(
                        "dropping %s: protocol id %d, length %d is not a Modbus TCP frame",
                        peer,
                        protocol,
                        length,
                    )
                    return
                request = await reader.readexactly(length - 1)
                source = self.units.get(unit)
                fault = None if source is None else current_fault(source)
                reply = self.respond(unit, request)
                frame = _MBAP.pack(transaction, 0, len(reply) + 1, unit) + reply
                if fault is None or fault.kind in ("exception", "bad_crc", "garbage"):
                    # bad_crc and garbage are RTU line faults: TCP has its own checksums.
                    writer.write(frame)
                elif fault.kind == "disconnect":
                    return
                elif fault.kind == "late_reply":
                    await asyncio.sleep(fault.delay)
                    writer.write(frame)
                elif fault.kind == "split_frame":
                    writer.write(frame[:5])
                    await writer.drain()
                    await asyncio.sleep(fault.delay)
                    writer.write(frame[5:])
                elif fault.kind == "wrong_unit_id":
                    writer.write(_MBAP.pack(transaction, 0, len(reply) + 1, unit ^ 0x80) + reply)
                # no_reply: the request is swallowed.
                await writer.drain()
        except asyncio.IncompleteReadError as error:
            if error.partial:
                log.debug("client %s disconnected mid-frame", peer)
            else:
                log.debug("client %s disconnected", peer)
        except (ConnectionError, OSError) as error:
            log.debug("connection with %s failed: %s", peer, error)
        finally:
            self._connections.pop(task, None)
            writer.close()
            # The peer may be gone already; closing is best effort.
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    def respond(self, unit: int, request: bytes) -> bytes:
        """The response PDU to request PDU ``request`` addressed to ``unit``.

        Parameters
        ----------
        unit
            Unit id from the MBAP header.
        request
            Function code and data (at least one byte).
        """
        function_code = request[0]
        source = self.units.get(unit)
        if source is None:
            return exception_pdu(function_code, EXCEPTION_GATEWAY_TARGET_FAILED)
        self.requests_served[unit] += 1
        return respond_pdu(unit, source, request)
