"""A whole simulated site: one Modbus TCP server per address, one meter per device."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from hazmon.config.profile import load_profile
from hazmon.config.site import DeviceConfig, SiteConfig, parse_tcp_address
from hazmon.simulators.errors import SimulatorError
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.modbus_tcp_server import ModbusTcpServer, RegisterSource


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets (``[::1]:502``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SimulatedSite:
    """Serve every simulated device of a site over Modbus TCP.

    Devices with a ``simulation`` get a :class:`SimulatedMeter`; devices sharing one
    ``host:port`` share one server under their unit ids, as meters behind one gateway.
    Devices without a simulation are left to real hardware.

    Parameters
    ----------
    site
        The site config.
    free_ports
        Bind every server to port 0 (an OS-chosen free port) on its configured host,
        for tests and for running beside a site already using the ports. Read the
        ports actually bound from :attr:`addresses`.
    clock : [s]
        Monotonic clock for the meters.

    Attributes
    ----------
    addresses : dict[str, str]
        Device id → ``host:port`` actually bound (after start).
    meters : dict[str, SimulatedMeter]
        Device id → its meter (after start).
    servers : list[ModbusTcpServer]
        The running servers (after start).
    """

    def __init__(
        self,
        site: SiteConfig,
        *,
        free_ports: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.site = site
        self.free_ports = free_ports
        self._clock = clock
        self.addresses: dict[str, str] = {}
        self.meters: dict[str, SimulatedMeter] = {}
        self.servers: list[ModbusTcpServer] = []

    def _groups(self) -> dict[tuple[str, int], list[DeviceConfig]]:
        """Simulated devices grouped by configured (host, port), checking unit ids."""
        groups: dict[tuple[str, int], list[DeviceConfig]] = {}
        for device in self.site.devices:
            if device.simulation is not None:
                groups.setdefault(parse_tcp_address(device.address), []).append(device)
        for (host, port), devices in groups.items():
            units = [device.unit_id for device in devices]
            repeated = sorted({unit for unit in units if units.count(unit) > 1})
            if repeated:
                names = ", ".join(device.id for device in devices)
                raise SimulatorError(
                    f"devices {names} share {format_address(host, port)} and unit ids "
                    f"{repeated}; give each device at one address its own unit_id"
                )
        return groups

    async def start(self) -> None:
        """Create the meters and start the servers.

        Raises
        ------
        SimulatorError
            When a server cannot bind its address (chained to the ``OSError``), or
            two devices at one address share a unit id.
        """
        if self.servers:
            raise RuntimeError("the simulated site is already started")
        groups = self._groups()
        try:
            for (host, port), devices in groups.items():
                units: dict[int, RegisterSource] = {}
                for device in devices:
                    assert device.simulation is not None  # grouped only if simulated
                    meter = SimulatedMeter(
                        load_profile(device.profile), device.simulation, clock=self._clock
                    )
                    self.meters[device.id] = meter
                    units[device.unit_id] = meter
                server = ModbusTcpServer(host, 0 if self.free_ports else port, units)
                try:
                    await server.start()
                except OSError as error:
                    names = ", ".join(device.id for device in devices)
                    raise SimulatorError(
                        f"cannot serve simulated device {names} at "
                        f"{format_address(host, port)}: {error.strerror or error}; the port "
                        "may be in use: set another port in the device's address, or use "
                        "free_ports=True to let the OS choose free ports"
                    ) from error
                self.servers.append(server)
                bound = format_address(*server.address)
                for device in devices:
                    self.addresses[device.id] = bound
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every server; safe to call twice."""
        servers, self.servers = self.servers, []
        for server in servers:
            await server.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
