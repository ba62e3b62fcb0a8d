"""The simulated meter's register image, decoded here with struct, independently."""

from __future__ import annotations

import struct

import pytest

from hazmon.config.profile import Profile, load_profile
from hazmon.config.site import Simulation, StatusFault, load_site
from hazmon.simulators.errors import IllegalDataAddress
from hazmon.simulators.meter import SimulatedMeter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def demo_simulation(device_id: str) -> Simulation:
    site = load_site("demo")[1]
    simulation = next(device.simulation for device in site.devices if device.id == device_id)
    assert simulation is not None
    return simulation


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile("generic-4gas")


def decode_4gas(words: list[int]) -> dict[str, float]:
    """Decode generic-4gas holding registers 0..8 as its TOML says, by hand."""
    packed = struct.pack(">9H", *words[:9])
    lel, o2 = struct.unpack(">HH", packed[0:4])
    (co,) = struct.unpack(">h", packed[4:6])
    # h2s: float32 at 4..5 with words swapped (CDAB): put the high word first again.
    (h2s,) = struct.unpack(">f", packed[10:12] + packed[8:10])
    return {"lel": lel * 0.1, "o2": o2 * 0.1, "co": float(co), "h2s": h2s}


@pytest.mark.parametrize("elapsed", [0.0, 4.5, 6.0, 7.3, 12.0, 29.9, 36.0])
def test_register_image_decodes_to_scenario_values(profile: Profile, elapsed: float) -> None:
    clock = FakeClock()
    meter = SimulatedMeter(profile, demo_simulation("gd-tank-farm"), clock=clock)
    clock.now += elapsed
    # 1000 + 7.3 - 1000 is not 7.3 in floating point: ask the meter what it used.
    elapsed = meter.elapsed()
    words = meter.read_registers("holding", 0, 9)
    assert words == meter.register_image("holding", elapsed)
    decoded = decode_4gas(words)
    expected = meter.values_at(elapsed)
    # Resolution: half a count of each integer field; float32 relative precision.
    assert decoded["lel"] == pytest.approx(min(max(expected["lel"], 0.0), 6553.5), abs=0.05 + 1e-9)
    assert decoded["o2"] == pytest.approx(expected["o2"], abs=0.05 + 1e-9)
    assert decoded["co"] == pytest.approx(expected["co"], abs=0.5)
    assert decoded["h2s"] == pytest.approx(expected["h2s"], rel=1e-6)
    assert words[3] == 0  # address 3 is inside the map but unused
    assert words[6:8] == [0, 0]


def test_leak_is_visible_in_registers(profile: Profile) -> None:
    clock = FakeClock()
    meter = SimulatedMeter(profile, demo_simulation("gd-tank-farm"), clock=clock)
    clock.now += 7.0  # inside the hold of the 66 %LEL leak
    lel = meter.read_registers("holding", 0, 1)[0] * 0.1
    assert 60.0 < lel < 72.0


def test_channels_without_scenario_read_zero(profile: Profile) -> None:
    meter = SimulatedMeter(profile, None, clock=FakeClock())
    assert meter.values_at(5.0) == {"lel": 0.0, "o2": 0.0, "co": 0.0, "h2s": 0.0}
    assert meter.read_registers("holding", 0, 9) == [0] * 9


def test_status_bits(profile: Profile) -> None:
    simulation = Simulation(
        period=20.0,
        status_faults=[
            StatusFault(bit=8, start=0.0, duration=2.0),
            StatusFault(bit=3, start=5.0, duration=3.0),
        ],
    )
    clock = FakeClock()
    meter = SimulatedMeter(profile, simulation, clock=clock)
    assert meter.status_at(1.0) == 0x0100
    assert meter.status_at(2.0) == 0
    assert meter.status_at(6.0) == 0x0008
    assert meter.status_at(26.0) == 0x0008  # wraps with the period
    clock.now += 1.5
    assert meter.read_registers("holding", 8, 1) == [0x0100]
    clock.now += 5.0
    assert meter.read_registers("holding", 0, 9)[8] == 0x0008


def test_illegal_address(profile: Profile) -> None:
    meter = SimulatedMeter(profile, demo_simulation("gd-control-room"), clock=FakeClock())
    assert meter.mapped_end == {"holding": 9, "input": 0}
    assert len(meter.read_registers("holding", 8, 1)) == 1
    with pytest.raises(IllegalDataAddress):
        meter.read_registers("holding", 9, 1)
    with pytest.raises(IllegalDataAddress):
        meter.read_registers("holding", 0, 10)
    with pytest.raises(IllegalDataAddress):
        meter.read_registers("input", 0, 1)
    # Coils are a register kind now; a meter that maps none answers exception 02.
    with pytest.raises(IllegalDataAddress):
        meter.read_registers("coil", 0, 1)
    with pytest.raises(ValueError, match="bogus"):
        meter.read_registers("bogus", 0, 1)


def test_status_faults_need_a_status_register(profile: Profile) -> None:
    data = profile.model_dump(by_alias=True)
    data["modbus"]["status"] = None
    bare = Profile.model_validate(data)
    simulation = Simulation(status_faults=[StatusFault(bit=0, start=0.0, duration=1.0)])
    with pytest.raises(ValueError, match="no status register"):
        SimulatedMeter(bare, simulation)
