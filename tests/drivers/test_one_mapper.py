"""The one mapper and the one streaming loop, end to end on real links.

- A Modbus generic-4gas meter gets WARMUP for its warm-up after its link opened
  (a real Modbus TCP simulator), like every other transport, and again from the
  poll that opens a dropped link anew.
- A Modbus profile with a ``[[derived]]`` channel is polled and its derived channel
  stored (the mapper computes it; the store keeps it).
- A serial stream meter whose port is missing or goes away gives COMM_ERROR rows,
  opens it again by the one backoff and counts warm-up from the new opening
  (pseudo-terminals behind a fixed path).
- MQTT: warm-up is judged by when a reading arrived, never by its payload time; a
  reading older than its channel's last is OUT_OF_ORDER; one as old is a duplicate,
  kept and counted (a real Mosquitto).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hazmon.acquisition.meters import build_meters
from hazmon.analysis.readings import Channel, ChannelTable
from hazmon.config.addresses import MqttAddress, SerialPortAddress, parse_any_address
from hazmon.config.profile import load_profile
from hazmon.config.quality import Quality
from hazmon.config.site import SiteConfig
from hazmon.drivers.ascii_meter import AsciiLineMeter
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import ChannelMapper
from hazmon.drivers.modbus_meter import ModbusMeter
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings
from hazmon.drivers.mqtt_meter import MqttMeter
from hazmon.drivers.serial_link import SerialLink
from hazmon.simulators.site import SimulatedSite
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

WARMUP = int(Quality.WARMUP)
OUT_OF_ORDER = int(Quality.OUT_OF_ORDER)
S = 1_000_000_000  # [ns]


def run(coroutine: Any, limit: float = 60.0) -> Any:
    """Run one test's coroutine on a fresh loop, failing it if it hangs."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout=limit))


def site(devices: list[dict[str, Any]]) -> SiteConfig:
    return SiteConfig.model_validate(
        {"schema": "hazmon.site/1", "name": "t", "enterprise": "T", "devices": devices}
    )


# ---------------------------------------------------------------------------------
# the mapper alone


def test_warmup_is_judged_by_arrival_not_payload_time() -> None:
    profile = load_profile("pressure-gateway-mqtt")
    mapper = ChannelMapper(profile, np.arange(2, dtype=np.int32), warmup=30.0)
    opened = 1_000 * S
    mapper.start_warmup(opened)
    raw = {"pressure": 1.0, "wall_thickness": 9.0}
    # Measured an hour before the link opened, arriving just after it: warming up.
    early = mapper.readings(raw, opened - 3600 * S, arrived_ns=opened + S)
    assert (early.quality & WARMUP).all()
    # Measured before the link opened too, but arriving after the warm-up: not.
    late = mapper.readings(raw, opened - 3599 * S, arrived_ns=opened + 31 * S)
    assert not (late.quality & WARMUP).any()


def test_out_of_order_and_duplicates_per_channel() -> None:
    profile = load_profile("pressure-gateway-mqtt")
    mapper = ChannelMapper(profile, np.arange(2, dtype=np.int32))
    raw = {"pressure": 1.0, "wall_thickness": 9.0}
    flags = [
        int(mapper.readings(raw, ts * S).quality[0] & OUT_OF_ORDER) for ts in (10, 11, 11, 9, 12)
    ]
    assert flags == [0, 0, 0, OUT_OF_ORDER, 0]
    assert mapper.duplicates == 2  # the second 11 s, on both channels
    assert mapper.out_of_order == 2
    # A row saying the meter could not be read is no measurement: it moves nothing.
    mapper.failed(Quality.COMM_TIMEOUT, 100 * S)
    assert not mapper.readings(raw, 13 * S).quality.any()


# ---------------------------------------------------------------------------------
# Modbus through the mapper


def test_modbus_meter_is_warming_up_after_its_link_opened() -> None:
    warmup = 2.0
    config = site(
        [
            {
                "id": "gas-1",
                "profile": "generic-4gas",
                "address": "127.0.0.1:15020",
                "warmup_seconds": warmup,
                "simulation": {"channels": {"lel": {"baseline": 12.0}}},
            }
        ]
    )

    async def main() -> list[PollResult]:
        results: list[PollResult] = []
        async with SimulatedSite(config, free_ports=True) as simulated:
            meters = build_meters(config, ChannelTable(), simulated.addresses)
            ((_device, meter),) = meters.polled
            assert isinstance(meter, ModbusMeter)
            try:
                first_ns: int | None = None
                # Poll until a reading is measured past the warm-up of the first poll.
                while first_ns is None or results[-1].readings.ts[0] < first_ns + warmup * S:
                    results.append(await meter.poll())
                    first_ns = first_ns or int(results[0].readings.ts[0])
                    await asyncio.sleep(0.2)  # the poll interval, not a wait for readiness
            finally:
                await meters.close()
        return results

    results = run(main())
    first = int(results[0].readings.ts[0])
    warming = [r for r in results if r.readings.ts[0] < first + warmup * S]
    warm = [r for r in results if r.readings.ts[0] >= first + warmup * S]
    assert warming
    assert warm
    for result in warming:
        np.testing.assert_array_equal(result.readings.quality, [WARMUP] * 4)
        assert result.readings.value[0] == pytest.approx(12.0)
    for result in warm:
        np.testing.assert_array_equal(result.readings.quality, [0] * 4)


