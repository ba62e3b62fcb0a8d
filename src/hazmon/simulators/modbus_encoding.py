"""Encode engineering values into 16-bit Modbus register words.

Written with :mod:`struct` on purpose, independently of the drivers' decoders, so the
two check each other in the tests.
"""

from __future__ import annotations

import math
import struct

#: ``struct`` format (big-endian) and inclusive integer range per data type.
_FORMATS: dict[str, tuple[str, float, float]] = {
    "int16": (">h", -(2**15), 2**15 - 1),
    "uint16": (">H", 0, 2**16 - 1),
    "int32": (">i", -(2**31), 2**31 - 1),
    "uint32": (">I", 0, 2**32 - 1),
    "float32": (">f", -math.inf, math.inf),
}

#: Largest finite float32 [-]; larger magnitudes saturate to it rather than overflow.
_FLOAT32_MAX = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]

#: Position, in the big-endian byte string ``ABCD``, of each byte sent on the wire.
_ORDER_32: dict[str, tuple[int, int, int, int]] = {
    "ABCD": (0, 1, 2, 3),
    "BADC": (1, 0, 3, 2),
    "CDAB": (2, 3, 0, 1),
    "DCBA": (3, 2, 1, 0),
}

#: For one register only the byte swap matters: a word swap of one word is a no-op.
_ORDER_16: dict[str, tuple[int, int]] = {
    "ABCD": (0, 1),
    "CDAB": (0, 1),
    "BADC": (1, 0),
    "DCBA": (1, 0),
}


def encode_value(value: float, data_type: str, order: str = "ABCD") -> list[int]:
    """Encode ``value`` as the register words a meter would send.

    Parameters
    ----------
    value : [raw]
        The raw register value, i.e. already converted with
        :func:`raw_from_engineering`.
    data_type
        ``int16``, ``uint16``, ``int32``, ``uint32`` or ``float32``.
    order
        Byte order of the big-endian bytes ``ABCD`` on the wire: ``ABCD`` (Modbus
        default, high word first), ``CDAB`` (words swapped), ``BADC`` (bytes swapped
        within each word), ``DCBA`` (fully little-endian). For 16-bit types ``ABCD``
        and ``CDAB`` send ``AB``, ``BADC`` and ``DCBA`` send ``BA``.

    Returns
    -------
    list of int
        One (16-bit types) or two (32-bit types) words, each 0..65535, in register
        order (lowest address first).

    Raises
    ------
    ValueError
        For an unknown data type or order, or NaN for an integer type (an integer
        register has no NaN to send).

    Notes
    -----
    Integers are rounded to nearest and saturated to the type's range, as a real
    meter pins its reading at full scale; float32 saturates at ±3.4e38 and keeps
    NaN and ±inf.
    """
    try:
        fmt, low, high = _FORMATS[data_type]
    except KeyError:
        raise ValueError(f"unknown data type {data_type!r}; valid: {', '.join(_FORMATS)}") from None
    if order not in _ORDER_32:
        raise ValueError(f"unknown order {order!r}; valid: {', '.join(_ORDER_32)}")
    if data_type == "float32":
        number: float | int = value
        if math.isfinite(value):
            number = min(max(value, -_FLOAT32_MAX), _FLOAT32_MAX)
    else:
        if math.isnan(value):
            raise ValueError(f"cannot encode NaN as {data_type}")
        # Clamp before rounding so that ±inf saturates instead of raising.
        number = round(min(max(value, low), high))
    packed = struct.pack(fmt, number)
    positions: tuple[int, ...] = _ORDER_16[order] if len(packed) == 2 else _ORDER_32[order]
    wire = bytes(packed[index] for index in positions)
    return [wire[index] << 8 | wire[index + 1] for index in range(0, len(wire), 2)]


def raw_from_engineering(value: float, scale: float, offset: float = 0.0) -> float:
    """Invert the profile's ``engineering = raw * scale + offset``.

    Parameters
    ----------
    value : [profile unit]
        Engineering value.
    scale : [profile unit / count]
        The field's scale; must not be 0.
    offset : [profile unit]
        The field's offset.

    Returns
    -------
    float : [raw]
        ``(value - offset) / scale``, not yet rounded.

    Raises
    ------
    ValueError
        When ``scale`` is 0 (the profile could never decode such a field).
    """
    if scale == 0:
        raise ValueError("scale is 0: no raw value maps to an engineering value")
    return (value - offset) / scale
