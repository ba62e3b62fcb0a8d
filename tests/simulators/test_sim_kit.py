"""Every serial profile of the kit round-trips through its simulator: scenario values
are encoded by the simulator on a pseudo-terminal, read back by the driver that
``build_meters`` picks for the profile, and come out as the same values in the
canonical units, with faults flagged and never dropped."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from hazmon.acquisition.meters import SiteMeters, build_meters
from hazmon.analysis.readings import ChannelTable
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import Profile, bundled_profiles, load_profile
from hazmon.config.quality import Quality
from hazmon.config.site import SiteConfig
from hazmon.drivers.base import PolledMeter, PollResult, StreamingMeter
from hazmon.simulators.site import SimulatedSite

SERIAL_PROFILES = [
    name for name in bundled_profiles() if load_profile(name).transport in ("frame", "ascii")
]
#: Flags a good reading may carry in these tests: the kit's meters warm up.
TOLERATED = int(Quality.WARMUP)


def baselines(profile: Profile) -> dict[str, float]:
    """A value per measured channel, inside its range and on its resolution."""
    derived = {d.channel for d in profile.derived}
    values: dict[str, float] = {}
    for spec in profile.channels:
        if spec.channel in derived:
            continue
        low, high = spec.range or (0.0, 100.0)
        step = spec.resolution or 0.1
        values[spec.channel] = round((low + 0.3 * (high - low)) / step) * step
    return values


def expected(profile: Profile, values: dict[str, float]) -> list[float]:
    """The canonical value of every channel (derived ones computed)."""
    catalogue = load_catalogue()
    engineering = dict(values)
    for derived in profile.derived:
        engineering[derived.channel] = derived.offset + sum(
            weight * engineering[name] for name, weight in derived.weights.items()
        )
    result = []
    for spec in profile.channels:
        conversion = catalogue.conversion(spec.quantity, spec.unit)
        result.append(engineering[spec.channel] * conversion.scale + conversion.offset)
    return result


def kit_site(
    profile: str,
    channels: dict[str, Any],
    *,
    faults: list[dict[str, Any]] | None = None,
    calibration_due: dt.date | None = None,
    address: str = "serial:///dev/ttyKIT0?baudrate=9600",
) -> SiteConfig:
    device: dict[str, Any] = {
        "id": "kit-1",
        "profile": profile,
        "address": address,
        "poll_interval": 0.05,
        "timeout": 1.0,
        "simulation": {"seed": 3, "period": 1e6, "channels": channels, "faults": faults or []},
    }
    if calibration_due is not None:
        device["calibration_due"] = calibration_due
    return SiteConfig.model_validate(
        {"schema": "hazmon.site/1", "name": "kit", "enterprise": "Kit", "devices": [device]}
    )


async def results(meters: SiteMeters) -> AsyncIterator[PollResult]:
    """Results of the site's only meter, polled or streaming."""
    for _device, polled in meters.polled:
        assert isinstance(polled, PolledMeter)
        while True:
            yield await polled.poll()
    for _device, streaming in meters.streaming:
        assert isinstance(streaming, StreamingMeter)
        async for result in streaming.results():
            yield result


async def collect(site: SiteConfig, wanted: int, *, good_only: bool) -> list[PollResult]:
    """The first ``wanted`` results (only those without errors when ``good_only``)."""
    collected: list[PollResult] = []
    async with SimulatedSite(site, free_ports=True) as simulated:
        meters = build_meters(site, ChannelTable(), simulated.addresses)
        try:
            iterator = results(meters)
            while len(collected) < wanted:
                result = await asyncio.wait_for(anext(iterator), 10)
                if result.errors and good_only:
                    continue
                collected.append(result)
            await iterator.aclose()  # type: ignore[attr-defined]
        finally:
            await meters.close()
    return collected


@pytest.mark.parametrize("name", SERIAL_PROFILES)
def test_profile_round_trips_through_its_simulator(name: str) -> None:
    profile = load_profile(name)
    values = baselines(profile)
    site = kit_site(name, {channel: {"baseline": value} for channel, value in values.items()})
    (result,) = asyncio.run(collect(site, 1, good_only=True))
    readings = result.readings
    assert len(readings) == len(profile.channels)
    assert not (readings.quality & ~np.uint16(TOLERATED)).any(), readings.quality
    for spec, value, want in zip(
        profile.channels, readings.value, expected(profile, values), strict=True
    ):
        step = spec.resolution or 0.01
        conversion = load_catalogue().conversion(spec.quantity, spec.unit)
        assert value == pytest.approx(want, abs=step * abs(conversion.scale) * 1.01), spec.channel