def test_modbus_warmup_starts_again_when_the_link_opens_again() -> None:
    config = site(
        [
            {
                "id": "gas-1",
                "profile": "generic-4gas",
                "address": "127.0.0.1:15022",
                "warmup_seconds": 30.0,
                "simulation": {"channels": {"lel": {"baseline": 3.0}}},
            }
        ]
    )

    async def main() -> tuple[list[int], list[int], list[int]]:
        async with SimulatedSite(config, free_ports=True) as simulated:
            meters = build_meters(config, ChannelTable(), simulated.addresses)
            ((_device, meter),) = meters.polled
            assert isinstance(meter, ModbusMeter)
            polls, flags, warm_after = [], [], []
            try:
                for _ in range(2):
                    for _ in range(2):
                        polls.append(time.time_ns())
                        result = await meter.poll(polls[-1])
                        flags.append(int(result.readings.quality[0]))
                        warm_after.append(meter.mapper.warm_after_ns)
                    meter.transport.close()  # the link drops; the next poll opens it again
            finally:
                await meters.close()
        return polls, flags, warm_after

    polls, flags, warm_after = run(main())
    assert flags == [WARMUP] * 4
    # Counted from the poll that opened the link, then from the one that reopened it.
    assert warm_after == [polls[0] + 30 * S] * 2 + [polls[2] + 30 * S] * 2


DERIVED_PROFILE = """
schema = "hazmon.profile/1"
name = "wbgt-modbus"
description = "Heat stress over Modbus: natural wet-bulb and globe temperature, WBGT derived"
instrument_class = "temperature"

[[modbus.fields]]
channel = "t_nw"
quantity = "temperature"
unit = "°C"
address = 0
type = "int16"
scale = 0.1

[[modbus.fields]]
channel = "t_g"
quantity = "temperature"
unit = "°C"
address = 1
type = "int16"
scale = 0.1

[[derived]]
channel = "wbgt"
quantity = "temperature"
unit = "°C"
weights = { t_nw = 0.7, t_g = 0.3 }
"""


def test_modbus_profile_with_a_derived_channel_is_polled_and_stored(tmp_path: Path) -> None:
    profile_path = tmp_path / "wbgt-modbus.toml"
    profile_path.write_text(DERIVED_PROFILE, encoding="utf-8")
    config = site(
        [
            {
                "id": "heat-1",
                "profile": str(profile_path),
                "address": "127.0.0.1:15021",
                "simulation": {"channels": {"t_nw": {"baseline": 25.0}, "t_g": {"baseline": 35.0}}},
            }
        ]
    )
    channels = ChannelTable()

    async def main() -> PollResult:
        async with SimulatedSite(config, free_ports=True) as simulated:
            meters = build_meters(config, channels, simulated.addresses)
            ((_device, meter),) = meters.polled
            try:
                return await meter.poll()
            finally:
                await meters.close()

    result = run(main())
    names = [channels.channels[int(n)].name for n in result.readings.channel]
    assert names == ["t_nw", "t_g", "wbgt"]
    np.testing.assert_allclose(result.readings.value, [25.0, 35.0, 28.0], atol=1e-9)
    np.testing.assert_array_equal(result.readings.quality, [0, 0, 0])
    with SqliteTimeSeries(tmp_path / "readings.db") as store:
        store.write(result.readings, np.zeros(3, dtype=np.uint8), channels)
        wbgt: Channel = channels.channels[int(result.readings.channel[2])]
        ts = int(result.readings.ts[0])
        window = store.read_window(wbgt, ts, ts + 1)
    np.testing.assert_allclose(window.value, [28.0], atol=1e-9)


# ---------------------------------------------------------------------------------
# MQTT through the one streaming loop


