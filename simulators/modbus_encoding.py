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
    "int64": (">q", -(2**63), 2**63 - 1),
    "uint64": (">Q", 0, 2**64 - 1),
    "float32": (">f", -math.inf, math.inf),
    "float64": (">d", -math.inf, math.inf),
    "bit": (">H", 0, 1),
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

#: 64-bit values: ``CDAB``/``DCBA`` send the low word first (all four words reversed),
#: ``BADC``/``DCBA`` swap the bytes in each word; written out, not computed.
_ORDER_64: dict[str, tuple[int, ...]] = {
    "ABCD": (0, 1, 2, 3, 4, 5, 6, 7),
    "BADC": (1, 0, 3, 2, 5, 4, 7, 6),
    "CDAB": (6, 7, 4, 5, 2, 3, 0, 1),
    "DCBA": (7, 6, 5, 4, 3, 2, 1, 0),
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
        ``int16``, ``uint16``, ``int32``, ``uint32``, ``int64``, ``uint64``,
        ``float32``, ``float64`` or ``bit`` (0 or 1 in one register).
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
    elif data_type == "float64":
        number = value
    else:
        if math.isnan(value):
            raise ValueError(f"cannot encode NaN as {data_type}")
        # Clamp before rounding so that ±inf saturates instead of raising.
        # Clamp again after rounding: float(2**63 - 1) rounds up to 2**63.
        number = int(min(max(round(min(max(value, low), high)), low), high))
    packed = struct.pack(fmt, number)
    positions: tuple[int, ...]
    if len(packed) == 2:
        positions = _ORDER_16[order]
    elif len(packed) == 4:
        positions = _ORDER_32[order]
    else:
        positions = _ORDER_64[order]
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


def encode_string(text: str, length: int, order: str = "ABCD") -> list[int]:
    """``text`` as ``length`` registers, two ASCII characters each, NUL padded.

    ``ABCD``/``CDAB`` put the first character in the high byte of each register,
    ``BADC``/``DCBA`` in the low byte. Longer text is cut to ``2 * length`` characters.
    """
    data = text.encode("ascii", errors="replace")[: 2 * length].ljust(2 * length, b"\x00")
    swapped = order in ("BADC", "DCBA")
    return [
        (data[i + 1] << 8 | data[i]) if swapped else (data[i] << 8 | data[i + 1])
        for i in range(0, len(data), 2)
    ]
