"""Transcripts: the request bytes the driver sends, the reply bytes a meter sends, and
the value decoded, for every function code and data type, over RTU framing.

The meter side is a few lines of asyncio here that record the request and send bytes
written out by hand (the examples of the Modbus Application Protocol spec v1.1b3
§6.1-6.4 where it has them). CRCs are added by a third CRC implementation, below, so
neither the drivers' nor the simulators' code produces the expected bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from pymodbus.framer import FramerRTU

from hazmon.config.profile import load_profile
from hazmon.config.quality import Quality
from hazmon.drivers.modbus_adapter import ModbusRtuOverTcpTransport, RegisterKind, crc16
from hazmon.drivers.modbus_meter import ModbusMeter
from hazmon.simulators.rtu import crc16_modbus, rtu_frame

T = TypeVar("T")


def spec_crc(data: bytes) -> bytes:
    """CRC-16/MODBUS as the spec's appendix computes it, low byte first."""
    register = 0xFFFF
    for byte in data:
        register ^= byte
        for _ in range(8):
            carry = register & 1
            register >>= 1
            if carry:
                register ^= 0xA001
    return bytes([register & 0xFF, register >> 8])


def with_crc(text: str) -> bytes:
    data = bytes.fromhex(text)
    return data + spec_crc(data)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60.0))


# ---------------------------------------------------------------------------------
# CRC vectors (Modbus over Serial Line v1.02, §6.2.2 and appendix B)


@pytest.mark.parametrize(
    ("frame", "crc", "sent"),
    [
        ("0207", 0x1241, "4112"),  # the spec's example: CRC 0x1241 is sent 41 12
        ("01030000000A", 0xCDC5, "C5CD"),
        ("010300000002", 0x0BC4, "C40B"),
        ("1101001300 25", 0x840E, "0E84"),
    ],
)
def test_crc_vectors(frame: str, crc: int, sent: str) -> None:
    data = bytes.fromhex(frame)
    assert spec_crc(data) == bytes.fromhex(sent)
    assert crc16(data) == crc  # drivers
    assert crc16_modbus(data) == crc  # simulators
    assert rtu_frame(data[0], data[1:])[-2:] == bytes.fromhex(sent)
    # pymodbus' own, which the driver relies on to accept replies (it returns the
    # CRC byte-swapped, as sent on the wire).
    assert FramerRTU.compute_CRC(data) == int(sent, 16)


# ---------------------------------------------------------------------------------
# a scripted meter behind an RTU-over-TCP link


class Scripted:
    """Answers each request with the next scripted reply; records the requests."""

    def __init__(self, replies: list[bytes]) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            while self.replies:
                self.requests.append(await reader.readexactly(8))
                writer.write(self.replies.pop(0))
                await writer.drain()
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Scripted:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        await self._server.wait_closed()


# (kind, unit, address, count, request without CRC, reply without CRC, values)
FUNCTION_TRANSCRIPTS: list[tuple[RegisterKind, int, int, int, str, str, list[int]]] = [
    # §6.1 read coils 20-38: CD 6B 05, first coil in bit 0
    (
        "coil",
        0x11,
        0x13,
        0x13,
        "11 01 0013 0013",
        "11 01 03 CD 6B 05",
        [1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1],
    ),
    # §6.2 read discrete inputs 197-218: AC DB 35
    (
        "discrete_input",
        0x11,
        0xC4,
        0x16,
        "11 02 00C4 0016",
        "11 02 03 AC DB 35",
        [0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1],
    ),
    # §6.3 read holding registers 108-110: 555, 0, 100
    ("holding", 0x11, 0x6B, 3, "11 03 006B 0003", "11 03 06 022B 0000 0064", [555, 0, 100]),
    # §6.4 read input register 9: 10
    ("input", 0x11, 0x08, 1, "11 04 0008 0001", "11 04 02 000A", [10]),
]


@pytest.mark.parametrize(
    ("kind", "unit", "address", "count", "sent", "reply", "values"),
    FUNCTION_TRANSCRIPTS,
    ids=["fc01", "fc02", "fc03", "fc04"],
)
def test_function_code_transcript(
    kind: RegisterKind,
    unit: int,
    address: int,
    count: int,
    sent: str,
    reply: str,
    values: list[int],
) -> None:
    async def main() -> tuple[list[int], list[bytes]]:
        async with (
            Scripted([with_crc(reply)]) as meter,
            ModbusRtuOverTcpTransport("127.0.0.1", meter.port, timeout=1.0) as transport,
        ):
            return await transport.read(kind, address, count, unit), meter.requests

    read, requests = run(main())
    assert requests == [with_crc(sent)]
    assert read == values


@pytest.mark.parametrize(
    ("reply", "code"),
    [("11 83 02", 2), ("11 83 04", 4), ("11 83 06", 6), ("11 83 0B", 11)],
)
def test_exception_transcript(reply: str, code: int) -> None:
    async def main() -> Any:
        async with (
            Scripted([with_crc(reply)] * 4) as meter,
            ModbusRtuOverTcpTransport("127.0.0.1", meter.port, timeout=1.0) as transport,
        ):
            channels = np.array([0], dtype=np.int32)
            driver = ModbusMeter(transport, one_field("uint16", "ABCD"), 0x11, channels)
            driver.busy_delay = 0.0
            return await driver.poll(), meter.requests

    result, requests = run(main())
    assert result.exception_codes == (code,)
    assert int(result.readings.quality[0]) == int(Quality.DEVICE_EXCEPTION)
    assert np.isnan(result.readings.value[0])
    # 06 (busy) is asked again three times; the others once.
    assert len(requests) == (4 if code == 6 else 1)


