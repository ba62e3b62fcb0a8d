"""Register maps beyond the skeleton: 64-bit types, bits, coils, decimal point, sentinels,
strings, per-kind read planning. Expected words are written out by hand."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray

from hazmon.config.errors import ConfigError
from hazmon.config.profile import Profile, load_profile
from hazmon.config.quality import Quality
from hazmon.drivers.channel_values import ChannelMapper
from hazmon.drivers.register_map import (
    ReadBlock,
    RegisterMapDecoder,
    byte_positions,
    decode_string,
    decode_words,
    plan_reads,
)

FAULT = int(Quality.SENSOR_FAULT)
COMM = int(Quality.COMM_ERROR)
TIMEOUT = int(Quality.COMM_TIMEOUT)


class Mapped(NamedTuple):
    value: NDArray[np.float64]
    quality: NDArray[np.uint16]
    status_word: int | None


def mapped(
    decoder: RegisterMapDecoder, blocks: list[list[int] | None], errors: list[int]
) -> Mapped:
    """Decode a poll and map it as a Modbus meter does (the one mapper)."""
    decoded = decoder.decode(blocks, errors)
    numbers = np.arange(len(decoder.profile.channels), dtype=np.int32)
    mapper = ChannelMapper(decoder.profile, numbers, warmup=0)
    readings = mapper.readings(decoded.values(), 0, flags=decoded.field_flags())
    return Mapped(readings.value, readings.quality, decoded.status_word)


def test_byte_positions_generalise_to_64_bit() -> None:
    assert byte_positions("ABCD", 8) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert byte_positions("CDAB", 8) == [6, 7, 4, 5, 2, 3, 0, 1]
    assert byte_positions("BADC", 8) == [1, 0, 3, 2, 5, 4, 7, 6]
    assert byte_positions("DCBA", 8) == [7, 6, 5, 4, 3, 2, 1, 0]
    # and agree with the 32-bit table of the skeleton
    assert byte_positions("CDAB", 4) == [2, 3, 0, 1]
    assert byte_positions("BADC", 2) == [1, 0]


@pytest.mark.parametrize(
    ("data_type", "order", "words", "value"),
    [
        # float64 -2.5 = C004 0000 0000 0000
        ("float64", "ABCD", [0xC004, 0, 0, 0], -2.5),
        ("float64", "CDAB", [0, 0, 0, 0xC004], -2.5),
        ("float64", "BADC", [0x04C0, 0, 0, 0], -2.5),
        ("float64", "DCBA", [0, 0, 0, 0x04C0], -2.5),
        # int64 min = 8000 0000 0000 0000
        ("int64", "ABCD", [0x8000, 0, 0, 0], -(2.0**63)),
        # uint64 2**53 + 0 = 0020 0000 0000 0000
        ("uint64", "ABCD", [0x0020, 0, 0, 0], 2.0**53),
        ("uint64", "CDAB", [0, 0, 0, 0x0020], 2.0**53),
    ],
)
def test_decode_64_bit(data_type: str, order: str, words: list[int], value: float) -> None:
    assert decode_words(words, data_type, order)[0] == value


def test_decode_string() -> None:
    assert decode_string([0x4744, 0x2D31, 0x3030, 0x0000]) == "GD-100"
    assert decode_string([0x4447, 0x312D, 0x2020], "BADC") == "GD-1"


def test_plan_bits_apart_from_registers() -> None:
    spans = [
        ("coil", 0, 1),
        ("coil", 40, 1),
        ("discrete_input", 3, 1),
        ("holding", 0, 2),
        ("coil", 10, 1),
    ]
    assert plan_reads(spans, max_count=125, max_gap=0, max_bits=2000, max_bit_gap=16) == [  # type: ignore[arg-type]
        ReadBlock("holding", 0, 2),
        ReadBlock("coil", 0, 11),
        ReadBlock("coil", 40, 1),
        ReadBlock("discrete_input", 3, 1),
    ]
    assert plan_reads(spans, max_count=125, max_bits=5, max_bit_gap=100) == [  # type: ignore[arg-type]
        ReadBlock("holding", 0, 2),
        ReadBlock("coil", 0, 1),
        ReadBlock("coil", 10, 1),
        ReadBlock("coil", 40, 1),
        ReadBlock("discrete_input", 3, 1),
    ]


PROFILE = """
schema = "hazmon.profile/1"
name = "transmitter"
description = "decimal point, sentinels, bits, coils"
instrument_class = "gas"

[modbus]
max_registers_per_read = 125
gap_fill = 0

[[modbus.fields]]
channel = "co"
quantity = "co"
unit = "ppm"
register = "input"
address = 0
type = "uint16"
decimal_point = { register = "input", address = 1 }
sentinels = [ { value = 65535, flag = "SENSOR_FAULT" } ]
range = [0, 1000]

[[modbus.fields]]
channel = "h2s"
quantity = "h2s"
unit = "ppm"
register = "input"
address = 2
type = "int16"
scale = 0.1
sentinels = [ { value = -32768, flag = "SENSOR_FAULT" }, { value = 32767, flag = "OVER_RANGE" } ]

