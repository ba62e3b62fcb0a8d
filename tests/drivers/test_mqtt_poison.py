"""Poisoned MQTT payloads against ``hazmon run``: a real Mosquitto, a simulated Modbus
meter beside the MQTT meter, the service a real subprocess.

A year-9999 stamp, a 400-digit integer value, stamps from 1812 and 1969 each keep
their row (arrival time + CLOCK_INVALID, or SENSOR_FAULT), the service goes on and the
Modbus meter keeps being polled: no payload ends a task.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.config.addresses import MqttAddress
from hazmon.config.profile import load_profile
from hazmon.config.quality import Quality, sane_timestamp
from hazmon.config.site import SiteConfig
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import ChannelMapper
from hazmon.drivers.mqtt_adapter import MqttMessage
from hazmon.drivers.mqtt_meter import MqttFramer, MqttMeter, decode_payload
from hazmon.drivers.stream import Decoded, Rejected
from hazmon.simulators.site import SimulatedSite

CLOCK_INVALID = int(Quality.CLOCK_INVALID)
SENSOR_FAULT = int(Quality.SENSOR_FAULT)
TOPIC = "site/tox-1/gas/toxic"


@pytest.fixture
def modbus_meter() -> Iterator[str]:
    """A simulated four-gas Modbus TCP meter on a free port, served from a thread."""
    site = SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": "sim",
            "enterprise": "Sim",
            "devices": [
                {
                    "id": "gd-1",
                    "profile": "generic-4gas",
                    "address": "127.0.0.1:15020",
                    "simulation": {"seed": 1, "channels": {"lel": {"baseline": 1.0}}},
                }
            ],
        }
    )
    loop = asyncio.new_event_loop()
    simulated = SimulatedSite(site, free_ports=True)
    loop.run_until_complete(simulated.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield simulated.addresses["gd-1"]
    finally:
        asyncio.run_coroutine_threadsafe(simulated.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


LIST_DEAD_LETTERS = [sys.executable, "-m", "hazmon.acquisition.cli", "dead-letters", "--db"]


def _site_file(tmp_path: Path, modbus: str, broker_port: int) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        f"""schema = "hazmon.site/1"
name = "poison"
enterprise = "Poison Co."

[stores]
sqlite = "readings.db"

[[devices]]
id = "gd-1"
profile = "generic-4gas"
address = "{modbus}"
poll_interval = 0.1

[[devices]]
id = "tox-1"
profile = "toxic-6gas-mqtt"
address = "mqtt://127.0.0.1:{broker_port}"
warmup_seconds = 0
""",
        encoding="utf-8",
    )
    return path


def _rows(database: Path, device: str) -> list[tuple[int, float | None, int]]:
    """(ts, value, quality) of the device's CO (MQTT) or LEL (Modbus) channel."""
    try:
        with sqlite3.connect(database) as db:
            rows = db.execute(
                "SELECT r.ts, r.value, r.quality FROM readings r "
                "JOIN channels c ON c.id = r.channel_id "
                "WHERE c.device = ? AND c.name IN ('co', 'lel') ORDER BY r.ts",
                (device,),
            ).fetchall()
    except sqlite3.OperationalError:  # the service has not made the tables yet
        return []
    return [(int(ts), value, int(quality)) for ts, value, quality in rows]


