"""The simulated RS-485 line on a pseudo-terminal, spoken to with raw pyserial bytes.

Expected replies are written out by hand; CRCs come from the spec's bitwise algorithm
written here (the simulator's is table-driven).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import serial

from hazmon.config.profile import load_profile
from hazmon.config.site import ChannelScenario, FaultInjection, Simulation
from hazmon.simulators.meter import SimulatedMeter, decimal_places
from hazmon.simulators.modbus_encoding import encode_string, encode_value
from hazmon.simulators.rtu import PtyRtuServer, crc16_modbus, line_timing

T = TypeVar("T")
FOUR_GAS = load_profile("generic-4gas")


def crc(data: bytes) -> bytes:
    register = 0xFFFF
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ 0xA001 if register & 1 else register >> 1
    return bytes([register & 0xFF, register >> 8])


def frame(text: str) -> bytes:
    data = bytes.fromhex(text)
    return data + crc(data)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=DEADLINE))


def test_crc_spec_example() -> None:
    assert crc16_modbus(bytes([0x02, 0x07])) == 0x1241
    assert frame("0207")[-2:] == bytes([0x41, 0x12])


def test_line_timing() -> None:
    character, silent = line_timing(9600, "E")
    assert character == pytest.approx(11 / 9600)
    assert silent == pytest.approx(3.5 * 11 / 9600)
    assert line_timing(38400)[1] == 0.00175


#: [s] for a reply that must come: generous, since the suite runs on loaded machines.
DEADLINE = 60.0
#: [s] of silence that shows a request gets no reply. A reply that came later than
#: this would be read at the start of the next request's reply and fail the test.
SILENCE = 0.15


def exchange(
    units: dict[int, SimulatedMeter],
    requests: list[tuple[bytes, int]],
    baudrate: int = 115200,
) -> list[bytes]:
    """Send each (request, reply length [bytes]) on one pty line; return the replies.

    A reply that must come is read until its length has arrived (within
    :data:`DEADLINE`), so a slow machine cannot make it look missing or cut it short; a
    request with reply length 0 is given :data:`SILENCE` to show that nothing comes.
    """

    async def main() -> list[bytes]:
        async with PtyRtuServer(units, baudrate=baudrate) as line:

            def talk() -> list[bytes]:
                replies = []
                with serial.Serial(line.device, baudrate=baudrate) as port:
                    for request, length in requests:
                        port.write(request)
                        port.timeout = DEADLINE if length else SILENCE
                        replies.append(bytes(port.read(length or 300)))
                return replies

            return await asyncio.to_thread(talk)

    return run(main())


def meter(faults: list[FaultInjection] | None = None) -> SimulatedMeter:
    return SimulatedMeter(
        FOUR_GAS,
        Simulation(
            channels={
                "lel": ChannelScenario(baseline=12.3),
                "o2": ChannelScenario(baseline=20.9),
            },
            faults=faults or [],
        ),
    )


def test_read_holding_registers_transcript() -> None:
    # lel 123 (0x007B), o2 209 (0x00D1)
    [reply] = exchange({5: meter()}, [(frame("05 03 0000 0002"), 9)])
    assert reply == frame("05 03 04 007B 00D1")


def test_exception_02_outside_the_map() -> None:
    [reply] = exchange({5: meter()}, [(frame("05 04 0000 0001"), 5)])
    assert reply == frame("05 84 02")


def test_other_units_bad_crc_and_broadcast_get_no_reply() -> None:
    bad = bytearray(frame("05 03 0000 0001"))
    bad[-1] ^= 0xFF
    replies = exchange(
        {5: meter()},
        [
            (frame("06 03 0000 0001"), 0),
            (bytes(bad), 0),
            (frame("00 03 0000 0001"), 0),
            (frame("05 03 0000 0001"), 7),
        ],
    )
    assert replies == [b"", b"", b"", frame("05 03 02 007B")]


def test_several_units_on_one_line() -> None:
    other = SimulatedMeter(FOUR_GAS, Simulation(channels={"lel": ChannelScenario(baseline=1.0)}))
    replies = exchange(
        {5: meter(), 6: other}, [(frame("06 03 0000 0001"), 7), (frame("05 03 0000 0001"), 7)]
    )
    assert replies == [frame("06 03 02 000A"), frame("05 03 02 007B")]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (FaultInjection(kind="no_reply"), b""),
        (FaultInjection(kind="disconnect"), b""),
        (FaultInjection(kind="exception", code=11), frame("05 83 0B")),
        (FaultInjection(kind="wrong_unit_id"), frame("06 03 02 007B")),
        (
            FaultInjection(kind="bad_crc"),
            bytes.fromhex("05 03 02 007B")
            + bytes(
                [
                    crc(bytes.fromhex("0503 02 007B"))[0] ^ 0xFF,
                    crc(bytes.fromhex("0503 02 007B"))[1],
                ]
            ),
        ),
        (FaultInjection(kind="split_frame", delay=0.01), frame("05 03 02 007B")),
    ],
    ids=["no_reply", "disconnect", "exception-0B", "wrong_unit_id", "bad_crc", "split_frame"],
)
def test_faults_on_the_wire(fault: FaultInjection, expected: bytes) -> None:
    [reply] = exchange({5: meter([fault])}, [(frame("05 03 0000 0001"), len(expected))])
    assert reply == expected


def test_garbage_is_not_the_reply() -> None:
    [reply] = exchange(
        {5: meter([FaultInjection(kind="garbage")])}, [(frame("05 03 0000 0001"), 7)]
    )
    assert len(reply) == 7
    assert reply != frame("05 03 02 007B")


def test_wrong_baud_rate_gets_no_reply() -> None:
    async def main() -> bytes:
        async with PtyRtuServer({5: meter()}, baudrate=19200) as line:

            def talk() -> bytes:
                with serial.Serial(line.device, baudrate=9600, timeout=0.2) as port:
                    port.write(frame("05 03 0000 0001"))
                    return bytes(port.read(10))

            return await asyncio.to_thread(talk)

    assert run(main()) == b""


def test_coils_and_discrete_inputs_are_packed_lsb_first(tmp_path: Any) -> None:
    path = tmp_path / "bits.toml"
    path.write_text(
        'schema = "hazmon.profile/1"\nname = "bits"\ndescription = "x"\n'
        'instrument_class = "gas"\n'
        + "".join(
            f'[[modbus.fields]]\nchannel = "c{n}"\nquantity = "lel"\nunit = "%LEL"\n'
            f'register = "coil"\naddress = {n}\ntype = "bit"\n'
            for n in range(10)
        ),
        encoding="utf-8",
    )
    profile = load_profile(str(path))
    on = {f"c{n}": ChannelScenario(baseline=1.0) for n in (0, 2, 9)}
    bits = SimulatedMeter(profile, Simulation(channels=on))
    [reply] = exchange({1: bits}, [(frame("01 01 0000 000A"), 7)])
    # coils 0 and 2 → 0b00000101; coil 9 → bit 1 of the second byte
    assert reply == frame("01 01 02 05 02")


def test_encode_64_bit_and_strings() -> None:
    assert encode_value(1.5, "float64", "ABCD") == [0x3FF8, 0, 0, 0]
    assert encode_value(1.5, "float64", "CDAB") == [0, 0, 0, 0x3FF8]
    assert encode_value(1.5, "float64", "BADC") == [0xF83F, 0, 0, 0]
    assert encode_value(-2, "int64", "DCBA") == [0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF]
    assert encode_value(float(2**64), "uint64") == [0xFFFF] * 4  # saturates
    assert encode_string("GD-1", 3) == [0x4744, 0x2D31, 0x0000]
    assert encode_string("GD-1", 2, "BADC") == [0x4447, 0x312D]


def test_decimal_places_auto_range() -> None:
    assert decimal_places(12.345, "uint16") == 3
    assert decimal_places(1234.5, "uint16") == 1
    assert decimal_places(99999.0, "uint16") == 0
    assert decimal_places(1.25, "int32") == 4
