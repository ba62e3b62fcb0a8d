"""Register decoding: data types and byte orders, read planning, the profile decoder.

Every expected register word below was written out by hand from the value's
big-endian bytes ``A B C D`` (``ABCD`` = AB CD, ``BADC`` = BA DC, ``CDAB`` = CD AB,
``DCBA`` = DC BA; 16-bit values use only ``AB`` or ``BA``), never produced by the
code under test.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray

from hazmon.config.profile import Profile, RegisterKind, load_profile
from hazmon.config.quality import Quality
from hazmon.drivers.channel_values import ChannelMapper
from hazmon.drivers.register_map import (
    ReadBlock,
    RegisterMapDecoder,
    decode_words,
    plan_reads,
)

Span = tuple[RegisterKind, int, int]


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


OK = int(Quality.OK)
OVER = int(Quality.OVER_RANGE)
UNDER = int(Quality.UNDER_RANGE)
FAULT = int(Quality.SENSOR_FAULT)
WARMUP = int(Quality.WARMUP)
CAL_DUE = int(Quality.CALIBRATION_DUE)
TIMEOUT = int(Quality.COMM_TIMEOUT)
EXCEPTION = int(Quality.DEVICE_EXCEPTION)

#: float32(123.456) as a double: the value float32 can actually hold.
F123_456 = 123.45600128173828

# (data type, order, registers, decoded value)
DECODE_TABLE: list[tuple[str, str, list[int], float]] = [
    # uint16 4660 = 0x1234: A=12 B=34
    ("uint16", "ABCD", [0x1234], 4660.0),
    ("uint16", "CDAB", [0x1234], 4660.0),
    ("uint16", "BADC", [0x3412], 4660.0),
    ("uint16", "DCBA", [0x3412], 4660.0),
    # uint16 max 65535 = 0xFFFF
    ("uint16", "ABCD", [0xFFFF], 65535.0),
    ("uint16", "BADC", [0xFFFF], 65535.0),
    # int16 -12345 = 0xCFC7: A=CF B=C7
    ("int16", "ABCD", [0xCFC7], -12345.0),
    ("int16", "CDAB", [0xCFC7], -12345.0),
    ("int16", "BADC", [0xC7CF], -12345.0),
    ("int16", "DCBA", [0xC7CF], -12345.0),
    # int16 min -32768 = 0x8000, max 32767 = 0x7FFF
    ("int16", "ABCD", [0x8000], -32768.0),
    ("int16", "BADC", [0x0080], -32768.0),
    ("int16", "ABCD", [0x7FFF], 32767.0),
    ("int16", "DCBA", [0xFF7F], 32767.0),
    # int32 -123456789 = 0xF8A432EB: A=F8 B=A4 C=32 D=EB
    ("int32", "ABCD", [0xF8A4, 0x32EB], -123456789.0),
    ("int32", "BADC", [0xA4F8, 0xEB32], -123456789.0),
    ("int32", "CDAB", [0x32EB, 0xF8A4], -123456789.0),
    ("int32", "DCBA", [0xEB32, 0xA4F8], -123456789.0),
    # int32 min = 0x80000000
    ("int32", "ABCD", [0x8000, 0x0000], -2147483648.0),
    ("int32", "BADC", [0x0080, 0x0000], -2147483648.0),
    ("int32", "CDAB", [0x0000, 0x8000], -2147483648.0),
    ("int32", "DCBA", [0x0000, 0x0080], -2147483648.0),
    # int32 max = 0x7FFFFFFF
    ("int32", "ABCD", [0x7FFF, 0xFFFF], 2147483647.0),
    ("int32", "BADC", [0xFF7F, 0xFFFF], 2147483647.0),
    ("int32", "CDAB", [0xFFFF, 0x7FFF], 2147483647.0),
    ("int32", "DCBA", [0xFFFF, 0xFF7F], 2147483647.0),
    # uint32 3000000000 = 0xB2D05E00: A=B2 B=D0 C=5E D=00
    ("uint32", "ABCD", [0xB2D0, 0x5E00], 3000000000.0),
    ("uint32", "BADC", [0xD0B2, 0x005E], 3000000000.0),
    ("uint32", "CDAB", [0x5E00, 0xB2D0], 3000000000.0),
    ("uint32", "DCBA", [0x005E, 0xD0B2], 3000000000.0),
    # uint32 max = 0xFFFFFFFF, the same in every order
    ("uint32", "ABCD", [0xFFFF, 0xFFFF], 4294967295.0),
    ("uint32", "BADC", [0xFFFF, 0xFFFF], 4294967295.0),
    ("uint32", "CDAB", [0xFFFF, 0xFFFF], 4294967295.0),
    ("uint32", "DCBA", [0xFFFF, 0xFFFF], 4294967295.0),
    # float32 123.456 = 0x42F6E979: A=42 B=F6 C=E9 D=79
    ("float32", "ABCD", [0x42F6, 0xE979], F123_456),
    ("float32", "BADC", [0xF642, 0x79E9], F123_456),
    ("float32", "CDAB", [0xE979, 0x42F6], F123_456),
    ("float32", "DCBA", [0x79E9, 0xF642], F123_456),
    # float32 -1.5 = 0xBFC00000
    ("float32", "ABCD", [0xBFC0, 0x0000], -1.5),
    ("float32", "BADC", [0xC0BF, 0x0000], -1.5),
    ("float32", "CDAB", [0x0000, 0xBFC0], -1.5),
    ("float32", "DCBA", [0x0000, 0xC0BF], -1.5),
]


@pytest.mark.parametrize(
    ("data_type", "order", "words", "expected"),
    DECODE_TABLE,
    ids=[f"{t}-{o}-{'_'.join(f'{w:04X}' for w in ws)}" for t, o, ws, _ in DECODE_TABLE],
)
def test_decode_words_single_value(
    data_type: str, order: str, words: list[int], expected: float
) -> None:
    decoded = decode_words(words, data_type, order)
    assert decoded.dtype == np.float64
    assert decoded.shape == (1,)
    assert decoded[0] == expected


@pytest.mark.parametrize("order", ["ABCD", "BADC", "CDAB", "DCBA"])
def test_decode_words_many_values_2d_and_flat(order: str) -> None:
    # All int32 rows of the table for this order, stacked into shape (n, 2).
    rows = [(words, value) for t, o, words, value in DECODE_TABLE if t == "int32" and o == order]
    matrix = np.array([words for words, _ in rows], dtype=np.uint16)
    expected = np.array([value for _, value in rows])
    assert matrix.shape == (3, 2)
    np.testing.assert_array_equal(decode_words(matrix, "int32", order), expected)
    # The same words back to back, as a flat list of Python ints.
    flat = [int(word) for word in matrix.reshape(-1)]
    np.testing.assert_array_equal(decode_words(flat, "int32", order), expected)


def test_decode_words_vectorised_int16_negative_and_extremes() -> None:
    words = [0x0000, 0x0001, 0xFFFF, 0x8000, 0x7FFF, 0xCFC7]
    np.testing.assert_array_equal(
        decode_words(words, "int16", "ABCD"), [0.0, 1.0, -1.0, -32768.0, 32767.0, -12345.0]
    )
    np.testing.assert_array_equal(
        decode_words(words, "uint16", "ABCD"), [0.0, 1.0, 65535.0, 32768.0, 32767.0, 53191.0]
    )
    # Byte-swapped: 0x0001 read BA is 0x0100 = 256.
    np.testing.assert_array_equal(
        decode_words(words, "int16", "BADC"), [0.0, 256.0, -1.0, 128.0, -129.0, -14385.0]
    )


def test_decode_words_vectorised_float32_mixed_signs() -> None:
    # 1.0 = 0x3F800000, -2.0 = 0xC0000000, 0.0, 5.5 = 0x40B00000; words swapped (CDAB).
    words = np.array(
        [[0x0000, 0x3F80], [0x0000, 0xC000], [0x0000, 0x0000], [0x0000, 0x40B0]],
        dtype=np.uint16,
    )
    np.testing.assert_array_equal(decode_words(words, "float32", "CDAB"), [1.0, -2.0, 0.0, 5.5])


def test_decode_words_float32_specials() -> None:
    # NaN 0x7FC00000, +inf 0x7F800000, -inf 0xFF800000 (ABCD)
    decoded = decode_words([0x7FC0, 0x0000, 0x7F80, 0x0000, 0xFF80, 0x0000], "float32", "ABCD")
    assert np.isnan(decoded[0])
    assert decoded[1] == np.inf
    assert decoded[2] == -np.inf


def test_decode_words_many_values_large_batch() -> None:
    # 10 000 uint32 counters 0x00010000 + i in CDAB: words (low, high) = (i, 0x0001).
    count = 10_000
    low = np.arange(count, dtype=np.uint16)
    words = np.column_stack([low, np.full(count, 0x0001, dtype=np.uint16)])
    decoded = decode_words(words, "uint32", "CDAB")
    np.testing.assert_array_equal(decoded, 65536.0 + np.arange(count))


# ---------------------------------------------------------------------------------
# plan_reads


def test_plan_reads_merges_adjacent_spans() -> None:
    spans: list[Span] = [("holding", 0, 1), ("holding", 1, 1), ("holding", 2, 2)]
    assert plan_reads(spans, max_count=125) == [ReadBlock("holding", 0, 4)]


def test_plan_reads_overlapping_spans_merge() -> None:
    spans: list[Span] = [("holding", 0, 2), ("holding", 1, 1), ("holding", 1, 2)]
    assert plan_reads(spans, max_count=125) == [ReadBlock("holding", 0, 3)]


@pytest.mark.parametrize(
    ("max_gap", "expected"),
    [
        # registers 1 and 2 are unused: a gap of 2
        (0, [ReadBlock("holding", 0, 1), ReadBlock("holding", 3, 1)]),
        (1, [ReadBlock("holding", 0, 1), ReadBlock("holding", 3, 1)]),
        (2, [ReadBlock("holding", 0, 4)]),
        (10, [ReadBlock("holding", 0, 4)]),
    ],
)
def test_plan_reads_gap_fill(max_gap: int, expected: list[ReadBlock]) -> None:
    spans: list[Span] = [("holding", 0, 1), ("holding", 3, 1)]
    assert plan_reads(spans, max_count=125, max_gap=max_gap) == expected


def test_plan_reads_gap_fill_counts_against_max_count() -> None:
    # Joining 0 and 3 would need a 4-register request; only 3 are allowed.
    spans: list[Span] = [("holding", 0, 1), ("holding", 3, 1)]
    assert plan_reads(spans, max_count=3, max_gap=5) == [
        ReadBlock("holding", 0, 1),
        ReadBlock("holding", 3, 1),
    ]


def test_plan_reads_splits_at_max_count() -> None:
    spans: list[Span] = [("holding", address, 1) for address in range(10)]
    assert plan_reads(spans, max_count=4) == [
        ReadBlock("holding", 0, 4),
        ReadBlock("holding", 4, 4),
        ReadBlock("holding", 8, 2),
    ]


def test_plan_reads_max_count_one_reads_each_register_alone() -> None:
    spans: list[Span] = [("input", 2, 1), ("input", 0, 1), ("input", 1, 1)]
    assert plan_reads(spans, max_count=1, max_gap=4) == [
        ReadBlock("input", 0, 1),
        ReadBlock("input", 1, 1),
        ReadBlock("input", 2, 1),
    ]


def test_plan_reads_never_splits_a_field_wider_than_max_count() -> None:
    # A 32-bit field cannot be read in one-register requests; it is kept whole
    # (the one block larger than max_count) rather than cut in half.
    spans: list[Span] = [("holding", 0, 2), ("holding", 2, 1)]
    assert plan_reads(spans, max_count=1) == [
        ReadBlock("holding", 0, 2),
        ReadBlock("holding", 2, 1),
    ]


def test_plan_reads_keeps_holding_and_input_apart() -> None:
    spans: list[Span] = [("input", 0, 1), ("holding", 0, 1), ("holding", 1, 1), ("input", 1, 2)]
    assert plan_reads(spans, max_count=125, max_gap=10) == [
        ReadBlock("holding", 0, 2),
        ReadBlock("input", 0, 3),
    ]


def test_plan_reads_unsorted_input() -> None:
    spans: list[Span] = [("holding", 5, 1), ("holding", 0, 1), ("holding", 3, 2), ("holding", 1, 2)]
    assert plan_reads(spans, max_count=125) == [ReadBlock("holding", 0, 6)]
    spans = [("holding", 40, 2), ("holding", 0, 1), ("holding", 20, 1)]
    assert plan_reads(spans, max_count=125) == [
        ReadBlock("holding", 0, 1),
        ReadBlock("holding", 20, 1),
        ReadBlock("holding", 40, 2),
    ]


def test_plan_reads_empty() -> None:
    assert plan_reads([], max_count=125) == []


# ---------------------------------------------------------------------------------
# RegisterMapDecoder on the bundled generic-4gas profile
#
# lel uint16 @0 ×0.1 %LEL [0, 100]; o2 uint16 @1 ×0.1 %vol [0, 30];
# co int16 @2 ppm [0, 1000]; h2s float32 CDAB @4-5 ppm [0, 100]; status @8.


@pytest.fixture(scope="module")
def four_gas() -> RegisterMapDecoder:
    return RegisterMapDecoder(load_profile("generic-4gas"))


def four_gas_image(
    lel: int = 0, o2: int = 0, co: int = 0, h2s: tuple[int, int] = (0, 0), status: int = 0
) -> list[int]:
    """The 9 holding registers 0..8 of the generic-4gas map (register 3, 6, 7 unused)."""
    return [lel, o2, co, 0, h2s[0], h2s[1], 0, 0, status]


def test_four_gas_reads_in_one_block(four_gas: RegisterMapDecoder) -> None:
    assert four_gas.blocks == [ReadBlock("holding", 0, 9)]
    assert four_gas.channels == ["lel", "o2", "co", "h2s"]


def test_four_gas_scale_and_values(four_gas: RegisterMapDecoder) -> None:
    # lel 123 → 12.3 %LEL; o2 209 → 20.9 %vol; co 35 ppm; h2s 5.5 ppm (0x40B00000 CDAB)
    decoded = mapped(four_gas, [four_gas_image(123, 209, 35, (0x0000, 0x40B0))], [0])
    np.testing.assert_allclose(decoded.value, [12.3, 20.9, 35.0, 5.5], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(decoded.quality, [OK, OK, OK, OK])
    assert decoded.quality.dtype == np.uint16
    assert decoded.status_word == 0


def test_four_gas_range_flags(four_gas: RegisterMapDecoder) -> None:
    # lel 1001 → 100.1 > 100: OVER; o2 300 → 30.0 is the edge: OK;
    # co 0xFFFF → -1 < 0: UNDER; h2s -1.5 (0xBFC00000 CDAB) < 0: UNDER
    decoded = mapped(four_gas, [four_gas_image(1001, 300, 0xFFFF, (0x0000, 0xBFC0))], [0])
    np.testing.assert_allclose(decoded.value, [100.1, 30.0, -1.0, -1.5], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(decoded.quality, [OVER, OK, UNDER, UNDER])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (0b0001, [FAULT, OK, OK, OK]),
        (0b0010, [OK, FAULT, OK, OK]),
        (0b0100, [OK, OK, FAULT, OK]),
        (0b1000, [OK, OK, OK, FAULT]),
        (1 << 8, [WARMUP] * 4),
        (1 << 9, [CAL_DUE] * 4),
        (
            (1 << 9) | (1 << 8) | 0b0010,
            [WARMUP | CAL_DUE, FAULT | WARMUP | CAL_DUE, *[WARMUP | CAL_DUE] * 2],
        ),
        (1 << 4, [OK] * 4),  # an unmapped bit sets nothing
    ],
)
def test_four_gas_status_bits(
    four_gas: RegisterMapDecoder, status: int, expected: list[int]
) -> None:
    decoded = mapped(four_gas, [four_gas_image(100, 209, 5, (0, 0), status=status)], [0])
    np.testing.assert_array_equal(decoded.quality, expected)
    assert decoded.status_word == status
    # The values are decoded as usual whatever the status says.
    np.testing.assert_allclose(decoded.value, [10.0, 20.9, 5.0, 0.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("flag", [TIMEOUT, EXCEPTION, int(Quality.COMM_ERROR)])
def test_four_gas_failed_block_gives_nan_and_the_flag(
    four_gas: RegisterMapDecoder, flag: int
) -> None:
    decoded = mapped(four_gas, [None], [flag])
    assert decoded.value.shape == (4,)
    assert np.isnan(decoded.value).all()
    np.testing.assert_array_equal(decoded.quality, [flag] * 4)  # not SENSOR_FAULT as well
    assert decoded.status_word is None


def test_four_gas_nan_float_is_sensor_fault(four_gas: RegisterMapDecoder) -> None:
    # h2s NaN = 0x7FC00000, CDAB → [0x0000, 0x7FC0]
    decoded = mapped(four_gas, [four_gas_image(100, 209, 5, (0x0000, 0x7FC0))], [0])
    assert np.isnan(decoded.value[3])
    np.testing.assert_array_equal(decoded.quality, [OK, OK, OK, FAULT])


# ---------------------------------------------------------------------------------
# A custom profile: input registers, unit conversions, small max_registers_per_read

CUSTOM_PROFILE = """
schema = "hazmon.profile/1"
name = "test-multiblock"
description = "Test meter: input registers, converted units, two registers per read"
instrument_class = "gas"

