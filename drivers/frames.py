"""Binary frames of serial sensor modules: pure decoders, bytes in, frames out.

Three frame formats are built in, each quoted from its datasheet below. A decoder
takes whatever bytes the serial port delivered (a frame cut in two, several frames,
line noise between them), returns every complete frame that passes its checksum, and
keeps the bytes of a frame not yet complete for the next call. After garbage or a bad
checksum it resynchronises on the next start byte, one byte later than the rejected
candidate, so that a valid frame overlapping a false start is never skipped.

Nothing here does I/O: the serial meters (:mod:`hazmon.drivers.frame_meter`) feed the
decoders, and the transcript and property tests feed them bytes directly.

Plantower PMS5003 / PMS7003 (datasheet "Appendix I: transport protocol – active
mode", 9600 8N1), 32 bytes, every value a big-endian 16-bit word::

    Start character 1   0x42 (fixed)
    Start character 2   0x4d (fixed)
    Frame length        high 8 bits, low 8 bits: 2 × 13 + 2 (data + check bytes)
    Data 1   PM1.0 concentration  unit μg/m³ (CF=1, standard particle)
    Data 2   PM2.5 concentration  unit μg/m³ (CF=1, standard particle)
    Data 3   PM10  concentration  unit μg/m³ (CF=1, standard particle)
    Data 4   PM1.0 concentration  unit μg/m³ (under atmospheric environment)
    Data 5   PM2.5 concentration  unit μg/m³ (under atmospheric environment)
    Data 6   PM10  concentration  unit μg/m³ (under atmospheric environment)
    Data 7   number of particles with diameter beyond 0.3 μm in 0.1 L of air
    Data 8   ... beyond 0.5 μm     Data 9   ... beyond 1.0 μm
    Data 10  ... beyond 2.5 μm     Data 11  ... beyond 5.0 μm
    Data 12  ... beyond 10 μm      Data 13  reserved
    Check code  Start character 1 + Start character 2 + ... + data 13 low 8 bits

Nova Fitness SDS011 (Laser Dust Sensor Control Protocol V1.3, 9600 8N1), 10 bytes::

    0  Message header      AA
    1  Commander No.       C0
    2  DATA 1              PM2.5 low byte
    3  DATA 2              PM2.5 high byte
    4  DATA 3              PM10 low byte
    5  DATA 4              PM10 high byte
    6  DATA 5              ID byte 1
    7  DATA 6              ID byte 2
    8  Check-sum           Check-sum = DATA1 + DATA2 + ... + DATA6 (low 8 bits)
    9  Message tail        AB
    PM2.5 value: PM2.5 (μg/m³) = ((PM2.5 high byte × 256) + PM2.5 low byte) / 10
    PM10 value:  PM10 (μg/m³)  = ((PM10 high byte × 256) + PM10 low byte) / 10

Winsen ZE-series gas modules (ZE08-CH2O datasheet, "Communication protocol"; the
ZE03/ZE07 modules use the same 9-byte frames, 9600 8N1). Active upload, sent every
second by default::

    0 Start byte   0xFF
    1 Gas name     e.g. CH2O 0x17, CO 0x04
    2 Unit         e.g. ppb 0x04
    3 No. decimal  0x00
    4 Concentration high byte
    5 Concentration low byte
    6 Full range high byte
    7 Full range low byte
    8 Checksum
    Concentration = (high byte × 256 + low byte) × 10^-decimals

Question and answer mode (switched by ``FF 01 78 41 00 00 00 00 46``); the question
``FF 01 86 00 00 00 00 00 79`` is answered with::

    0 Start byte  0xFF
    1 Command     0x86
    2 Concentration high byte (μg/m³)
    3 Concentration low byte (μg/m³)
    4 Reserved    5 Reserved
    6 Concentration high byte (ppb)
    7 Concentration low byte (ppb)
    8 Checksum
    Checksum = (NOT (Byte1 + Byte2 + ... + Byte7)) + 1

The datasheet's examples: ``FF 17 04 00 00 25 13 88 25`` (active upload, 37 ppb of a
5000 ppb range) and ``FF 86 00 2A 00 00 00 20 30`` (answer: 42 μg/m³, 32 ppb).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hazmon.config.profile import FRAME_FIELDS, FrameFormat

#: The formats and their field names are the profile schema's, so a profile and the
#: decoder cannot disagree on a name.
FrameFormatName = FrameFormat

PMS5003_LENGTH = 32
SDS011_LENGTH = 10
WINSEN_LENGTH = 9

PMS5003_HEADER = b"\x42\x4d"
#: The PMS5003 length field: 13 data words and the check word [bytes].
PMS5003_FRAME_LENGTH_FIELD = 2 * 13 + 2
PMS5003_DATA_NAMES: tuple[str, ...] = FRAME_FIELDS["pms5003"]

SDS011_HEADER = 0xAA
SDS011_COMMAND_DATA = 0xC0
SDS011_TAIL = 0xAB

WINSEN_START = 0xFF
WINSEN_ANSWER = 0x86
#: The Winsen question "read gas concentration" (Q&A mode).
WINSEN_QUESTION = bytes.fromhex("FF0186000000000079")
#: Switch a Winsen module to Q&A mode, and back to active upload.
WINSEN_TO_QUESTION_MODE = bytes.fromhex("FF0178410000000046")
WINSEN_TO_ACTIVE_MODE = bytes.fromhex("FF0178400000000047")
#: Decimal places an active-upload frame may announce; more is taken for line noise.
WINSEN_MAX_DECIMALS = 3


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame.

    Attributes
    ----------
    format
        ``pms5003``, ``sds011`` or ``winsen_ze``.
    kind
        ``data`` (PMS5003, SDS011), ``upload`` (Winsen active) or ``answer`` (Winsen Q&A).
    values
        Field name → value in the datasheet's unit (μg/m³ for dust, the module's
        concentration unit for Winsen, counts per 0.1 L for PMS5003 particle counts).
    raw
        The frame's bytes.
    offset
        Position of the frame's first byte in the stream fed to the decoder.
    """

    format: str
    kind: str
    values: dict[str, float]
    raw: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class DecodeOutcome:
    """What :func:`decode_frames` found in a buffer.

    Attributes
    ----------
    frames
        Valid frames, in stream order.
    checksum_errors
        Candidates whose structure was right (start bytes, length or tail) but whose
        checksum failed: corrupted or truncated frames.
    consumed
        Bytes of the buffer used up; ``buffer[consumed:]`` is the start of a frame
        not yet complete and must be fed again with the next bytes.
    skipped
        Bytes discarded as garbage (not part of any frame).
    """

    frames: list[Frame]
    checksum_errors: int
    consumed: int
    skipped: int


