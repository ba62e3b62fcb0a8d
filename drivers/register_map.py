"""Decoding Modbus register maps (profiles) into raw values and flags.

:class:`RegisterMapDecoder` plans the read requests and turns the registers read into
one *raw* value per field (word decoding, byte order, decimal point) and the flags the
link and the meter set on it (a failed block, a sentinel value, a status bit). Scale,
offset, range, derived channels, warm-up and calibration are applied afterwards by
:class:`hazmon.drivers.channel_values.ChannelMapper`, the one mapper of every transport.

Byte order is named by where the value's bytes land in the registers, A being the
most significant byte: ``ABCD`` is the Modbus default (big-endian, high word
first), ``CDAB`` swaps the two words, ``BADC`` swaps the bytes inside each word and
``DCBA`` is fully little-endian. A 16-bit value has only the first pair: ``ABCD`` and
``CDAB`` read ``AB``; ``BADC`` and ``DCBA`` read ``BA``.

The names generalise to 64-bit values as two independent choices, which is how
meters document them: word order (``ABCD``/``BADC`` high word first, ``CDAB``/``DCBA``
low word first, i.e. all four words reversed) and byte order inside each word
(``ABCD``/``CDAB`` high byte first, ``BADC``/``DCBA`` swapped). A float64
``A B C D E F G H`` is thus sent as ``AB CD EF GH`` (ABCD), ``GH EF CD AB`` (CDAB),
``BA DC FE HG`` (BADC) or ``HG FE DC BA`` (DCBA). int64/uint64 become float64
readings, exact up to 2**53.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hazmon.config.profile import (
    BIT_KINDS,
    REGISTER_COUNT,
    ModbusField,
    Profile,
    RegisterKind,
)
from hazmon.config.quality import Quality

ORDERS = ("ABCD", "BADC", "CDAB", "DCBA")
#: Kinds in the order their read blocks are planned.
KIND_ORDER: tuple[RegisterKind, ...] = ("holding", "input", "coil", "discrete_input")

_NUMPY_TYPES = {
    "int16": ">i2",
    "uint16": ">u2",
    "int32": ">i4",
    "uint32": ">u4",
    "int64": ">i8",
    "uint64": ">u8",
    "float32": ">f4",
    "float64": ">f8",
}


def byte_positions(order: str, width: int) -> list[int]:
    """Where each byte of the big-endian value sits among the transmitted bytes.

    Parameters
    ----------
    order
        ``ABCD``, ``BADC``, ``CDAB`` or ``DCBA``.
    width : [bytes]
        2, 4 or 8.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; valid: {', '.join(ORDERS)}")
    words = width // 2
    low_word_first = order in ("CDAB", "DCBA")
    bytes_swapped = order in ("BADC", "DCBA")
    positions = []
    for index in range(width):
        word, byte = divmod(index, 2)
        sent_word = words - 1 - word if low_word_first and words > 1 else word
        sent_byte = 1 - byte if bytes_swapped else byte
        positions.append(2 * sent_word + sent_byte)
    return positions


def decode_words(words: ArrayLike, data_type: str, order: str) -> NDArray[np.float64]:
    """Decode register words into values, many at once.

    Parameters
    ----------
    words
        Registers as unsigned 16-bit integers, shape ``(n, registers_per_value)`` or
        a flat sequence holding ``n`` values back to back.
    data_type
        ``int16``, ``uint16``, ``int32``, ``uint32``, ``int64``, ``uint64``,
        ``float32`` or ``float64``.
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
    big_endian = np.ascontiguousarray(transmitted[:, byte_positions(order, 2 * width)])
    return big_endian.view(_NUMPY_TYPES[data_type]).reshape(-1).astype(np.float64)


#: ``struct`` format of each data type, big-endian.
_STRUCT_FORMATS = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
    "float64": ">d",
}


def _scalar_decoder(data_type: str, order: str) -> tuple[struct.Struct, list[int]]:
    """A ``struct`` for the big-endian value and where its bytes sit on the wire.

    One value at a time, ``struct`` is several times cheaper than numpy; the decoder
    uses this per field and :func:`decode_words` stays the vectorised form.
    """
    width = 2 * REGISTER_COUNT[data_type]
    return struct.Struct(_STRUCT_FORMATS[data_type]), byte_positions(order, width)


def decode_string(words: Sequence[int], order: str = "ABCD") -> str:
    """Text held two characters per register; trailing NULs and spaces dropped.

    ``ABCD``/``CDAB`` put the first character in each register's high byte,
    ``BADC``/``DCBA`` in its low byte. Bytes that are not ASCII become U+FFFD.
    """
    swapped = order in ("BADC", "DCBA")
    data = bytearray()
    for word in words:
        high, low = word >> 8 & 0xFF, word & 0xFF
        data += bytes((low, high) if swapped else (high, low))
    return data.decode("ascii", errors="replace").rstrip("\x00 ")


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: ``count`` registers (or bits) of ``kind`` from ``address``."""

    kind: RegisterKind
    address: int
    count: int


