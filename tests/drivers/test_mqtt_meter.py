"""MQTT meters: JSON payloads by field paths (pure), a property test with random JSON
around valid payloads, and the kit's MQTT profiles against a real Mosquitto: round
trip through the simulator, malformed payloads counted, broker restart survived."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hazmon.acquisition.meters import build_meters
from hazmon.analysis.readings import ChannelTable
from hazmon.config.profile import MqttSection, load_profile, mqtt_topic_matches
from hazmon.config.quality import Quality
from hazmon.config.site import SiteConfig
from hazmon.drivers.base import PollResult
from hazmon.drivers.mqtt_meter import MqttMeter, decode_payload
from hazmon.simulators.mqtt_publisher import build_payload
from hazmon.simulators.site import SimulatedSite


def _section(name: str) -> MqttSection:
    section = load_profile(name).mqtt
    assert section is not None
    return section


TOXIC = _section("toxic-6gas-mqtt")
PIPE = _section("pressure-gateway-mqtt")


def test_field_paths_and_timestamps() -> None:
    payload = (
        b'{"data": {"ts": 1777622400000, "pressure": {"value": 1.6}, "thickness": {"value": null}}}'
    )
    outcome = decode_payload(PIPE, payload)
    assert outcome.error is None
    assert outcome.values == {"pressure": 1.6, "wall_thickness": None}
    assert outcome.ts_ns == 1777622400000 * 1_000_000
    stamp = "2026-05-01T08:00:00+00:00"
    outcome = decode_payload(
        TOXIC, json.dumps({"ts": stamp, "gas": {"co": 3, "h2s": "x"}}).encode()
    )
    assert outcome.values is not None
    assert outcome.values["co"] == 3.0
    assert outcome.values["h2s"] is None
    assert outcome.values["no2"] is None  # absent: a sensor fault, not a refused payload
    assert outcome.ts_ns == round(dt.datetime.fromisoformat(stamp).timestamp() * 1e9)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"gas": {"co": 1', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"42", "not an object"),
        (b'{"other": 1}', "none of the field paths"),
    ],
)
def test_malformed_payloads_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    outcome = decode_payload(TOXIC, payload)
    assert outcome.values is None
    assert outcome.error is not None
    assert reason in outcome.error


def test_topic_filters() -> None:
    assert mqtt_topic_matches("site/+/gas/#", "site/a/gas/toxic")
    assert mqtt_topic_matches("site/+/gas/#", "site/a/gas")
    assert not mqtt_topic_matches("site/+/gas/#", "site/a/dust/x")
    assert not mqtt_topic_matches("+/x", "$SYS/x")


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)
GAS_VALUES = st.fixed_dictionaries(
    {
        name: st.floats(0, 1000, allow_nan=False)
        for name in ("co", "h2s", "nh3", "cl2", "so2", "no2")
    }
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.one_of(
            GAS_VALUES.map(lambda values: ("valid", values)),
            JSON.map(lambda document: ("json", document)),
            st.binary(max_size=30).map(lambda raw: ("bytes", raw)),
        ),
        max_size=12,
    )
)
def test_random_payloads_never_crash_and_valid_ones_decode(messages: list[tuple[str, Any]]) -> None:
    for kind, content in messages:
        if kind == "valid":
            payload = build_payload(TOXIC, content, 1.7e9)
        elif kind == "json":
            payload = json.dumps(content).encode()
        else:
            payload = content
        outcome = decode_payload(TOXIC, payload)
        if kind == "valid":
            assert outcome.values == pytest.approx(content, abs=1e-6)  # published to 6 places
            assert outcome.ts_ns is not None
        else:
            assert (outcome.values is None) == (outcome.error is not None)


def mqtt_site(port: int, profile: str, channels: dict[str, Any], **simulation: Any) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": "kit",
            "enterprise": "Kit",
            "devices": [
                {
                    "id": "kit-mqtt-1",
                    "profile": profile,
                    "address": f"mqtt://127.0.0.1:{port}",
                    "poll_interval": 0.1,
                    "simulation": {"seed": 1, "period": 1e6, "channels": channels, **simulation},
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("profile", "channels"),
    [
        (
            "toxic-6gas-mqtt",
            {"co": 35.0, "h2s": 2.5, "nh3": 12.0, "cl2": 0.5, "so2": 1.5, "no2": 0.8},
        ),
        ("pressure-gateway-mqtt", {"pressure": 1.6, "wall_thickness": 8.42}),
    ],
)
def test_mqtt_profile_round_trips_through_the_broker(
    mqtt_broker: Any, profile: str, channels: dict[str, float]
) -> None:
    site = mqtt_site(mqtt_broker.port, profile, {k: {"baseline": v} for k, v in channels.items()})

    async def main() -> PollResult:
        async with SimulatedSite(site) as simulated:
            meters = build_meters(site, ChannelTable(), simulated.addresses)
            ((_device, meter),) = meters.streaming
            try:
                async for result in meter.results():
                    if not result.errors:
                        return result
            finally:
                await meters.close()
        raise AssertionError("unreachable")

    result = asyncio.run(asyncio.wait_for(main(), 20))
    assert result.readings.value == pytest.approx(list(channels.values()))
    assert not (result.readings.quality & ~np.uint16(Quality.WARMUP)).any()


def test_malformed_json_is_counted_and_the_meter_goes_on(mqtt_broker: Any) -> None:
    # Malformed in the first half of every second of scenario time, valid in the other.
    site = mqtt_site(
        mqtt_broker.port,
        "pressure-gateway-mqtt",
        {"pressure": {"baseline": 1.0}, "wall_thickness": {"baseline": 10.0}},
        period=1.0,
        faults=[{"kind": "malformed_json", "start": 0.0, "duration": 0.5}],
    )

    async def main() -> MqttMeter:
        async with SimulatedSite(site) as simulated:
            meters = build_meters(site, ChannelTable(), simulated.addresses)
            ((_device, meter),) = meters.streaming
            assert isinstance(meter, MqttMeter)
            good = 0
            try:
                async for result in meter.results():
                    good += not result.errors
                    if good >= 2 and meter.payloads.malformed >= 2:
                        return meter
            finally:
                await meters.close()
        raise AssertionError("unreachable")

    meter = asyncio.run(asyncio.wait_for(main(), 20))
    assert meter.payloads.malformed >= 2


def test_readings_resume_after_the_broker_restarts(mqtt_broker: Any) -> None:
    site = mqtt_site(
        mqtt_broker.port,
        "pressure-gateway-mqtt",
        {"pressure": {"baseline": 2.0}, "wall_thickness": {"baseline": 9.0}},
    )

    async def main() -> list[PollResult]:
        async with SimulatedSite(site) as simulated:
            meters = build_meters(site, ChannelTable(), simulated.addresses)
            ((_device, meter),) = meters.streaming
            before: list[PollResult] = []
            after: list[PollResult] = []
            try:
                async for result in meter.results():
                    if result.errors:
                        continue
                    if not before:
                        before.append(result)
                        loop = asyncio.get_running_loop()
                        await loop.run_in_executor(None, mqtt_broker.stop)
                        await loop.run_in_executor(None, mqtt_broker.start)
                        continue
                    after.append(result)
                    return after
            finally:
                await meters.close()
        raise AssertionError("unreachable")

    after = asyncio.run(asyncio.wait_for(main(), 30))
    assert after[0].readings.value[0] == pytest.approx(2.0)
