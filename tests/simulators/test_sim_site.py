"""The simulated demo site: three servers on free ports, answering real Modbus TCP."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from hazmon.config.site import SiteConfig, load_site, parse_tcp_address
from hazmon.simulators.errors import SimulatorError
from hazmon.simulators.site import SimulatedSite


def demo_gas_detectors() -> SiteConfig:
    """The demo site's Modbus four-gas detectors only (the kit's serial meters are
    tested in test_sim_kit.py)."""
    site = load_site("demo")[1]
    devices = [device for device in site.devices if device.profile == "generic-4gas"]
    return site.model_copy(update={"devices": devices})


async def read_holding(address: str, unit: int, start: int, count: int) -> list[int]:
    host, port = parse_tcp_address(address)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack(">HHHBBHH", 1, 0, 6, unit, 3, start, count))
        await writer.drain()
        header = await reader.readexactly(9)
        _, _, _, _, function_code, byte_count = struct.unpack(">HHHBBB", header)
        assert function_code == 3
        assert byte_count == 2 * count
        return list(struct.unpack(f">{count}H", await reader.readexactly(byte_count)))
    finally:
        writer.close()
        await writer.wait_closed()


def test_demo_site_serves_three_meters() -> None:
    site = demo_gas_detectors()

    async def main() -> None:
        async with SimulatedSite(site, free_ports=True) as simulated:
            assert len(simulated.servers) == 3
            assert set(simulated.addresses) == {
                "gd-tank-farm",
                "gd-pump-house",
                "gd-control-room",
            }
            assert set(simulated.meters) == set(simulated.addresses)
            assert len(set(simulated.addresses.values())) == 3
            for address in simulated.addresses.values():
                words = await read_holding(address, 1, 0, 9)
                # o2 around 20.9 %vol in every demo meter at the start of the scenario.
                assert 200 <= words[1] <= 218

    asyncio.run(main())


def test_devices_at_one_address_share_a_server() -> None:
    data = demo_gas_detectors().model_dump(by_alias=True)
    for index, device in enumerate(data["devices"]):
        device["address"] = "127.0.0.1:1502"
        device["unit_id"] = index + 1
    site = SiteConfig.model_validate(data)

    async def main() -> None:
        async with SimulatedSite(site, free_ports=True) as simulated:
            assert len(simulated.servers) == 1
            assert len(set(simulated.addresses.values())) == 1
            address = simulated.addresses["gd-pump-house"]
            for unit in (1, 2, 3):
                assert len(await read_holding(address, unit, 0, 2)) == 2
            assert simulated.servers[0].requests_served == {1: 1, 2: 1, 3: 1}

    asyncio.run(main())


def test_busy_port_names_the_device_and_the_fix() -> None:
    data = demo_gas_detectors().model_dump(by_alias=True)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        data["devices"][1]["address"] = f"127.0.0.1:{port}"
        data["devices"] = data["devices"][1:2]
        site = SiteConfig.model_validate(data)

        async def main() -> None:
            async with SimulatedSite(site):
                pass

        with pytest.raises(SimulatorError, match="gd-pump-house") as caught:
            asyncio.run(main())
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "free_ports" in message
    assert isinstance(caught.value.__cause__, OSError)