def test_sensor_faults_are_flagged_not_dropped() -> None:
    """Negative readings, an over-range spike and a dropout each keep their row."""
    faults = {
        "dust_total": {
            "baseline": 1.0,
            "faults": [{"kind": "negative", "start": 0, "duration": 1e5, "value": 0.5}],
        },
        "dust_respirable": {
            "baseline": 1.0,
            "faults": [{"kind": "spike", "start": 0, "duration": 1e5, "value": 400}],
        },
        "pm2_5": {"baseline": 1.0, "faults": [{"kind": "dropout", "start": 0, "duration": 1e5}]},
        "pm10": {"baseline": 2.0, "faults": [{"kind": "stuck", "start": 0, "duration": 1e5}]},
    }
    site = kit_site("dust-photometer-ascii", faults)
    (result,) = asyncio.run(collect(site, 1, good_only=True))
    value, quality = result.readings.value, result.readings.quality
    assert value[0] == pytest.approx(-0.5)
    assert quality[0] & Quality.UNDER_RANGE
    assert value[1] == pytest.approx(400.0)
    assert quality[1] & Quality.OVER_RANGE
    assert math.isnan(value[2])
    assert quality[2] & Quality.SENSOR_FAULT
    assert value[3] == pytest.approx(2.0)
    assert not quality[3] & ~np.uint16(TOLERATED)


@pytest.mark.parametrize(
    ("profile", "fault", "flag"),
    [
        ("plantower-pms5003", "bad_crc", Quality.CRC_ERROR),
        ("nova-sds011", "bad_crc", Quality.CRC_ERROR),
        ("winsen-ze07-co", "truncated_frame", Quality.CRC_ERROR),
        ("winsen-ze03-cl2", "bad_crc", Quality.CRC_ERROR),
        ("winsen-ze03-cl2", "no_reply", Quality.COMM_TIMEOUT),
        # A corrupted character in a number: the line parses, the value cannot.
        ("pid-voc-ascii", "bad_crc", Quality.SENSOR_FAULT),
        # Every line cut short: no terminator ever comes, so the meter is silent.
        ("sound-level-meter-ascii", "truncated_frame", Quality.COMM_TIMEOUT),
    ],
)
def test_transport_faults_give_flagged_rows(profile: str, fault: str, flag: Quality) -> None:
    values = baselines(load_profile(profile))
    site = kit_site(
        profile,
        {channel: {"baseline": value} for channel, value in values.items()},
        faults=[{"kind": fault, "start": 0, "duration": 1e5}],
    )
    if fault == "no_reply":
        data = site.model_dump(by_alias=True)
        data["devices"][0]["timeout"] = 0.2
        site = SiteConfig.model_validate(data)
    (result,) = asyncio.run(collect(site, 1, good_only=False))
    assert bool(result.errors) == (flag != Quality.SENSOR_FAULT)
    assert np.isnan(result.readings.value).all()
    assert (result.readings.quality & np.uint16(flag)).all()


@pytest.mark.parametrize("profile", ["plantower-pms5003", "winsen-ze07-co", "ut-thickness-ascii"])
def test_frames_after_garbage_are_still_read(profile: str) -> None:
    values = baselines(load_profile(profile))
    site = kit_site(
        profile,
        {channel: {"baseline": value} for channel, value in values.items()},
        faults=[{"kind": "garbage", "start": 0, "duration": 1e5}],
    )
    good = asyncio.run(collect(site, 3, good_only=True))
    for result in good:
        assert not (result.readings.quality & ~np.uint16(TOLERATED)).any()


def test_calibration_past_due_flags_every_reading() -> None:
    site = kit_site(
        "laser-distance-ascii",
        {"distance": {"baseline": 12.5}},
        calibration_due=dt.date(2020, 1, 1),
    )
    (result,) = asyncio.run(collect(site, 1, good_only=True))
    assert (result.readings.quality & np.uint16(Quality.CALIBRATION_DUE)).all()
    assert result.readings.value[0] == pytest.approx(12.5)
