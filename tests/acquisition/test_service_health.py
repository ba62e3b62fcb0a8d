"""The service's own health channels (device ``hazmon``): store, register, dropped."""

from __future__ import annotations

from hazmon.acquisition.health import SERVICE_DEVICE, HealthRecorder, is_health
from hazmon.analysis.readings import ChannelTable


def test_the_service_state_becomes_readings_of_the_hazmon_device() -> None:
    channels = ChannelTable()
    state = {"now": (1.0, 1.0, 0.0)}
    recorder = HealthRecorder("plant", [], channels, service=lambda: state["now"])
    up = recorder.readings(now_ns=10)
    state["now"] = (0.0, 1.0, 37.0)  # the disk filled: store down, 37 readings dropped
    down = recorder.readings(now_ns=20)

    names = [channels[int(number)].quantity for number in down.channel]
    assert names == ["health.store_up", "health.register_up", "health.dropped"]
    assert all(channels[int(number)].device == SERVICE_DEVICE for number in down.channel)
    assert all(is_health(channels[int(number)]) for number in down.channel)
    assert up.value.tolist() == [1.0, 1.0, 0.0]
    assert down.value.tolist() == [0.0, 1.0, 37.0]
    assert down.ts.tolist() == [20, 20, 20]


def test_without_a_service_state_only_devices_have_health() -> None:
    channels = ChannelTable()
    assert len(HealthRecorder("plant", [], channels).readings(now_ns=1)) == 0
    assert len(channels) == 0