def pms5003_checksum(body: bytes) -> int:
    """Sum of every byte before the check word, low 16 bits."""
    return sum(body) & 0xFFFF


def sds011_checksum(data: bytes) -> int:
    """Sum of DATA 1 … DATA 6 (bytes 2-7), low 8 bits."""
    return sum(data) & 0xFF


def winsen_checksum(frame_without_checksum: bytes) -> int:
    """(NOT (Byte1 + … + Byte7)) + 1, low 8 bits: the start byte is not summed."""
    return (~sum(frame_without_checksum[1:8]) + 1) & 0xFF


def _pms5003_at(buffer: bytes, start: int) -> tuple[str, Frame | None]:
    """Try a PMS5003 frame at ``start``: ``more`` (incomplete), ``skip`` (no frame
    structure), ``bad`` (checksum failed) or ``ok``."""
    if buffer[start : start + 2] != PMS5003_HEADER[: len(buffer) - start]:
        return "skip", None
    if len(buffer) - start < 4:
        return "more", None
    if int.from_bytes(buffer[start + 2 : start + 4], "big") != PMS5003_FRAME_LENGTH_FIELD:
        return "skip", None
    if len(buffer) - start < PMS5003_LENGTH:
        return "more", None
    raw = bytes(buffer[start : start + PMS5003_LENGTH])
    if pms5003_checksum(raw[:30]) != int.from_bytes(raw[30:32], "big"):
        return "bad", None
    words = [int.from_bytes(raw[4 + 2 * n : 6 + 2 * n], "big") for n in range(12)]
    values = {name: float(word) for name, word in zip(PMS5003_DATA_NAMES, words, strict=True)}
    return "ok", Frame("pms5003", "data", values, raw, start)


def _sds011_at(buffer: bytes, start: int) -> tuple[str, Frame | None]:
    available = len(buffer) - start
    if buffer[start] != SDS011_HEADER:
        return "skip", None
    if available < 2:
        return "more", None
    if buffer[start + 1] != SDS011_COMMAND_DATA:
        return "skip", None
    if available < SDS011_LENGTH:
        return "more", None
    raw = bytes(buffer[start : start + SDS011_LENGTH])
    if raw[9] != SDS011_TAIL:
        return "skip", None
    if sds011_checksum(raw[2:8]) != raw[8]:
        return "bad", None
    values = {
        "pm2_5": int.from_bytes(raw[2:4], "little") / 10.0,
        "pm10": int.from_bytes(raw[4:6], "little") / 10.0,
    }
    return "ok", Frame("sds011", "data", values, raw, start)


@dataclass(frozen=True, slots=True)
class WinsenRule:
    """What a Winsen module's profile fixes about its frames: anything else is noise.

    A line full of 0xFF (a floating RX line, a module resetting) offers a start byte
    at every position, and a one-byte checksum passes one candidate in 256: only the
    bytes a module always sends the same keep false frames out.

    Attributes
    ----------
    gas_code
        The gas byte of its active-upload frames (0x04 CO); None: any.
    full_range
        The full range its uploads announce, in the module's unit (500 ppm for the
        ZE07-CO); None: any. Checked after the checksum, so that a frame cut short is
        still counted as a checksum error.
    active
        The module uploads on its own: a question's answer (0x86) is no frame of it.
    """

    gas_code: int | None = None
    full_range: float | None = None
    active: bool = False


