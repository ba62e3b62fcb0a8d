"""Random bytes and text into every decoder and loader of untrusted input: only the
error type each documents may escape (the fuzz targets of ``fuzz/targets.py``, run
here by Hypothesis on every test run; ``fuzz/run`` runs them coverage-guided)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).parents[2] / "fuzz"


def _targets() -> dict[str, Callable[[bytes], None]]:
    spec = importlib.util.spec_from_file_location("hazmon_fuzz_targets", FUZZ / "targets.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    targets: dict[str, Callable[[bytes], None]] = module.TARGETS
    return targets


TARGETS = _targets()
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "gbk", "latin-1"]


def _seeds(target: str) -> list[bytes]:
    return [path.read_bytes() for path in sorted((FUZZ / "corpus" / target).iterdir())]


@st.composite
def _inputs(draw: st.DrawFn, target: str) -> bytes:
    """Random bytes; or a corpus seed mutated and re-encoded: a seed keeps the input
    deep enough to reach the checks past the first byte."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=600))
    seed = draw(st.sampled_from(_seeds(target)))
    cut = draw(st.integers(0, len(seed)))
    data = seed[:cut] + draw(st.binary(max_size=40)) + seed[cut + draw(st.integers(0, 40)) :]
    encoding = draw(st.sampled_from(ENCODINGS))
    try:
        return data.decode("utf-8").encode(encoding)
    except (UnicodeDecodeError, UnicodeEncodeError):
        return data


FAST = ["frames", "ascii_lines", "mqtt_payloads", "register_maps"]
FILES = ["site_files", "profile_files", "datalogs"]


@pytest.mark.parametrize("target", FAST + FILES)
def test_only_the_documented_error_escapes(target: str) -> None:
    # Files go through the disk and pandas: fewer examples keep the test short.
    examples = 150 if target in FAST else 40

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=_inputs(target))
    def run(data: bytes) -> None:
        TARGETS[target](data)

    run()


@pytest.mark.parametrize("target", FAST + FILES)
def test_every_corpus_input_as_it_is(target: str) -> None:
    # The corpus holds what the fuzzer once found (fuzz/corpus/site_files/
    # long-profile-name: a profile name longer than a file name may be, an OSError).
    for seed in _seeds(target):
        TARGETS[target](seed)


def _readings(**fields: Any) -> bytes:
    document = {
        "schema": "hazmon.readings/1",
        "site": "kit",
        "device": "gd-1",
        "quantity": "lel",
        "unit": "%LEL",
        "ts": [1],
        "value": [1.0],
        "quality": [0],
        **fields,
    }
    return json.dumps(document).encode()


_ARRAYS = st.recursive(
    st.none() | st.integers() | st.floats() | st.text(max_size=3),
    lambda children: st.lists(children, max_size=3),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(ts=_ARRAYS, value=_ARRAYS, quality=_ARRAYS)
@example(ts=5, value=[[1.0]], quality=[[0]])
def test_readings_messages_raise_only_payload_error(ts: Any, value: Any, quality: Any) -> None:
    TARGETS["readings_messages"](_readings(ts=ts, value=value, quality=quality))
