"""Register encoding: known vectors per data type and order, and saturation."""

from __future__ import annotations

import math
import struct

import pytest

from hazmon.simulators.modbus_encoding import encode_value, raw_from_engineering


@pytest.mark.parametrize(
    ("order", "words"),
    [
        ("ABCD", [0x3F80, 0x0000]),
        ("CDAB", [0x0000, 0x3F80]),
        ("BADC", [0x803F, 0x0000]),
        ("DCBA", [0x0000, 0x803F]),
    ],
)
def test_float32_one_in_every_order(order: str, words: list[int]) -> None:
    assert encode_value(1.0, "float32", order) == words


@pytest.mark.parametrize(
    ("value", "data_type", "order", "words"),
    [
        (-2, "int32", "ABCD", [0xFFFF, 0xFFFE]),
        (-2, "int32", "CDAB", [0xFFFE, 0xFFFF]),
        (0x12345678, "uint32", "ABCD", [0x1234, 0x5678]),
        (0x12345678, "uint32", "CDAB", [0x5678, 0x1234]),
        (0x12345678, "uint32", "BADC", [0x3412, 0x7856]),
        (0x12345678, "uint32", "DCBA", [0x7856, 0x3412]),
        (0x1234, "uint16", "ABCD", [0x1234]),
        (0x1234, "uint16", "CDAB", [0x1234]),
        (0x1234, "uint16", "BADC", [0x3412]),
        (0x1234, "uint16", "DCBA", [0x3412]),
        (-1, "int16", "ABCD", [0xFFFF]),
        (-300, "int16", "ABCD", [0xFED4]),
        (209.4, "uint16", "ABCD", [209]),
        (209.6, "uint16", "ABCD", [210]),
    ],
)
def test_known_vectors(value: float, data_type: str, order: str, words: list[int]) -> None:
    assert encode_value(value, data_type, order) == words


@pytest.mark.parametrize(
    ("value", "data_type", "words"),
    [
        (70000, "int16", [0x7FFF]),
        (-70000, "int16", [0x8000]),
        (-5, "uint16", [0x0000]),
        (1e6, "uint16", [0xFFFF]),
        (math.inf, "uint16", [0xFFFF]),
        (1e12, "int32", [0x7FFF, 0xFFFF]),
        (-1e12, "int32", [0x8000, 0x0000]),
        (-1, "uint32", [0x0000, 0x0000]),
        (1e12, "uint32", [0xFFFF, 0xFFFF]),
        (1e39, "float32", [0x7F7F, 0xFFFF]),
    ],
)
def test_integers_saturate(value: float, data_type: str, words: list[int]) -> None:
    assert encode_value(value, data_type, "ABCD") == words


def test_float32_round_trips_through_struct() -> None:
    words = encode_value(-12.375, "float32", "CDAB")
    assert struct.unpack(">f", struct.pack(">HH", words[1], words[0]))[0] == -12.375


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="int8"):
        encode_value(1, "int8", "ABCD")
    with pytest.raises(ValueError, match="ACBD"):
        encode_value(1, "int16", "ACBD")
    with pytest.raises(ValueError, match="NaN"):
        encode_value(math.nan, "int16", "ABCD")
    assert math.isnan(
        struct.unpack(">f", struct.pack(">HH", *encode_value(math.nan, "float32")))[0]
    )


def test_raw_from_engineering() -> None:
    assert raw_from_engineering(20.9, 0.1) == pytest.approx(209.0)
    assert raw_from_engineering(4.0, 0.5, offset=-1.0) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="scale"):
        raw_from_engineering(1.0, 0.0)
