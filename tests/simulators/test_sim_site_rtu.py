"""A site on every transport: a pty RS-485 line, an RTU-over-TCP server and Modbus TCP,
simulated from one site file (fault injection in its simulation section) and polled
through the acquisition layer's device builder."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from hazmon.acquisition.poller import build_devices
from hazmon.analysis.readings import ChannelTable
from hazmon.config.errors import ConfigError
from hazmon.config.quality import Quality
from hazmon.config.site import load_site
from hazmon.drivers.modbus_meter import ModbusMeter, PollResult
from hazmon.simulators.site import SimulatedSite

# The meters were on before hazmon opened their links: no warm-up (the profile asks 60 s).
SITE = """
schema = "hazmon.site/1"
name = "field"
enterprise = "Field Test Co."

[[devices]]
id = "line-a-1"
profile = "generic-4gas"
address = "rtu:///dev/ttyUSB0?baudrate=19200&parity=E"
unit_id = 1
timeout = 0.2
warmup_seconds = 0
[devices.simulation]
channels.lel = { baseline = 5.0 }

[[devices]]
id = "line-a-2"
profile = "generic-4gas"
address = "rtu:///dev/ttyUSB0?baudrate=19200&parity=E"
unit_id = 2
timeout = 0.2
max_registers_per_read = 2
warmup_seconds = 0
[devices.simulation]
channels.lel = { baseline = 6.0 }
faults = [ { kind = "exception", code = 4, start = 0, duration = 1e6 } ]

[[devices]]
id = "gateway-7"
profile = "generic-4gas"
address = "rtu+tcp://127.0.0.1:4001"
unit_id = 7
warmup_seconds = 0
[devices.simulation]
channels.lel = { baseline = 7.0 }

[[devices]]
id = "tcp-9"
profile = "generic-4gas"
address = "127.0.0.1:15029"
unit_id = 9
warmup_seconds = 0
[devices.simulation]
channels.lel = { baseline = 9.0 }
"""


def test_site_on_every_transport(tmp_path: Path) -> None:
    path = tmp_path / "field.toml"
    path.write_text(SITE, encoding="utf-8")
    _, site = load_site(str(path))

    async def main() -> tuple[dict[str, str], dict[str, PollResult], int, list[int]]:
        async with SimulatedSite(site, free_ports=True) as simulated:
            states, meters = build_devices(site, ChannelTable(), simulated.addresses)
            results = {}
            modbus = [state.meter for state in states]
            assert all(isinstance(meter, ModbusMeter) for meter in modbus)
            try:
                for state, meter in zip(states, modbus, strict=True):
                    assert isinstance(meter, ModbusMeter)
                    results[state.config.id] = await meter.poll()
            finally:
                links = len(meters.closers)
                await meters.close()
            blocks = [
                len(meter.decoder.blocks) for meter in modbus if isinstance(meter, ModbusMeter)
            ]
            return dict(simulated.addresses), results, links, blocks

    addresses, results, transports, blocks = asyncio.run(asyncio.wait_for(main(), 10.0))
    assert addresses["line-a-1"] == addresses["line-a-2"]
    assert addresses["line-a-1"].startswith("rtu:///dev/pts/")
    # A pty cannot take parity E: the simulated line is opened with N (same timing).
    assert "baudrate=19200&parity=N" in addresses["line-a-1"]
    assert addresses["gateway-7"].startswith("rtu+tcp://127.0.0.1:")
    assert transports == 3  # one owner for the serial line
    assert blocks == [1, 4, 1, 1]  # line-a-2: 0-1, 2, 4-5, 8 (at most 2 a request)
    for device, lel in (("line-a-1", 5.0), ("gateway-7", 7.0), ("tcp-9", 9.0)):
        assert results[device].readings.value[0] == pytest.approx(lel)
        assert not results[device].readings.quality.any()
    faulty = results["line-a-2"]
    np.testing.assert_array_equal(faulty.readings.quality, [int(Quality.DEVICE_EXCEPTION)] * 4)
    assert set(faulty.exception_codes) == {4}


def test_fault_needs_its_code(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        SITE.replace('kind = "exception", code = 4', 'kind = "exception"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="needs code = 1, 2, 3, 4, 6 or 11"):
        load_site(str(path))


def test_bad_address_in_a_site(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SITE.replace("rtu+tcp://127.0.0.1:4001", "rtu+tcp://127.0.0.1"))
    with pytest.raises(ConfigError, match="needs a port"):
        load_site(str(path))