def test_mqtt_backlog_is_not_warming_up_and_order_is_flagged(mqtt_broker: Any) -> None:
    profile = load_profile("pressure-gateway-mqtt")
    address = parse_any_address(f"mqtt://127.0.0.1:{mqtt_broker.port}")
    assert isinstance(address, MqttAddress)
    topic = "plant/gw1/pipe/p1"
    # Stamped well before the link opens: a backlog the persistent session kept.
    base_ms = (time.time_ns() // 1_000_000) - 600_000

    def payload(ts_ms: int, pressure: float) -> bytes:
        document = {"data": {"ts": ts_ms, "pressure": {"value": pressure}}}
        document["data"]["thickness"] = {"value": 9.0}
        return json.dumps(document).encode()

    async def main() -> tuple[list[PollResult], MqttMeter]:
        meter = MqttMeter(address, profile, "p1", np.arange(2, dtype=np.int32), warmup=0.0)
        publisher = MqttConnection(MqttSettings("127.0.0.1", mqtt_broker.port))
        await publisher.connect()
        received: asyncio.Queue[PollResult] = asyncio.Queue()

        async def consume() -> None:
            async for result in meter.results():
                if not result.errors:
                    await received.put(result)

        consumer = asyncio.create_task(consume())
        try:
            # Until the subscription stands, earlier messages may go nowhere: repeat a
            # first message (each stamped 1 ms later) until one comes through.
            sync = 0
            while received.empty():
                sync += 1
                await publisher.publish(topic, payload(base_ms + sync, 1.0))
                await asyncio.sleep(0.2)  # the publishing interval, not a readiness wait
            start = base_ms + 10_000
            sequence = [(start, 2.0), (start, 2.5), (start - 1_000, 3.0), (start + 1_000, 4.0)]
            for ts_ms, pressure in sequence:
                await publisher.publish(topic, payload(ts_ms, pressure))
            results: list[PollResult] = []
            while len(results) < len(sequence):
                result = await received.get()
                if result.readings.value[0] != pytest.approx(1.0):
                    results.append(result)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            await meter.close()
            await publisher.close()
        return results, meter

    results, meter = run(main())
    np.testing.assert_allclose([r.readings.value[0] for r in results], [2.0, 2.5, 3.0, 4.0])
    flags = [int(r.readings.quality[0]) for r in results]
    assert flags == [0, 0, OUT_OF_ORDER, 0]  # none WARMUP, the duplicate not flagged
    assert meter.duplicates == 2  # the second reading at `start`, on both channels
    assert meter.out_of_order == 2


# ---------------------------------------------------------------------------------
# a serial stream meter through the one streaming loop

COMM_ERROR = int(Quality.COMM_ERROR)
LINE = b"LAeq=65.0 dB(A), LCpeak=90.0 dB(C)\r\n"


class Device:
    """A pseudo-terminal behind ``path`` (as udev would name a USB adapter), printing
    a line every 0.1 s while it is plugged in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master, self.slave = os.openpty()
        path.symlink_to(os.ttyname(self.slave))
        self.writer = asyncio.ensure_future(self._print())

    async def _print(self) -> None:
        while True:
            os.write(self.master, LINE)
            await asyncio.sleep(0.1)  # the meter's own output interval

    async def unplug(self) -> None:
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer
        self.path.unlink()
        os.close(self.master)
        os.close(self.slave)


async def next_with(stream: Any, flag: int | None) -> PollResult:
    """The next result flagged ``flag`` (None: the next reading with a value)."""
    while True:
        result: PollResult = await anext(stream)
        quality = int(result.readings.quality[0])
        if flag is None and not result.errors:
            return result
        if flag is not None and quality & flag:
            return result


def test_stream_meter_reopens_its_port_and_warms_up_again(tmp_path: Path) -> None:
    profile = load_profile("sound-level-meter-ascii")
    path = tmp_path / "ttyMETER"
    address = parse_any_address(f"serial://{path}?baudrate=9600")
    assert isinstance(address, SerialPortAddress)

    async def main() -> None:
        meter = AsciiLineMeter(
            SerialLink(address),
            profile,
            np.arange(len(profile.channels), dtype=np.int32),
            warmup=30.0,
            silence_timeout=30.0,
            reconnect_initial=0.05,
            reconnect_max=0.1,
        )
        stream = meter.results()
        try:
            missing = await anext(stream)  # not plugged in yet
            np.testing.assert_array_equal(missing.readings.quality, [COMM_ERROR] * 2)
            assert str(path) in missing.errors[0]
            device = Device(path)
            first = await next_with(stream, None)
            assert (first.readings.quality & WARMUP).all()
            assert first.readings.value[0] == pytest.approx(65.0)
            first_warmup = meter.mapper.warm_after_ns
            await device.unplug()
            await next_with(stream, COMM_ERROR)  # the port failed
            plugged_again = time.time_ns()
            device = Device(path)
            again = await next_with(stream, None)
            assert (again.readings.quality & WARMUP).all()
            # Warm-up counts from the new opening, not the first.
            assert meter.mapper.warm_after_ns >= plugged_again + 30 * S > first_warmup
            await device.unplug()
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await meter.close()

    run(main())