def _wait(condition: Any, process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"not within 60 s: {what}"
        time.sleep(0.1)


def test_poisoned_payloads_keep_rows_and_the_service_polls_on(
    tmp_path: Path, mqtt_broker: Any, modbus_meter: str
) -> None:
    site = _site_file(tmp_path, modbus_meter, mqtt_broker.port)
    database = tmp_path / "readings.db"
    publisher = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mqtt_broker.port)
    publisher.loop_start()

    def publish(document: dict[str, Any] | str) -> None:
        raw = document if isinstance(document, str) else json.dumps(document)
        publisher.publish(TOPIC, raw, qos=1).wait_for_publish(10)

    def good(co: float, second: int) -> str:
        stamp = f"2026-05-01T08:00:{second:02d}+00:00"
        return json.dumps({"ts": stamp, "gas": {"co": co}})

    process = subprocess.Popen(
        [sys.executable, "-m", "hazmon.acquisition.cli", "run", str(site), "--no-live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Until the meter's subscription exists, messages go nowhere: publish a good
        # one until it is stored.
        def subscribed() -> bool:
            publish(good(7.0, 0))
            return any(value == 7.0 for _ts, value, _q in _rows(database, "tox-1"))

        _wait(subscribed, process, "the MQTT meter's first reading")
        before = time.time_ns()
        poison = [
            '{"ts": "9999-12-31T23:59:59+00:00", "gas": {"co": 11}}',
            '{"ts": "1812-06-24T00:00:00+00:00", "gas": {"co": 12}}',
            '{"ts": "1969-07-20T20:17:40+00:00", "gas": {"co": 13}}',
            '{"ts": "-0001-01-01T00:00:00+00:00", "gas": {"co": 14}}',
            '{"ts": "2026-05-01T08:00:01+00:00", "gas": {"co": ' + "9" * 400 + "}}",
            '{"ts": ' + "9" * 400 + ', "gas": {"co": 15}}',
        ]
        for payload in poison:
            publish(payload)
        publish("{not json \x1b[2J")  # no values at all: a dead letter, kept
        publish(good(8.0, 2))
        _wait(
            lambda: any(value == 8.0 for _ts, value, _q in _rows(database, "tox-1")),
            process,
            "the good reading after the poison",
        )
        modbus_after = len([r for r in _rows(database, "gd-1") if r[0] > before])
        _wait(
            lambda: len([r for r in _rows(database, "gd-1") if r[0] > before]) > modbus_after + 5,
            process,
            "Modbus readings after the poison",
        )
        assert process.poll() is None
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        process.terminate()
        _out, err = process.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert process.returncode == 0, err
    rows = {value: (ts, quality) for ts, value, quality in _rows(database, "tox-1")}
    after = time.time_ns()
    for value in (11.0, 12.0, 13.0, 15.0):
        ts, quality = rows[value]
        assert quality & CLOCK_INVALID, value  # its arrival time, not the stamp
        assert before <= ts <= after, value
    # "-0001" is no ISO date: unreadable, so arrival time and CLOCK_INVALID too.
    assert rows[14.0][1] & CLOCK_INVALID
    assert before <= rows[14.0][0] <= after
    # The 400-digit value: the row is there, NaN (stored NULL) with SENSOR_FAULT, at
    # the payload's own (sane) time.
    stamp = 1_777_622_401 * 1_000_000_000  # 2026-05-01T08:00:01Z, by hand
    ((huge, huge_quality),) = [(v, q) for ts, v, q in _rows(database, "tox-1") if ts == stamp]
    assert huge is None
    assert huge_quality & SENSOR_FAULT
    assert not huge_quality & CLOCK_INVALID
    assert rows[8.0] == (stamp + 1_000_000_000, 0)  # a sane stamp is kept, unflagged

    # The unreadable message is kept, acknowledged and listable.
    listing = subprocess.run(
        [*LIST_DEAD_LETTERS, str(database), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    (letter,) = json.loads(listing.stdout)
    assert (letter["device"], letter["source"]) == ("tox-1", TOPIC)
    assert letter["payload"] == "{not json \x1b[2J"
    assert letter["reason"]
    text = subprocess.run(
        [*LIST_DEAD_LETTERS, str(database)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "1 dead letter(s)" in text.stdout
    assert "\x1b" not in text.stdout  # the escape reaches the terminal as text only


@pytest.mark.parametrize(
    ("stamp", "expected_ns"),
    [
        # By hand: 2026-05-01T08:00:00Z is 20574 days + 8 h after 1970-01-01.
        ('"2026-05-01T08:00:00+00:00"', (20574 * 86400 + 8 * 3600) * 10**9),
        # 9999-12-31T23:59:59Z = 253402300799 s: far beyond int64 ns, kept exact.
        ('"9999-12-31T23:59:59+00:00"', 253402300799 * 10**9),
        # 1969-07-20T20:17:40Z: 3h42m20s to 21 July, then 11+31+30+31+30+31 = 164 days.
        ('"1969-07-20T20:17:40+00:00"', -(164 * 86400 + 3 * 3600 + 42 * 60 + 20) * 10**9),
        ('"not a time"', None),
        ("1e999", None),  # JSON infinity from an overflowing number
    ],
)
def test_iso_stamps_decode_exactly_or_not_at_all(stamp: str, expected_ns: int | None) -> None:
    section = load_profile("toxic-6gas-mqtt").mqtt
    assert section is not None
    outcome = decode_payload(section, f'{{"ts": {stamp}, "gas": {{"co": 1}}}}'.encode())
    assert outcome.ts_ns == expected_ns
    assert outcome.clock_invalid is (expected_ns is None)


def test_the_sane_window() -> None:
    arrived = 1_777_622_400 * 10**9  # 2026-05-01T08:00:00Z
    day = 86_400 * 10**9
    assert sane_timestamp(946_684_800 * 10**9, arrived)  # 2000-01-01T00:00:00Z
    assert not sane_timestamp(946_684_800 * 10**9 - 1, arrived)
    assert sane_timestamp(arrived + day, arrived)
    assert not sane_timestamp(arrived + day + 1, arrived)
    assert not sane_timestamp(-(10**400), arrived)
    assert not sane_timestamp(10**400, arrived)


def test_an_epoch_integer_of_400_digits_is_a_clock_fault_not_an_overflow() -> None:
    section = load_profile("pressure-gateway-mqtt").mqtt
    assert section is not None
    payload = b'{"data": {"ts": ' + b"9" * 400 + b', "pressure": {"value": 1e400}}}'
    outcome = decode_payload(section, payload)
    assert outcome.values == {"pressure": None, "wall_thickness": None}
    assert outcome.ts_ns == int("9" * 400) * 10**6
    mapper = ChannelMapper(load_profile("pressure-gateway-mqtt"), np.arange(2, dtype=np.int32))
    arrived = 1_777_622_400 * 10**9
    readings = mapper.readings(outcome.values, outcome.ts_ns, arrived_ns=arrived)
    assert readings.ts.tolist() == [arrived, arrived]
    assert (readings.quality & CLOCK_INVALID).all()
    assert (readings.quality & SENSOR_FAULT).all()


class _BuggyFramer(MqttFramer):
    """The real framer, with a bug nobody foresaw on one payload."""

    def feed(self, chunk: MqttMessage) -> list[Decoded | Rejected]:
        if chunk.payload == b"boom":
            raise ZeroDivisionError("a bug in a framer")
        return super().feed(chunk)


def test_a_framer_that_raises_costs_one_row_not_the_meter(mqtt_broker: Any) -> None:
    profile = load_profile("toxic-6gas-mqtt")
    section = profile.mqtt
    assert section is not None
    meter = MqttMeter(
        MqttAddress("127.0.0.1", mqtt_broker.port, False),
        profile,
        "tox-9",
        np.arange(len(profile.channels), dtype=np.int32),
        warmup=0.0,
        silence_timeout=0.5,
    )
    meter.framer = _BuggyFramer(section, meter.topic_filter)
    publisher = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mqtt_broker.port)
    publisher.loop_start()

    async def main() -> list[PollResult]:
        results: list[PollResult] = []
        sent = False
        try:
            async for result in meter.results():
                results.append(result)
                if not sent:  # the first row (silence) says the meter is subscribed
                    for payload in (b"boom", b'{"gas": {"co": 9}}'):
                        publisher.publish("site/tox-9/gas/toxic", payload, qos=1)
                    sent = True
                if not result.errors and result.readings.value[0] == 9.0:
                    return results
        finally:
            await meter.close()
        raise AssertionError("unreachable")

    try:
        results = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    (failed,) = [r for r in results if any("ZeroDivisionError" in e for e in r.errors)]
    assert (failed.readings.quality & Quality.COMM_ERROR).all()