def plan_reads(
    spans: list[tuple[RegisterKind, int, int]],
    max_count: int,
    max_gap: int = 0,
    *,
    max_bits: int = 2000,
    max_bit_gap: int = 0,
) -> list[ReadBlock]:
    """Merge spans into as few read requests as the meter allows.

    Parameters
    ----------
    spans
        ``(kind, address, count)`` of every field.
    max_count : [registers]
        Most registers one request may ask for (125 by the Modbus spec; some meters
        accept fewer).
    max_gap : [registers]
        Unused registers one request may read across to join two spans.
    max_bits : [bits]
        Most coils or discrete inputs one request may ask for (2000 by the spec).
    max_bit_gap : [bits]
        Unused coils or discrete inputs one request may read across.

    Notes
    -----
    A field wider than ``max_count`` is kept whole in one block rather than cut.
    """
    blocks: list[ReadBlock] = []
    for kind in KIND_ORDER:
        limit, gap = (max_bits, max_bit_gap) if kind in BIT_KINDS else (max_count, max_gap)
        ordered = sorted(
            (address, count) for span_kind, address, count in spans if span_kind == kind
        )
        current: tuple[int, int] | None = None  # (start, end exclusive)
        for address, count in ordered:
            end = address + count
            if current is not None and address - current[1] <= gap and end - current[0] <= limit:
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
    """Raw values and flags of one poll, one entry per profile field."""

    raw: NDArray[np.float64]
    """The decoded numbers after the decimal point, before scale and offset [profile
    unit / scale]; NaN where the field could not be read or held a sentinel."""
    flags: NDArray[np.uint16]
    """What the link (a failed block), the value (a sentinel, an unusable decimal point,
    a NaN float) and the meter's status bits say about each field."""
    status_word: int | None
    """The raw status register, when the profile has one and it was read."""
    texts: dict[str, str] = field(default_factory=dict)
    """The profile's string fields that were read, by name."""
    channels: tuple[str, ...] = ()
    """The fields' channel names, in the order of ``raw`` and ``flags``."""

    def values(self) -> dict[str, float | None]:
        """Channel → raw value, for the one mapper's ``readings``."""
        return dict(zip(self.channels, self.raw.tolist(), strict=True))

    def field_flags(self) -> dict[str, int]:
        """Channel → flags of the field, for the mapper's ``flags``."""
        return dict(zip(self.channels, self.flags.tolist(), strict=True))


