"""Decoding Modbus register maps (profiles) into readings.

Byte order is named by where the value's bytes land in the registers, A being the
most significant byte: ``ABCD`` is the Modbus default (big-endian, high word
first), ``CDAB`` swaps the two words, ``BADC`` swaps the bytes inside each word and
``DCBA`` is fully little-endian. A 16-bit value has only the first pair: ``ABCD`` and
``CDAB`` read ``AB``; ``BADC`` and ``DCBA`` read ``BA``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import REGISTER_COUNT, ModbusField, Profile, RegisterKind
from hazmon.config.quality import Quality

#: For each order and width (bytes), where each byte of the big-endian value sits in
#: the transmitted bytes.
_BYTE_POSITIONS: dict[tuple[str, int], list[int]] = {
    ("ABCD", 2): [0, 1],
    ("CDAB", 2): [0, 1],
    ("BADC", 2): [1, 0],
    ("DCBA", 2): [1, 0],
    ("ABCD", 4): [0, 1, 2, 3],
    ("CDAB", 4): [2, 3, 0, 1],
    ("BADC", 4): [1, 0, 3, 2],
    ("DCBA", 4): [3, 2, 1, 0],
}

_NUMPY_TYPES = {
    "int16": ">i2",
    "uint16": ">u2",
    "int32": ">i4",
    "uint32": ">u4",
    "float32": ">f4",
}


def decode_words(words: ArrayLike, data_type: str, order: str) -> NDArray[np.float64]:
    """Decode register words into values, many at once.

    Parameters
    ----------
    words
        Registers as unsigned 16-bit integers, shape ``(n, registers_per_value)`` or
        a flat sequence holding ``n`` values back to back.
    data_type
        ``int16``, ``uint16``, ``int32``, ``uint32`` or ``float32``.
    order
        ``ABCD``, ``BADC``, ``CDAB`` or ``DCBA``.

    Returns
    -------
    NDArray[np.float64]
        ``n`` decoded raw values (before scale and offset).
    """
    width = REGISTER_COUNT[data_type]
    registers = np.asarray(words, dtype=np.uint16).reshape(-1, width)
    transmitted = registers.astype(">u2").view(np.uint8).reshape(-1, 2 * width)
    big_endian = np.ascontiguousarray(transmitted[:, _BYTE_POSITIONS[(order, 2 * width)]])
    return big_endian.view(_NUMPY_TYPES[data_type]).reshape(-1).astype(np.float64)


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers of ``kind`` from ``address``."""

    kind: RegisterKind
    address: int
    count: int


def plan_reads(
    spans: list[tuple[RegisterKind, int, int]], max_count: int, max_gap: int = 0
) -> list[ReadBlock]:
    """Merge register spans into as few read requests as the meter allows.

    Parameters
    ----------
    spans
        ``(kind, address, count)`` of every field.
    max_count
        Most registers one request may ask for (125 by the Modbus spec; some meters
        accept fewer).
    max_gap
        Unused registers one request may read across to join two spans.
    """
    blocks: list[ReadBlock] = []
    for kind in ("holding", "input"):
        ordered = sorted(
            (address, count) for span_kind, address, count in spans if span_kind == kind
        )
        current: tuple[int, int] | None = None  # (start, end exclusive)
        for address, count in ordered:
            end = address + count
            if (
                current is not None
                and address - current[1] <= max_gap
                and end - current[0] <= max_count
            ):
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                blocks.append(ReadBlock(kind, current[0], current[1] - current[0]))
            current = (address, end)
        if current is not None:
            blocks.append(ReadBlock(kind, current[0], current[1] - current[0]))
    return blocks


@dataclass(frozen=True, slots=True)
class DecodedPoll:
    """Values and quality flags of one poll, one entry per profile field."""

    value: NDArray[np.float64]
    """[canonical unit of each field's quantity]; NaN where the field could not be read."""
    quality: NDArray[np.uint16]
    status_word: int | None
    """The raw status register, when the profile has one and it was read."""