[modbus]
max_registers_per_read = 2

[[modbus.fields]]
channel = "lel"
quantity = "lel"
unit = "LEL"            # fraction of LEL; canonical %LEL = value * 100
register = "input"
address = 0
type = "uint16"
scale = 0.001
range = [0, 1]

[[modbus.fields]]
channel = "temp"
quantity = "temperature"
unit = "K"              # canonical °C = K - 273.15
register = "input"
address = 1
type = "int16"
scale = 0.1
offset = 0.0
range = [233.15, 373.15]

[[modbus.fields]]
channel = "o2"
quantity = "o2"
unit = "ppm"            # canonical %vol = ppm * 0.0001
register = "input"
address = 2
type = "float32"
order = "DCBA"

[[modbus.fields]]
channel = "co"
quantity = "co"
unit = "ppb"            # canonical ppm = ppb * 0.001
register = "holding"
address = 10
type = "uint32"
order = "BADC"
offset = -500.0

[modbus.status]
register = "input"
address = 4
bits = [
  { bit = 0, flag = "SENSOR_FAULT", channels = ["temp"] },
  { bit = 15, flag = "WARMUP" },
]
"""


@pytest.fixture
def custom_profile(tmp_path: Path) -> Profile:
    path = tmp_path / "test-multiblock.toml"
    path.write_text(CUSTOM_PROFILE, encoding="utf-8")
    return load_profile(str(path))


def test_custom_profile_plans_several_blocks(custom_profile: Profile) -> None:
    decoder = RegisterMapDecoder(custom_profile)
    assert decoder.blocks == [
        ReadBlock("holding", 10, 2),
        ReadBlock("input", 0, 2),
        ReadBlock("input", 2, 2),
        ReadBlock("input", 4, 1),
    ]
    assert decoder.channels == ["lel", "temp", "o2", "co"]


def custom_blocks(
    lel: int, temp: int, o2: tuple[int, int], co: tuple[int, int], status: int
) -> list[list[int] | None]:
    """Registers of the four blocks of the custom profile, in plan order."""
    return [[co[0], co[1]], [lel, temp], [o2[0], o2[1]], [status]]


def test_custom_profile_converts_units(custom_profile: Profile) -> None:
    decoder = RegisterMapDecoder(custom_profile)
    # lel 250 × 0.001 LEL = 0.25 LEL → 25 %LEL
    # temp 2931 × 0.1 K = 293.1 K → 19.95 °C
    # o2 209000 ppm (float32 0x484C1A00, DCBA → [0x001A, 0x4C48]) → 20.9 %vol
    # co 12500 = 0x000030D4 (BADC → [0x0000, 0xD430]) - 500 ppb = 12000 ppb → 12 ppm
    decoded = mapped(
        decoder, custom_blocks(250, 2931, (0x001A, 0x4C48), (0x0000, 0xD430), 0), [0, 0, 0, 0]
    )
    np.testing.assert_allclose(decoded.value, [25.0, 19.95, 20.9, 12.0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(decoded.quality, [OK, OK, OK, OK])
    assert decoded.status_word == 0


def test_custom_profile_range_in_profile_unit(custom_profile: Profile) -> None:
    decoder = RegisterMapDecoder(custom_profile)
    # lel 1001 × 0.001 = 1.001 LEL > 1 LEL → OVER; temp 3800 → 380 K > 373.15 K → OVER
    decoded = mapped(decoder, custom_blocks(1001, 3800, (0, 0), (0x0000, 0xF401), 0), [0, 0, 0, 0])
    np.testing.assert_allclose(decoded.value[:2], [100.1, 106.85], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(decoded.quality[:2], [OVER, OVER])
    # temp -500 (0xFE0C) → -50 K is below 233.15 K → UNDER
    decoded = mapped(decoder, custom_blocks(0, 0xFE0C, (0, 0), (0, 0), 0), [0, 0, 0, 0])
    assert decoded.quality[1] == UNDER


def test_custom_profile_one_failed_block_leaves_the_others(custom_profile: Profile) -> None:
    decoder = RegisterMapDecoder(custom_profile)
    blocks = custom_blocks(250, 2931, (0x001A, 0x4C48), (0x0000, 0xD430), 1 | 1 << 15)
    blocks[2] = None  # the o2 read timed out
    decoded = mapped(decoder, blocks, [0, 0, TIMEOUT, 0])
    assert np.isnan(decoded.value[2])
    np.testing.assert_allclose(decoded.value[[0, 1, 3]], [25.0, 19.95, 12.0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(
        decoded.quality, [WARMUP, FAULT | WARMUP, TIMEOUT | WARMUP, WARMUP]
    )
    assert decoded.status_word == 0x8001


def test_custom_profile_failed_status_block(custom_profile: Profile) -> None:
    decoder = RegisterMapDecoder(custom_profile)
    blocks = custom_blocks(250, 2931, (0x001A, 0x4C48), (0x0000, 0xD430), 0)
    blocks[3] = None
    decoded = mapped(decoder, blocks, [0, 0, 0, EXCEPTION])
    assert decoded.status_word is None
    np.testing.assert_array_equal(decoded.quality, [OK, OK, OK, OK])
    np.testing.assert_allclose(decoded.value, [25.0, 19.95, 20.9, 12.0], rtol=0, atol=1e-9)
