"""``hazmon read`` and ``hazmon simulate`` beyond Modbus: a kit meter read through
the CLI from its simulator on a pseudo-terminal, and the simulate table naming every
instrument class of the demo kit."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest

from hazmon.acquisition.cli import main
from hazmon.config.profile import InstrumentClass, load_profile
from hazmon.config.site import SiteConfig, load_site
from hazmon.simulators.site import SimulatedSite


@pytest.fixture
def kit_addresses() -> Iterator[dict[str, str]]:
    """The demo kit's serial meters served in a thread of their own; device → address."""
    site = load_site("demo")[1]
    devices = [device for device in site.devices if device.profile != "generic-4gas"]
    kit: SiteConfig = site.model_copy(update={"devices": devices})
    ready = threading.Event()
    addresses: dict[str, str] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with SimulatedSite(kit, free_ports=True) as simulated:
            addresses.update(simulated.addresses)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),))
    thread.start()
    try:
        assert ready.wait(10)
        yield addresses
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize(
    ("device", "profile", "quantities"),
    [
        (
            "elec-mcc-room",
            "electrical-tester-ascii",
            ["insulation_resistance", "ground_resistance", "leakage_current", "voltage"],
        ),
        ("dust-packing-line", "plantower-pms5003", ["pm1_0", "pm2_5", "pm10"]),
        ("tox-cl2-chlorination", "winsen-ze03-cl2", ["cl2"]),
        ("ut-reactor-r101", "ut-thickness-ascii", ["wall_thickness"]),
    ],
)
def test_read_a_kit_meter_as_json(
    kit_addresses: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    device: str,
    profile: str,
    quantities: list[str],
) -> None:
    status = main(["read", kit_addresses[device], "--profile", profile, "--json", "--timeout", "3"])
    rows = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [row["quantity"] for row in rows] == quantities
    assert all(row["value"] is not None for row in rows)
    assert all(row["quality"] in ("OK", "WARMUP") for row in rows)


def test_read_of_a_kit_profile_at_a_modbus_address_says_what_to_give(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["read", "127.0.0.1:502", "--profile", "pid-voc-ascii"]) == 2
    assert "serial:///dev/ttyUSB0" in capsys.readouterr().err


def test_demo_kit_has_a_meter_of_every_class() -> None:
    site = load_site("demo")[1]
    classes = {load_profile(device.profile).instrument_class for device in site.devices}
    assert classes == set(InstrumentClass.__args__)  # type: ignore[attr-defined]
    gas = [device.id for device in site.devices if device.profile == "generic-4gas"]
    assert gas == ["gd-tank-farm", "gd-pump-house", "gd-control-room"]
