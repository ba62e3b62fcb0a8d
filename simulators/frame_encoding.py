"""Encoding the binary frames of serial sensor modules, written apart from the drivers'
decoders on purpose (each checks the other). Layouts: see the datasheet quotes in
:mod:`hazmon.drivers.frames`; the simulators may not import it, so the layouts are
restated here in the form an encoder needs.
"""

from __future__ import annotations

import math
import struct

#: PMS5003/7003: 0x42 0x4D, length 28, thirteen big-endian words, 16-bit sum.
PMS_WORDS = (
    "pm1_0_cf1",
    "pm2_5_cf1",
    "pm10_cf1",
    "pm1_0",
    "pm2_5",
    "pm10",
    "count_0_3",
    "count_0_5",
    "count_1_0",
    "count_2_5",
    "count_5_0",
    "count_10",
    "reserved",
)
WINSEN_QUESTION = bytes((0xFF, 0x01, 0x86, 0, 0, 0, 0, 0, 0x79))
WINSEN_SWITCH_TO_QUESTION = bytes((0xFF, 0x01, 0x78, 0x41, 0, 0, 0, 0, 0x46))
WINSEN_SWITCH_TO_ACTIVE = bytes((0xFF, 0x01, 0x78, 0x40, 0, 0, 0, 0, 0x47))


def _word(value: float, high: int = 0xFFFF) -> int:
    """A value rounded into an unsigned word: a module cannot send a negative number
    or more than its word holds, so it clips (NaN sends 0)."""
    if not math.isfinite(value):
        return 0
    return max(0, min(high, round(value)))


def encode_pms5003(values: dict[str, float]) -> bytes:
    """A 32-byte PMS5003 frame; ``values`` by word name [μg/m³ or counts per 0.1 L]."""
    words = [_word(values.get(name, 0.0)) for name in PMS_WORDS]
    body = b"BM" + struct.pack(">H13H", 28, *words)
    checksum = 0
    for byte in body:
        checksum = (checksum + byte) % 65536
    return body + struct.pack(">H", checksum)


def encode_sds011(pm2_5: float, pm10: float, device_id: int = 0xA160) -> bytes:
    """A 10-byte SDS011 data frame; ``pm2_5`` and ``pm10`` [μg/m³], sent × 10 low byte
    first."""
    data = struct.pack("<HH", _word(pm2_5 * 10), _word(pm10 * 10)) + struct.pack(">H", device_id)
    return b"\xaa\xc0" + data + bytes([sum(data) % 256]) + b"\xab"


def _winsen_checksum(body: bytes) -> int:
    # Two's complement of the sum of bytes 1..7: the bytes 1..8 then sum to 0 mod 256.
    return (256 - sum(body[1:8]) % 256) % 256


def encode_winsen_upload(
    concentration: float, *, gas_code: int, unit_code: int, decimals: int, full_range: float
) -> bytes:
    """A 9-byte Winsen active-upload frame; ``concentration`` and ``full_range`` in the
    module's unit, sent × 10^decimals."""
    factor = 10**decimals
    body = bytes((0xFF, gas_code, unit_code, decimals)) + struct.pack(
        ">HH", _word(concentration * factor), _word(full_range * factor)
    )
    return body + bytes([_winsen_checksum(body)])


def encode_winsen_answer(concentration: float, concentration_mass: float = 0.0) -> bytes:
    """A 9-byte answer to the Winsen question: bytes 2-3 the mass concentration,
    bytes 6-7 the concentration (raw words)."""
    body = bytes((0xFF, 0x86)) + struct.pack(
        ">HHH", _word(concentration_mass), 0, _word(concentration)
    )
    return body + bytes([_winsen_checksum(body)])
