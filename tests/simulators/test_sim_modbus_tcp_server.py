"""The Modbus TCP server over real sockets: raw request bytes in, raw reply bytes out."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable

import pytest

from hazmon.simulators.errors import IllegalDataAddress
from hazmon.simulators.modbus_tcp_server import ModbusTcpServer


class FixedRegisters:
    """Holding registers 0..9 read 0x0100 + address; input registers 0..1 read 0xAA00 + address."""

    def __init__(self) -> None:
        self.image = {"holding": [0x0100 + i for i in range(10)], "input": [0xAA00, 0xAA01]}

    def read_registers(self, kind: str, address: int, count: int) -> list[int]:
        words = self.image[kind]
        if address + count > len(words):
            raise IllegalDataAddress(f"{kind} {address}+{count}")
        return words[address : address + count]


def run_with_server(
    test: Callable[[ModbusTcpServer], Awaitable[None]], units: tuple[int, ...] = (1,)
) -> ModbusTcpServer:
    async def main() -> ModbusTcpServer:
        async with ModbusTcpServer(
            "127.0.0.1", 0, dict.fromkeys(units, FixedRegisters())
        ) as server:
            await asyncio.wait_for(test(server), timeout=60.0)
        return server

    return asyncio.run(main())


async def exchange(server: ModbusTcpServer, request: bytes) -> bytes:
    """Send one raw request on a new connection; return the raw reply."""
    reader, writer = await asyncio.open_connection(*server.address)
    try:
        writer.write(request)
        await writer.drain()
        header = await reader.readexactly(6)
        (length,) = struct.unpack(">H", header[4:6])
        return header + await reader.readexactly(length)
    finally:
        writer.close()
        await writer.wait_closed()


def test_read_holding_registers() -> None:
    async def test(server: ModbusTcpServer) -> None:
        # tid 0x1234, protocol 0, length 6, unit 1, FC03 start 2 quantity 3
        reply = await exchange(server, bytes.fromhex("1234 0000 0006 01 03 0002 0003"))
        assert reply == bytes.fromhex("1234 0000 0009 01 03 06 0102 0103 0104")

    server = run_with_server(test)
    assert server.requests_served == {1: 1}


def test_read_input_registers() -> None:
    async def test(server: ModbusTcpServer) -> None:
        reply = await exchange(server, bytes.fromhex("0001 0000 0006 01 04 0000 0002"))
        assert reply == bytes.fromhex("0001 0000 0007 01 04 04 AA00 AA01")

    run_with_server(test)


def test_exception_replies() -> None:
    async def test(server: ModbusTcpServer) -> None:
        # 01: FC06 (write single register) is not supported.
        reply = await exchange(server, bytes.fromhex("0002 0000 0006 01 06 0000 0001"))
        assert reply == bytes.fromhex("0002 0000 0003 01 86 01")
        # 02: holding registers 8..11, but only 0..9 are mapped.
        reply = await exchange(server, bytes.fromhex("0003 0000 0006 01 03 0008 0004"))
        assert reply == bytes.fromhex("0003 0000 0003 01 83 02")
        # 02: past register 65535.
        reply = await exchange(server, bytes.fromhex("0004 0000 0006 01 04 FFFF 0002"))
        assert reply == bytes.fromhex("0004 0000 0003 01 84 02")
        # 03: quantity 0 and quantity 126.
        reply = await exchange(server, bytes.fromhex("0005 0000 0006 01 03 0000 0000"))
        assert reply == bytes.fromhex("0005 0000 0003 01 83 03")
        reply = await exchange(server, bytes.fromhex("0006 0000 0006 01 03 0000 007E"))
        assert reply == bytes.fromhex("0006 0000 0003 01 83 03")
        # 03: a truncated FC03 request (no quantity).
        reply = await exchange(server, bytes.fromhex("0007 0000 0004 01 03 0000"))
        assert reply == bytes.fromhex("0007 0000 0003 01 83 03")
        # 0B: unit 7 is not served.
        reply = await exchange(server, bytes.fromhex("0008 0000 0006 07 03 0000 0001"))
        assert reply == bytes.fromhex("0008 0000 0003 07 83 0B")

    server = run_with_server(test)
    assert server.requests_served == {1: 6}


def test_several_units_and_pipelined_requests_on_one_connection() -> None:
    async def test(server: ModbusTcpServer) -> None:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(bytes.fromhex("0001 0000 0006 01 03 0000 00010002 0000 0006 02 03 0009 0001"))
        await writer.drain()
        assert await reader.readexactly(11) == bytes.fromhex("0001 0000 0005 01 03 02 0100")
        assert await reader.readexactly(11) == bytes.fromhex("0002 0000 0005 02 03 02 0109")
        writer.close()
        await writer.wait_closed()

    server = run_with_server(test, units=(1, 2))
    assert server.requests_served == {1: 1, 2: 1}


def test_two_concurrent_clients_and_partial_frames() -> None:
    async def client(server: ModbusTcpServer, transaction: int) -> bytes:
        reader, writer = await asyncio.open_connection(*server.address)
        request = struct.pack(">HHHBBHH", transaction, 0, 6, 1, 3, transaction, 1)
        # Dribble the frame byte by byte: the server must reassemble it.
        for byte in request:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.001)
        reply = await reader.readexactly(11)
        writer.close()
        await writer.wait_closed()
        return reply

    async def test(server: ModbusTcpServer) -> None:
        # Hold one connection open and idle while the others are served.
        _, idle_writer = await asyncio.open_connection(*server.address)
        first, second = await asyncio.gather(client(server, 2), client(server, 5))
        assert first == bytes.fromhex("0002 0000 0005 01 03 02 0102")
        assert second == bytes.fromhex("0005 0000 0005 01 03 02 0105")
        idle_writer.close()
        await idle_writer.wait_closed()

    run_with_server(test)


def test_client_disconnecting_mid_frame_does_not_kill_the_server() -> None:
    async def test(server: ModbusTcpServer) -> None:
        _, writer = await asyncio.open_connection(*server.address)
        writer.write(bytes.fromhex("0001 0000 0006 01 03"))  # header and the function code
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        reply = await exchange(server, bytes.fromhex("0009 0000 0006 01 03 0000 0001"))
        assert reply == bytes.fromhex("0009 0000 0005 01 03 02 0100")

    run_with_server(test)


def test_wrong_protocol_id_drops_the_connection() -> None:
    async def test(server: ModbusTcpServer) -> None:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(bytes.fromhex("0001 0001 0006 01 03 0000 0001"))
        await writer.drain()
        assert await reader.read() == b""  # closed without a reply
        writer.close()
        await writer.wait_closed()
        reply = await exchange(server, bytes.fromhex("0002 0000 0006 01 03 0000 0001"))
        assert reply == bytes.fromhex("0002 0000 0005 01 03 02 0100")

    run_with_server(test)


def test_stop_closes_open_connections(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        server = ModbusTcpServer("127.0.0.1", 0, {1: FixedRegisters()})
        await server.start()
        reader, writer = await asyncio.open_connection(*server.address)
        # A reply proves the server has picked the connection up.
        writer.write(bytes.fromhex("0001 0000 0006 01 03 0000 0001"))
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(11), timeout=60.0)
        await asyncio.wait_for(server.stop(), timeout=60.0)
        assert await asyncio.wait_for(reader.read(), timeout=60.0) == b""
        writer.close()

    caplog.set_level(logging.DEBUG)
    asyncio.run(main())
    # No traceback spam from asyncio about the connections the server ended.
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_address_before_start_is_an_error() -> None:
    server = ModbusTcpServer("127.0.0.1", 0, {})
    with pytest.raises(RuntimeError, match="start"):
        _ = server.address
