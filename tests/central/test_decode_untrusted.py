"""``decode_readings`` on untrusted payloads: every bad shape is a PayloadError naming
it, out-of-range numbers and times are flagged readings, nothing raises anything else."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hazmon.acquisition.publish import (
    PayloadError,
    decode_readings,
    encode_readings,
    message_numbering,
)
from hazmon.analysis.readings import Channel
from hazmon.config.quality import Quality

ARRIVAL = 1_790_000_000_000_000_000  # 2026-09-21 [ns UTC]
CHANNEL = Channel(site="s", device="d", quantity="lel", unit="%LEL")


def _payload(**fields: object) -> bytes:
    base: dict[str, object] = {
        "schema": "hazmon.readings/1",
        "site": "s",
        "device": "d",
        "quantity": "lel",
        "unit": "%LEL",
        "ts": [ARRIVAL],
        "value": [1.5],
        "quality": [0],
    }
    base.update(fields)
    return json.dumps(base).encode()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"ts": 5}, "'ts' is not a list"),
        ({"value": [[1.0, 2.0]]}, "'value' holds"),
        ({"quality": [[0]]}, "'quality' holds"),
        ({"quality": [70000]}, "'quality' holds"),
        ({"quality": [-1]}, "'quality' holds"),
        ({"quality": [2**70]}, "'quality' holds"),
        ({"quality": [True]}, "'quality' holds"),  # JSON true is no flag word
        ({"ts": [True]}, "'ts' holds"),
        ({"value": [False]}, "'value' holds"),
        ({"ts": [[ARRIVAL]]}, "'ts' holds"),
        ({"ts": [1.5e18]}, "'ts' holds"),
        ({"value": ["1"]}, "'value' holds"),
        ({"site": 3}, "'site'"),
        ({"seq": -1}, "'seq'"),
        ({"ts": [ARRIVAL, ARRIVAL]}, "differ in length"),
    ],
)
def test_a_bad_shape_is_a_payload_error(fields: dict[str, object], named: str) -> None:
    with pytest.raises(PayloadError, match=named.replace("[", r"\[")):
        decode_readings(_payload(**fields), arrival_ns=ARRIVAL)


def test_times_outside_the_window_get_the_arrival_time_and_a_flag() -> None:
    # By hand: 1969 (negative), 1812, 9999-12-31 and a 400-digit number are outside
    # [2000-01-01, arrival + 1 day]; arrival − 1 h is inside and kept.
    inside = ARRIVAL - 3_600_000_000_000
    times = [
        -1_000_000_000,
        -4_954_000_000_000_000_000,
        253_402_300_799_000_000_000,
        10**400,
        inside,
    ]
    decoded = decode_readings(
        _payload(ts=times, value=[1.0] * 5, quality=[0] * 5), arrival_ns=ARRIVAL
    )
    assert decoded.ts.tolist() == [ARRIVAL] * 4 + [inside]
    assert decoded.quality.tolist() == [int(Quality.CLOCK_INVALID)] * 4 + [0]


def test_a_value_beyond_float_range_is_a_sensor_fault_not_an_overflow() -> None:
    decoded = decode_readings(
        _payload(ts=[ARRIVAL] * 3, value=[10**400, None, 2.5], quality=[0] * 3),
        arrival_ns=ARRIVAL,
    )
    assert np.isnan(decoded.value[0])
    assert np.isnan(decoded.value[1])
    assert decoded.value[2] == 2.5
    assert decoded.quality.tolist() == [int(Quality.SENSOR_FAULT), 0, 0]


def test_numbering_round_trips() -> None:
    payload = encode_readings(
        CHANNEL,
        np.array([ARRIVAL], dtype=np.int64),
        np.array([1.0]),
        np.zeros(1, dtype=np.uint16),
        np.zeros(1, dtype=np.uint8),
        boot=123,
        seq=7,
    )
    decoded = decode_readings(payload, arrival_ns=ARRIVAL)
    assert (decoded.boot, decoded.seq) == (123, 7)
    assert message_numbering(payload) == (123, 7)


@pytest.mark.parametrize(
    ("payload", "numbering"),
    [
        # A message set aside (a 2-D value) whose number can still be read.
        (_payload(value=[[1.0, 2.0]], boot=5, seq=9), (5, 9)),
        (_payload(boot=5), None),  # unnumbered
        (_payload(boot=5, seq=0), None),  # a kit numbers from 1
        (_payload(boot=-5, seq=1), None),
        (_payload(boot=5, seq=2**63), None),
        (_payload(boot=True, seq=1), None),
        (_payload(boot=5, seq=1.0), None),
        (b'{"boot":5,"seq":' + b"9" * 70 + b"}", None),  # the tail's digits past 64 bits
        (b"[" * 100_000, None),  # deeper than the parser goes
        (b"\xff\xfe", None),
        (b"[1, 2]", None),
    ],
)
def test_the_numbering_of_any_payload_is_read_or_none(
    payload: bytes, numbering: tuple[int, int] | None
) -> None:
    assert message_numbering(payload) == numbering


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_reading_the_numbering_of_random_bytes_never_raises(data: bytes) -> None:
    found = message_numbering(data)
    assert found is None or (0 <= found[0] < 2**63 and 1 <= found[1] < 2**63)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_random_bytes_never_raise_anything_but_a_payload_error(data: bytes) -> None:
    with contextlib.suppress(PayloadError):
        decode_readings(data, arrival_ns=ARRIVAL)


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {"ts": json_value, "value": json_value, "quality": json_value, "seq": json_value}
    )
)
def test_random_fields_never_raise_anything_but_a_payload_error(fields: dict[str, object]) -> None:
    with contextlib.suppress(PayloadError):
        decode_readings(
            _payload(**fields),
            arrival_ns=ARRIVAL,
        )