PROFILE = """
schema = "hazmon.profile/1"
name = "transcript"
description = "one field"
instrument_class = "gas"
[[modbus.fields]]
channel = "co"
quantity = "co"
unit = "ppm"
register = "input"
address = 16
type = "{type}"
order = "{order}"
"""


def one_field(data_type: str, order: str, tmp: Path | None = None) -> Any:
    path = (tmp or Path("/tmp")) / f"transcript-{data_type}-{order}.toml"
    path.write_text(PROFILE.format(type=data_type, order=order), encoding="utf-8")
    return load_profile(str(path))


# (type, order, register words as sent, decoded value)
TYPE_TRANSCRIPTS: list[tuple[str, str, str, float]] = [
    ("int16", "ABCD", "FF38", -200.0),
    ("int16", "BADC", "38FF", -200.0),
    ("uint16", "ABCD", "FF38", 65336.0),
    ("int32", "ABCD", "FFFE 1DC0", -123456.0),
    ("int32", "CDAB", "1DC0 FFFE", -123456.0),
    ("uint32", "BADC", "0100 0000", 1.0 * 2**16),
    ("uint32", "DCBA", "0000 0001", 1.0 * 2**24),
    ("float32", "ABCD", "41A7 3333", 20.899999618530273),
    ("float32", "CDAB", "3333 41A7", 20.899999618530273),
    ("float32", "BADC", "A741 3333", 20.899999618530273),
    ("float32", "DCBA", "3333 A741", 20.899999618530273),
    # float64 1.5 = 3FF8 0000 0000 0000
    ("float64", "ABCD", "3FF8 0000 0000 0000", 1.5),
    ("float64", "CDAB", "0000 0000 0000 3FF8", 1.5),
    ("float64", "BADC", "F83F 0000 0000 0000", 1.5),
    ("float64", "DCBA", "0000 0000 0000 F83F", 1.5),
    # int64 -2 = FFFF FFFF FFFF FFFE
    ("int64", "ABCD", "FFFF FFFF FFFF FFFE", -2.0),
    ("int64", "CDAB", "FFFE FFFF FFFF FFFF", -2.0),
    ("int64", "BADC", "FFFF FFFF FFFF FEFF", -2.0),
    ("int64", "DCBA", "FEFF FFFF FFFF FFFF", -2.0),
    # uint64 0x0001020304050607
    ("uint64", "ABCD", "0001 0203 0405 0607", float(0x0001020304050607)),
    ("uint64", "CDAB", "0607 0405 0203 0001", float(0x0001020304050607)),
    ("uint64", "DCBA", "0706 0504 0302 0100", float(0x0001020304050607)),
]


@pytest.mark.parametrize(("data_type", "order", "words", "value"), TYPE_TRANSCRIPTS)
def test_data_type_transcript(
    tmp_path: Path, data_type: str, order: str, words: str, value: float
) -> None:
    profile = one_field(data_type, order, tmp_path)
    data = bytes.fromhex(words)
    count = len(data) // 2

    async def main() -> tuple[Any, list[bytes]]:
        reply = bytes.fromhex(f"07 04 {2 * count:02X}")
        async with (
            Scripted([reply + data + spec_crc(reply + data)]) as meter,
            ModbusRtuOverTcpTransport("127.0.0.1", meter.port, timeout=1.0) as transport,
        ):
            driver = ModbusMeter(transport, profile, 7, np.array([0], dtype=np.int32))
            return await driver.poll(), meter.requests

    result, requests = run(main())
    assert requests == [with_crc(f"07 04 0010 {count:04X}")]
    assert float(result.readings.value[0]) == value
    assert int(result.readings.quality[0]) == 0


def test_string_and_bit_transcript(tmp_path: Path) -> None:
    path = tmp_path / "text.toml"
    path.write_text(
        """
schema = "hazmon.profile/1"
name = "text"
description = "a bit and a model string"
instrument_class = "gas"
[[modbus.fields]]
channel = "alarm"
quantity = "lel"
unit = "%LEL"
register = "holding"
address = 0
type = "bit"
bit = 9
[[modbus.strings]]
name = "model"
register = "holding"
address = 1
length = 3
""",
        encoding="utf-8",
    )
    profile = load_profile(str(path))
    # register 0 = 0x0200 (bit 9 set); registers 1-3 = "GD-1" NUL NUL
    reply = bytes.fromhex("01 03 08 0200 4744 2D31 0000")

    async def main() -> tuple[Any, list[bytes]]:
        async with (
            Scripted([reply + spec_crc(reply)]) as meter,
            ModbusRtuOverTcpTransport("127.0.0.1", meter.port, timeout=1.0) as transport,
        ):
            driver = ModbusMeter(transport, profile, 1, np.array([0], dtype=np.int32))
            return await driver.poll(), meter.requests

    result, requests = run(main())
    assert requests == [with_crc("01 03 0000 0004")]
    assert float(result.readings.value[0]) == 1.0
    assert result.texts == {"model": "GD-1"}