class RegisterMapDecoder:
    """Turns the blocks read from a meter into raw values and quality flags.

    Parameters
    ----------
    profile
        The meter's profile; its fields define the output order.
    max_gap : [registers]
        Unused registers a read may span to join two fields; the profile's
        ``gap_fill`` by default.
    max_registers, max_bits
        Request size limits overriding the profile's (a per-device setting).
    """

    def __init__(
        self,
        profile: Profile,
        *,
        max_gap: int | None = None,
        max_registers: int | None = None,
        max_bits: int | None = None,
    ) -> None:
        self.profile = profile
        modbus = profile.modbus_map
        self.fields: tuple[ModbusField, ...] = tuple(modbus.fields)
        status = modbus.status
        spans: list[tuple[RegisterKind, int, int]] = [
            (f.register_kind, f.address, f.register_count) for f in self.fields
        ]
        spans += [
            (f.decimal_point.register_kind, f.decimal_point.address, 1)
            for f in self.fields
            if f.decimal_point is not None
        ]
        spans += [(s.register_kind, s.address, s.length) for s in modbus.strings]
        if status is not None:
            spans.append((status.register_kind, status.address, 1))
        self.blocks = plan_reads(
            spans,
            max_registers or modbus.max_registers_per_read,
            modbus.gap_fill if max_gap is None else max_gap,
            max_bits=max_bits or modbus.max_bits_per_read,
            max_bit_gap=modbus.gap_fill_bits,
        )
        self._scalars = [
            _scalar_decoder(f.type, f.order) if f.type != "bit" else None for f in self.fields
        ]
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

    def _words(
        self, block_data: list[list[int] | None], kind: RegisterKind, address: int, count: int
    ) -> tuple[list[int] | None, int]:
        """The ``count`` words at ``address``, or None and the failed block's number."""
        number = self._find(kind, address, count)
        data = block_data[number]
        if data is None:
            return None, number
        start = address - self.blocks[number].address
        return data[start : start + count], number

    def decode(self, block_data: list[list[int] | None], block_errors: list[int]) -> DecodedPoll:
        """Decode one poll into raw values and the flags of each field.

        Parameters
        ----------
        block_data
            Registers (or bits, 0/1, for coils and discrete inputs) read for each of
            ``self.blocks``; ``None`` for a block that failed.
        block_errors
            Quality flags for each block (0 when it was read), set on its fields.
        """
        count = len(self.fields)
        raw = np.full(count, np.nan)
        quality = np.zeros(count, dtype=np.uint16)
        decimal = np.ones(count)
        for number, spec in enumerate(self.fields):
            words, block_number = self._words(
                block_data, spec.register_kind, spec.address, spec.register_count
            )
            if words is None:
                quality[number] |= np.uint16(block_errors[block_number])
                continue
            if spec.type == "bit":
                word = int(words[0])
                value = float(word >> spec.bit & 1) if spec.bit is not None else float(word != 0)
            else:
                unpacker, positions = self._scalars[number]  # type: ignore[misc]
                sent = b"".join(int(word).to_bytes(2, "big") for word in words)
                value = float(unpacker.unpack(bytes(sent[index] for index in positions))[0])
            if spec.decimal_point is not None:
                reference = spec.decimal_point
                digits, digits_block = self._words(
                    block_data, reference.register_kind, reference.address, 1
                )
                if digits is None:
                    quality[number] |= np.uint16(block_errors[digits_block])
                    continue
                if digits[0] > 9:
                    # A decimal point beyond 9 places is no setting a transmitter has:
                    # the register is not what the profile says, so the value is unusable.
                    quality[number] |= np.uint16(Quality.COMM_ERROR)
                    continue
                decimal[number] = 10.0 ** -int(digits[0])
            hit = next((s for s in spec.sentinels if s.value == value), None)
            if hit is not None:
                quality[number] |= np.uint16(Quality[hit.flag])
                continue
            raw[number] = value
        raw *= decimal
        # A float register holding NaN or inf: the meter's own way of saying "no value".
        quality[~np.isfinite(raw) & (quality == 0)] |= np.uint16(Quality.SENSOR_FAULT)
        status_word: int | None = None
        status = self.profile.modbus_map.status
        if status is not None:
            words, _ = self._words(block_data, status.register_kind, status.address, 1)
            if words is not None:
                status_word = int(words[0])
                for bit, flag, applies in self._status_masks:
                    if status_word >> bit & 1:
                        quality[applies] |= np.uint16(flag)
        texts: dict[str, str] = {}
        for text in self.profile.modbus_map.strings:
            words, _ = self._words(block_data, text.register_kind, text.address, text.length)
            if words is not None:
                texts[text.name] = decode_string(words, text.order)
        return DecodedPoll(
            raw=raw,
            flags=quality,
            status_word=status_word,
            texts=texts,
            channels=tuple(self.channels),
        )