def _winsen_at(buffer: bytes, start: int, rule: WinsenRule) -> tuple[str, Frame | None]:
    available = len(buffer) - start
    if buffer[start] != WINSEN_START:
        return "skip", None
    if available < 2:
        return "more", None
    second = buffer[start + 1]
    answer = second == WINSEN_ANSWER
    if answer and rule.active:
        return "skip", None
    if not answer and rule.gas_code is not None and second != rule.gas_code:
        return "skip", None
    if not answer and available >= 4 and buffer[start + 3] > WINSEN_MAX_DECIMALS:
        return "skip", None
    if available < WINSEN_LENGTH:
        return "more", None
    raw = bytes(buffer[start : start + WINSEN_LENGTH])
    if winsen_checksum(raw) != raw[8]:
        return "bad", None
    # After the checksum: a frame cut short still counts as a checksum error (a
    # CRC_ERROR row), while a checksum-valid candidate of noise is only skipped.
    if not answer and rule.full_range is not None:
        announced = int.from_bytes(raw[6:8], "big") * 10.0 ** -raw[3]
        if not math.isclose(announced, rule.full_range, rel_tol=1e-9):
            return "skip", None
    if answer:
        values = {
            "concentration_mass": float(int.from_bytes(raw[2:4], "big")),
            "concentration": float(int.from_bytes(raw[6:8], "big")),
        }
        return "ok", Frame("winsen_ze", "answer", values, raw, start)
    scale = 10.0 ** -raw[3]
    values = {
        "gas_code": float(raw[1]),
        "unit_code": float(raw[2]),
        "decimals": float(raw[3]),
        "concentration": int.from_bytes(raw[4:6], "big") * scale,
        "full_range": int.from_bytes(raw[6:8], "big") * scale,
    }
    return "ok", Frame("winsen_ze", "upload", values, raw, start)


def decode_frames(
    frame_format: FrameFormatName,
    buffer: bytes,
    *,
    gas_code: int | None = None,
    base_offset: int = 0,
    rule: WinsenRule | None = None,
) -> DecodeOutcome:
    """Decode every complete frame in ``buffer``.

    Parameters
    ----------
    frame_format
        ``pms5003`` (also PMS7003), ``sds011`` or ``winsen_ze``.
    buffer
        Bytes as received; may start or end inside a frame.
    gas_code
        Winsen only: the gas byte active-upload frames must carry (others are noise).
    rule
        Winsen only: everything the profile fixes about the frames (``gas_code`` is
        its shorthand).
    base_offset
        Stream position of ``buffer[0]``, added to each frame's ``offset``.

    Returns
    -------
    DecodeOutcome
        Frames, checksum failures, and how much of ``buffer`` was consumed; keep
        ``buffer[outcome.consumed:]`` and prepend it to the next bytes.
    """
    winsen = rule if rule is not None else WinsenRule(gas_code=gas_code)
    frames: list[Frame] = []
    checksum_errors = 0
    skipped = 0
    position = 0
    while position < len(buffer):
        if frame_format == "pms5003":
            verdict, frame = _pms5003_at(buffer, position)
        elif frame_format == "sds011":
            verdict, frame = _sds011_at(buffer, position)
        else:
            verdict, frame = _winsen_at(buffer, position, winsen)
        if verdict == "more":
            break
        if verdict == "ok":
            assert frame is not None
            frames.append(
                Frame(frame.format, frame.kind, frame.values, frame.raw, base_offset + position)
            )
            position += len(frame.raw)
            continue
        if verdict == "bad":
            checksum_errors += 1
        else:
            skipped += 1
        # Resynchronise one byte on: a real frame may start inside a false candidate.
        position += 1
    return DecodeOutcome(frames, checksum_errors, position, skipped)


@dataclass(slots=True)
class FrameDecoder:
    """A stateful decoder for one serial stream: feed bytes, get frames; keeps the
    start of an incomplete frame between calls and counts what it rejected.

    Attributes
    ----------
    checksum_errors, skipped_bytes, frames_decoded
        Running totals since construction.
    """

    frame_format: FrameFormatName
    gas_code: int | None = None
    rule: WinsenRule | None = None
    checksum_errors: int = 0
    skipped_bytes: int = 0
    frames_decoded: int = 0
    _pending: bytes = field(default=b"", repr=False)
    _offset: int = field(default=0, repr=False)

    def feed(self, data: bytes) -> tuple[list[Frame], int]:
        """Decode ``data`` after what was kept; return the frames and the number of
        checksum failures in this call."""
        buffer = self._pending + data
        outcome = decode_frames(
            self.frame_format,
            buffer,
            gas_code=self.gas_code,
            base_offset=self._offset,
            rule=self.rule,
        )
        self._pending = buffer[outcome.consumed :]
        self._offset += outcome.consumed
        self.checksum_errors += outcome.checksum_errors
        self.skipped_bytes += outcome.skipped
        self.frames_decoded += len(outcome.frames)
        return outcome.frames, outcome.checksum_errors

    @property
    def pending(self) -> bytes:
        """Bytes kept: the start of a frame not yet complete."""
        return self._pending
