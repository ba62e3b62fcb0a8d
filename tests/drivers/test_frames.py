"""Binary frame decoders: the datasheets' example frames (transcripts), resync after
garbage, and a property test feeding random bytes around valid frames."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.drivers.frames import (
    WINSEN_QUESTION,
    FrameDecoder,
    decode_frames,
    pms5003_checksum,
    winsen_checksum,
)

# Nova SDS011, Laser Dust Sensor Control Protocol V1.3, the data frame example:
# PM2.5 = 0x04D4 / 10 = 123.6 µg/m³, PM10 = 0x0A3A / 10 = 261.8 µg/m³, ID A1 60.
SDS011_EXAMPLE = bytes.fromhex("AA C0 D4 04 3A 0A A1 60 1D AB")
# Winsen ZE08-CH2O datasheet: active upload (CH2O 0x17, ppb 0x04, 37 ppb of 5000) and
# the answer to the question (42 µg/m³, 32 ppb).
WINSEN_UPLOAD_EXAMPLE = bytes.fromhex("FF 17 04 00 00 25 13 88 25")
WINSEN_ANSWER_EXAMPLE = bytes.fromhex("FF 86 00 2A 00 00 00 20 30")


def pms5003_frame(words: list[int]) -> bytes:
    """A PMS5003 frame built by the datasheet's layout (its datasheet gives no example
    bytes): 42 4D, length 28, 13 data words, the 16-bit sum of all bytes before it."""
    body = bytes.fromhex("424D001C") + struct.pack(">13H", *words)
    return body + struct.pack(">H", pms5003_checksum(body))


PMS5003_EXAMPLE = pms5003_frame([5, 8, 9, 5, 8, 9, 831, 284, 41, 8, 0, 0, 0x9700])


def test_sds011_datasheet_example() -> None:
    outcome = decode_frames("sds011", SDS011_EXAMPLE)
    (frame,) = outcome.frames
    assert frame.values == {"pm2_5": pytest.approx(123.6), "pm10": pytest.approx(261.8)}
    assert outcome.consumed == 10
    assert outcome.checksum_errors == 0


def test_winsen_datasheet_examples() -> None:
    (upload,) = decode_frames("winsen_ze", WINSEN_UPLOAD_EXAMPLE).frames
    assert upload.kind == "upload"
    assert upload.values["gas_code"] == 0x17
    assert upload.values["concentration"] == 37.0
    assert upload.values["full_range"] == 5000.0
    (answer,) = decode_frames("winsen_ze", WINSEN_ANSWER_EXAMPLE).frames
    assert answer.kind == "answer"
    assert answer.values == {"concentration_mass": 42.0, "concentration": 32.0}


def test_winsen_checksums_of_the_datasheet_commands() -> None:
    assert winsen_checksum(WINSEN_QUESTION) == 0x79
    assert winsen_checksum(WINSEN_UPLOAD_EXAMPLE) == 0x25


def test_winsen_decimals_scale_the_concentration() -> None:
    body = bytes.fromhex("FF 04 03 01 00 7B 13 88")  # CO, 1 decimal: 12.3 of 500.0
    frame_bytes = body + bytes([winsen_checksum(body + b"\x00")])
    (frame,) = decode_frames("winsen_ze", frame_bytes, gas_code=0x04).frames
    assert frame.values["concentration"] == pytest.approx(12.3)
    assert frame.values["full_range"] == pytest.approx(500.0)
    assert decode_frames("winsen_ze", frame_bytes, gas_code=0x17).frames == []


def test_pms5003_layout() -> None:
    (frame,) = decode_frames("pms5003", PMS5003_EXAMPLE).frames
    assert (frame.values["pm1_0"], frame.values["pm2_5"], frame.values["pm10"]) == (5, 8, 9)
    assert frame.values["count_0_3"] == 831


def test_bad_checksum_is_counted_and_the_next_frame_read() -> None:
    corrupted = bytearray(SDS011_EXAMPLE)
    corrupted[3] ^= 0x01
    outcome = decode_frames("sds011", bytes(corrupted) + SDS011_EXAMPLE)
    assert outcome.checksum_errors == 1
    assert [frame.offset for frame in outcome.frames] == [10]


def test_a_frame_split_across_reads_is_kept_until_whole() -> None:
    decoder = FrameDecoder("pms5003")
    stream = b"\x00\x42" + PMS5003_EXAMPLE + PMS5003_EXAMPLE[:7]
    first, _ = decoder.feed(stream[:20])
    second, _ = decoder.feed(stream[20:])
    assert first == []
    assert len(second) == 1
    assert second[0].offset == 2
    assert decoder.pending == PMS5003_EXAMPLE[:7]
    third, _ = decoder.feed(PMS5003_EXAMPLE[7:])
    assert len(third) == 1
    assert third[0].offset == 2 + 32


def test_truncated_frame_then_a_whole_one() -> None:
    outcome = decode_frames("pms5003", PMS5003_EXAMPLE[:17] + PMS5003_EXAMPLE)
    assert [frame.offset for frame in outcome.frames] == [17]
    assert outcome.checksum_errors == 1


# The property: random bytes around valid frames, cut into random reads.

VALID_FRAMES = {
    "pms5003": st.lists(st.integers(0, 0xFFFF), min_size=13, max_size=13).map(pms5003_frame),
    "sds011": st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)).map(
        lambda t: (
            b"\xaa\xc0"
            + struct.pack("<HHH", *t)
            + bytes([sum(struct.pack("<HHH", *t)) & 0xFF])
            + b"\xab"
        )
    ),
    "winsen_ze": st.tuples(
        st.sampled_from([0x86, 0x04, 0x17]), st.binary(min_size=6, max_size=6)
    ).map(lambda t: _winsen(t[0], t[1])),
}


def _winsen(second: int, rest: bytes) -> bytes:
    body = bytes([0xFF, second]) + rest
    if second != 0x86:
        body = body[:3] + bytes([body[3] % 4]) + body[4:]  # decimals 0-3
    return body + bytes([winsen_checksum(body + b"\x00")])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    data=st.data(),
    frame_format=st.sampled_from(["pms5003", "sds011", "winsen_ze"]),
)
def test_every_valid_frame_in_noise_is_decoded(data: st.DataObject, frame_format: str) -> None:
    pieces = data.draw(
        st.lists(
            st.tuples(st.binary(max_size=40), VALID_FRAMES[frame_format]), min_size=1, max_size=6
        )
    )
    trailing = data.draw(st.binary(max_size=40))
    stream = b""
    embedded: list[tuple[int, bytes]] = []
    for noise, valid in pieces:
        stream += noise
        embedded.append((len(stream), valid))
        stream += valid
    stream += trailing
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = FrameDecoder(frame_format)  # type: ignore[arg-type]
    decoded = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        frames, _bad = decoder.feed(stream[start:end])
        decoded += frames
    by_offset = {frame.offset: frame for frame in decoded}
    for offset, frame_bytes in embedded:
        if offset in by_offset:
            assert by_offset[offset].raw == frame_bytes
            continue
        # Noise may itself form a valid frame overlapping this one (it passed a
        # checksum by chance): no decoder can tell which is real. Anything else is a miss.
        overlapping = [
            other
            for other in decoded
            if other.offset < offset + len(frame_bytes) and offset < other.offset + len(other.raw)
        ]
        assert overlapping, f"frame at {offset} missed in {stream.hex()}"
    for found in decoded:
        assert found.raw == stream[found.offset : found.offset + len(found.raw)]
