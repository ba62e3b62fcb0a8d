"""Fuzz targets: every decoder and loader of untrusted bytes, and the one error type
each is documented to raise. Anything else escaping is a bug.

Used by the coverage-guided fuzzer (``fuzz/run``, atheris) and by the Hypothesis
property test (``tests/test_untrusted_loaders.py``). Each target takes bytes and
returns nothing; it never prints.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hazmon.acquisition.datalog import DatalogError, read_datalog
from hazmon.acquisition.publish import PayloadError, decode_readings
from hazmon.config.errors import ConfigError
from hazmon.config.profile import load_profile
from hazmon.config.site import load_site
from hazmon.drivers.ascii_meter import AsciiLineFramer
from hazmon.drivers.channel_values import ChannelMapper
from hazmon.drivers.frame_meter import FrameFramer
from hazmon.drivers.frames import FrameDecoder
from hazmon.drivers.mqtt_adapter import MqttMessage
from hazmon.drivers.mqtt_meter import MqttFramer
from hazmon.drivers.register_map import RegisterMapDecoder
from hazmon.drivers.stream import Decoded

#: [ns UTC] A fixed arrival time (2026-05-01T08:00:00Z): the targets use no clock.
ARRIVED_NS = 1_777_622_400 * 10**9

_ASCII = [
    "dust-photometer-ascii",
    "electrical-tester-ascii",
    "heat-stress-wbgt-ascii",
    "ir-thermometer-ascii",
    "laser-distance-ascii",
    "pid-voc-ascii",
    "sound-level-meter-ascii",
    "ut-thickness-ascii",
]
_FRAMES = ["nova-sds011", "plantower-pms5003", "winsen-ze03-cl2", "winsen-ze07-co"]
_MQTT = ["toxic-6gas-mqtt", "pressure-gateway-mqtt"]
_MODBUS = ["generic-4gas"]


def _mapper(name: str) -> ChannelMapper:
    profile = load_profile(name)
    return ChannelMapper(profile, np.arange(len(profile.channels), dtype=np.int32), warmup=0.0)


def _pick(data: bytes, count: int) -> tuple[int, bytes]:
    """The first byte chooses among ``count`` decoders; the rest is their input."""
    return (data[0] % count if data else 0), data[1:]


def frames(data: bytes) -> None:
    """Binary frames in chunks (split by the second byte) through a profile's framer
    and the mapper. Raises nothing."""
    choice, rest = _pick(data, len(_FRAMES))
    name = _FRAMES[choice]
    section = load_profile(name).frame
    assert section is not None
    framer = FrameFramer(section)
    mapper = _mapper(name)
    step = (rest[0] % 16 + 1) if rest else 1
    for start in range(0, len(rest), step):
        for item in framer.feed(rest[start : start + step]):
            if isinstance(item, Decoded):
                mapper.readings(item.values, ARRIVED_NS)
    FrameDecoder("winsen_ze").feed(rest)


def ascii_lines(data: bytes) -> None:
    """One text line through an ASCII profile's framer and the mapper. Raises nothing."""
    choice, rest = _pick(data, len(_ASCII))
    name = _ASCII[choice]
    section = load_profile(name).ascii
    assert section is not None
    mapper = _mapper(name)
    for item in AsciiLineFramer(section).feed(rest):
        if isinstance(item, Decoded):
            mapper.readings(item.values, ARRIVED_NS)


def mqtt_payloads(data: bytes) -> None:
    """A JSON payload through an MQTT profile's framer and the mapper, as the stream
    loop hands it over (arrival time given). Raises nothing."""
    choice, rest = _pick(data, len(_MQTT))
    name = _MQTT[choice]
    section = load_profile(name).mqtt
    assert section is not None
    topic = "site/x/gas/toxic" if name == "toxic-6gas-mqtt" else "plant/gw1/pipe/x"
    framer = MqttFramer(section, "#")
    mapper = _mapper(name)
    message = MqttMessage(topic, rest, qos=1, retain=False, received_ns=ARRIVED_NS)
    for item in framer.feed(message):
        if isinstance(item, Decoded):
            assert item.ts_ns is not None
            readings = mapper.readings(
                item.values,
                item.ts_ns,
                arrived_ns=item.arrived_ns,
                clock_invalid=item.clock_invalid,
            )
            assert readings.ts.dtype == np.int64


def readings_messages(data: bytes) -> None:
    """A ``hazmon.readings/1`` message. Raises only PayloadError."""
    try:
        decoded = decode_readings(data)
    except PayloadError:
        return
    # What ingest does next: one row per sample, every array one-dimensional.
    assert decoded.ts.ndim == decoded.value.ndim == decoded.quality.ndim == 1
    assert len(decoded.ts) == len(decoded.value) == len(decoded.quality)


def register_maps(data: bytes) -> None:
    """Modbus register words (and failed blocks) through a register map. Raises nothing."""
    choice, rest = _pick(data, len(_MODBUS))
    decoder = RegisterMapDecoder(load_profile(_MODBUS[choice]))
    words = np.frombuffer(rest[: len(rest) // 2 * 2], dtype=">u2").astype(int).tolist()
    blocks: list[list[int] | None] = []
    errors: list[int] = []
    for block in decoder.blocks:
        chunk = words[: block.count]
        words = words[block.count :]
        if len(chunk) < block.count:
            blocks.append(None)  # a block that did not answer
            errors.append(1)
        else:
            blocks.append(chunk)
            errors.append(0)
    decoder.decode(blocks, errors)


def _as_file(data: bytes, suffix: str, body: Callable[[Path], object]) -> None:
    with tempfile.TemporaryDirectory(prefix="hazmon-fuzz-") as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        body(path)


def site_files(data: bytes) -> None:
    """A site TOML file, any bytes, any encoding. Raises only ConfigError."""

    def load(path: Path) -> None:
        with contextlib.suppress(ConfigError):
            load_site(str(path))

    _as_file(data, ".toml", load)


def profile_files(data: bytes) -> None:
    """A profile TOML file, any bytes, any encoding. Raises only ConfigError."""

    def load(path: Path) -> None:
        with contextlib.suppress(ConfigError):
            load_profile(str(path))

    _as_file(data, ".toml", load)


def datalogs(data: bytes) -> None:
    """A datalog CSV export. Raises only DatalogError."""

    def load(path: Path) -> None:
        with contextlib.suppress(DatalogError):
            read_datalog(path)

    _as_file(data, ".csv", load)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "frames": frames,
    "ascii_lines": ascii_lines,
    "mqtt_payloads": mqtt_payloads,
    "readings_messages": readings_messages,
    "register_maps": register_maps,
    "site_files": site_files,
    "profile_files": profile_files,
    "datalogs": datalogs,
}

CORPUS = Path(os.path.dirname(os.path.abspath(__file__))) / "corpus"