[[modbus.fields]]
channel = "relay"
quantity = "lel"
unit = "%LEL"
register = "coil"
address = 5
type = "bit"

[[modbus.fields]]
channel = "flag"
quantity = "lel"
unit = "%LEL"
register = "input"
address = 3
type = "bit"
bit = 15
"""


@pytest.fixture
def transmitter(tmp_path: Path) -> Profile:
    path = tmp_path / "transmitter.toml"
    path.write_text(PROFILE, encoding="utf-8")
    return load_profile(str(path))


def test_transmitter_blocks(transmitter: Profile) -> None:
    decoder = RegisterMapDecoder(transmitter)
    assert decoder.blocks == [ReadBlock("input", 0, 4), ReadBlock("coil", 5, 1)]


@pytest.mark.parametrize(
    ("registers", "coil", "value", "quality"),
    [
        # 12345 with 3 decimals = 12.345 ppm; h2s 25 × 0.1; coil on; bit 15 off
        ([12345, 3, 25, 0x7FFF], 1, [12.345, 2.5, 1.0, 0.0], [0, 0, 0, 0]),
        # decimal point 0; bit 15 on
        ([500, 0, 25, 0x8000], 0, [500.0, 2.5, 0.0, 1.0], [0, 0, 0, 0]),
        # sentinels: 0xFFFF and 0x8000 → SENSOR_FAULT, 0x7FFF → OVER_RANGE, value NaN
        ([0xFFFF, 1, 0x8000, 0], 0, [np.nan, np.nan, 0.0, 0.0], [FAULT, FAULT, 0, 0]),
        ([1, 1, 0x7FFF, 0], 0, [0.1, np.nan, 0.0, 0.0], [0, int(Quality.OVER_RANGE), 0, 0]),
        # a decimal point of 12 places is not a setting: the register is not what the
        # profile says
        ([100, 12, 25, 0], 0, [np.nan, 2.5, 0.0, 0.0], [COMM, 0, 0, 0]),
    ],
)
def test_transmitter_decode(
    transmitter: Profile,
    registers: list[int],
    coil: int,
    value: list[float],
    quality: list[int],
) -> None:
    decoded = mapped(RegisterMapDecoder(transmitter), [registers, [coil]], [0, 0])
    np.testing.assert_allclose(decoded.value, value, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(decoded.quality, quality)


def test_failed_coil_block_flags_only_the_coil(transmitter: Profile) -> None:
    decoded = mapped(RegisterMapDecoder(transmitter), [[1, 0, 1, 0], None], [0, TIMEOUT])
    np.testing.assert_array_equal(decoded.quality, [0, 0, TIMEOUT, 0])


def test_per_device_limits_override_the_profile(transmitter: Profile) -> None:
    decoder = RegisterMapDecoder(transmitter, max_registers=1)
    assert decoder.blocks[:4] == [ReadBlock("input", a, 1) for a in range(4)]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ('register = "coil"\naddress = 0\ntype = "uint16"', 'set type = "bit"'),
        ('register = "holding"\naddress = 0\ntype = "bit"', "needs bit = 0..15"),
        ('register = "holding"\naddress = 0\ntype = "uint16"\nbit = 3', "only for type"),
    ],
)
def test_profile_errors_for_bits(tmp_path: Path, field: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'schema = "hazmon.profile/1"\nname = "bad"\ndescription = "x"\n'
        'instrument_class = "gas"\n[[modbus.fields]]\nchannel = "a"\nquantity = "lel"\n'
        f'unit = "%LEL"\n{field}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=message):
        load_profile(str(path))


TRANSMITTER = Path(__file__).parent / "data" / "generic-transmitter.toml"


def test_transmitter_profile_end_to_end_over_a_pty() -> None:
    """Decimal point chosen by the simulated transmitter, decoded by the driver."""
    import asyncio

    from hazmon.config.addresses import parse_address
    from hazmon.config.site import ChannelScenario, Simulation
    from hazmon.drivers.modbus_adapter import open_transport
    from hazmon.drivers.modbus_meter import ModbusMeter, PollResult
    from hazmon.simulators.meter import SimulatedMeter
    from hazmon.simulators.rtu import PtyRtuServer

    profile = load_profile(str(TRANSMITTER))
    readings = {"co": 12.345, "temperature": -3.4}
    sim = Simulation(channels={k: ChannelScenario(baseline=v) for k, v in readings.items()})

    async def main() -> PollResult:
        async with (
            PtyRtuServer({3: SimulatedMeter(profile, sim)}, baudrate=115200) as line,
            open_transport(parse_address(line.address)) as transport,
        ):
            channels = np.arange(2, dtype=np.int32)
            # The profile asks 30 s of warm-up; this transmitter was on before.
            return await ModbusMeter(transport, profile, 3, channels, warmup=0).poll()

    result = asyncio.run(asyncio.wait_for(main(), 5.0))
    np.testing.assert_allclose(result.readings.value, [12.345, -3.4], atol=1e-9)
    assert result.texts == {"model": "generic TX-1"}
    np.testing.assert_array_equal(result.readings.quality, [0, 0])