class RegisterMapDecoder:
    """Turns the register blocks read from a meter into values and quality flags.

    Parameters
    ----------
    profile
        The meter's profile; its fields define the output order.
    max_gap
        Unused registers a read may span to join two fields.
    """

    def __init__(self, profile: Profile, *, max_gap: int = 4) -> None:
        self.profile = profile
        self.fields: tuple[ModbusField, ...] = tuple(profile.modbus.fields)
        catalogue = load_catalogue()
        conversions = [catalogue.conversion(f.quantity, f.unit) for f in self.fields]
        self._scale = np.array(
            [f.scale * c.scale for f, c in zip(self.fields, conversions, strict=True)]
        )
        self._offset = np.array(
            [f.offset * c.scale + c.offset for f, c in zip(self.fields, conversions, strict=True)]
        )
        low = [f.range[0] if f.range else -np.inf for f in self.fields]
        high = [f.range[1] if f.range else np.inf for f in self.fields]
        self._range_low = np.array(
            [lo * c.scale + c.offset for lo, c in zip(low, conversions, strict=True)]
        )
        self._range_high = np.array(
            [hi * c.scale + c.offset for hi, c in zip(high, conversions, strict=True)]
        )
        status = profile.modbus.status
        spans: list[tuple[RegisterKind, int, int]] = [
            (f.register_kind, f.address, f.register_count) for f in self.fields
        ]
        if status is not None:
            spans.append((status.register_kind, status.address, 1))
        self.blocks = plan_reads(spans, profile.modbus.max_registers_per_read, max_gap)
        # Per status bit: which fields it flags (all when the bit names none).
        channels = [f.channel for f in self.fields]
        self._status_masks: list[tuple[int, int, NDArray[np.bool_]]] = []
        if status is not None:
            for status_bit in status.bits:
                applies = np.array(
                    [not status_bit.channels or name in status_bit.channels for name in channels]
                )
                self._status_masks.append((status_bit.bit, int(Quality[status_bit.flag]), applies))

    @property
    def channels(self) -> list[str]:
        """Channel names of the profile, in output order."""
        return [f.channel for f in self.fields]

    def _find(self, kind: RegisterKind, address: int, count: int) -> int:
        for number, block in enumerate(self.blocks):
            if (
                block.kind == kind
                and block.address <= address
                and address + count <= block.address + block.count
            ):
                return number
        raise LookupError(f"no read block covers {kind} {address}+{count}")  # pragma: no cover

    def decode(self, block_data: list[list[int] | None], block_errors: list[int]) -> DecodedPoll:
        """Decode one poll.

        Parameters
        ----------
        block_data
            Registers read for each of ``self.blocks``; ``None`` for a block that failed.
        block_errors
            Quality flags for each block (0 when it was read), set on its fields.
        """
        count = len(self.fields)
        raw = np.full(count, np.nan)
        quality = np.zeros(count, dtype=np.uint16)
        for number, field in enumerate(self.fields):
            block_number = self._find(field.register_kind, field.address, field.register_count)
            registers = block_data[block_number]
            if registers is None:
                quality[number] |= np.uint16(block_errors[block_number])
                continue
            start = field.address - self.blocks[block_number].address
            words = registers[start : start + field.register_count]
            raw[number] = decode_words(words, field.type, field.order)[0]
        value = raw * self._scale + self._offset
        with np.errstate(invalid="ignore"):
            quality[value > self._range_high] |= np.uint16(Quality.OVER_RANGE)
            quality[value < self._range_low] |= np.uint16(Quality.UNDER_RANGE)
        quality[~np.isfinite(value) & (quality == 0)] |= np.uint16(Quality.SENSOR_FAULT)
        status_word: int | None = None
        status = self.profile.modbus.status
        if status is not None:
            block_number = self._find(status.register_kind, status.address, 1)
            registers = block_data[block_number]
            if registers is not None:
                status_word = int(registers[status.address - self.blocks[block_number].address])
                for bit, flag, applies in self._status_masks:
                    if status_word >> bit & 1:
                        quality[applies] |= np.uint16(flag)
        return DecodedPoll(value=value, quality=quality, status_word=status_word)
