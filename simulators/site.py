"""A whole simulated site: one server per link, one meter per device.

A ``tcp://`` (or ``HOST:PORT``) address gets a Modbus TCP server, an ``rtu+tcp://``
address a simulated serial device server, and an ``rtu://`` address a simulated
RS-485 line on a pseudo-terminal (the configured device, e.g. ``/dev/ttyUSB0``, is
not created: the line is served at a new pseudo-terminal whose address is in
:attr:`SimulatedSite.addresses`). Devices sharing one link share its server under
their unit ids.

A ``serial://`` device (a frame or ASCII profile) gets a pseudo-terminal of its own
with its instrument (:mod:`hazmon.simulators.serial_meter`); an ``mqtt://`` device
publishes to the broker at its address (:mod:`hazmon.simulators.mqtt_publisher`):
the broker is not simulated, it must run (the tests start Mosquitto).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from hazmon.config.addresses import (
    Address,
    MqttAddress,
    RtuOverTcpAddress,
    SerialPortAddress,
    TcpAddress,
    bus_key,
    parse_address,
    parse_any_address,
)
from hazmon.config.site import AnyDevice, ModbusDevice, SiteConfig
from hazmon.simulators.errors import SimulatorError
from hazmon.simulators.lifecycle import Served
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.modbus_tcp_server import ModbusTcpServer, RegisterSource
from hazmon.simulators.mqtt_publisher import MqttPublisherMeter
from hazmon.simulators.rtu import PtyRtuServer, RtuOverTcpServer
from hazmon.simulators.serial_meter import (
    AsciiInstrument,
    FrameInstrument,
    PtySerialServer,
    instrument_for,
)


class SimulatorServer(Protocol):
    """What every simulated link server offers."""

    @property
    def requests_served(self) -> dict[int, int]:
        """Requests answered per unit id."""
        ...

    async def start(self) -> None:
        """Start serving."""
        ...

    async def stop(self) -> None:
        """Stop serving."""
        ...


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets (``[::1]:502``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SimulatedSite(Served):
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
        Device id → its Modbus meter (after start).
    instruments : dict[str, FrameInstrument | AsciiInstrument | MqttPublisherMeter]
        Device id → its frame, ASCII or MQTT meter (after start).
    servers : list[SimulatorServer]
        The running servers (after start): Modbus TCP servers, RTU-over-TCP servers
        and pseudo-terminal RTU lines.
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
        self.instruments: dict[str, FrameInstrument | AsciiInstrument | MqttPublisherMeter] = {}
        self.servers: list[SimulatorServer] = []

    def _groups(self) -> dict[str, tuple[Address, list[ModbusDevice]]]:
        """Simulated devices grouped by link, checking unit ids."""
        groups: dict[str, tuple[Address, list[ModbusDevice]]] = {}
        for device in self.site.devices:
            if device.simulation is not None and isinstance(device, ModbusDevice):
                address = parse_address(device.address)
                groups.setdefault(bus_key(address), (address, []))[1].append(device)
        for key, (_, devices) in groups.items():
            units = [device.unit_id for device in devices]
            repeated = sorted({unit for unit in units if units.count(unit) > 1})
            if repeated:
                names = ", ".join(device.id for device in devices)
                raise SimulatorError(
                    f"devices {names} share {key} and unit ids "
                    f"{repeated}; give each device at one address its own unit_id"
                )
        return groups

    def _server(self, address: Address, units: dict[int, RegisterSource]) -> SimulatorServer:
        if isinstance(address, TcpAddress):
            return ModbusTcpServer(address.host, 0 if self.free_ports else address.port, units)
        if isinstance(address, RtuOverTcpAddress):
            return RtuOverTcpServer(address.host, 0 if self.free_ports else address.port, units)
        return PtyRtuServer(
            units,
            baudrate=address.baudrate,
            parity=address.parity,
            stopbits=address.stopbits,
            bytesize=address.bytesize,
        )

    @staticmethod
    def _bound(address: Address, server: SimulatorServer) -> str:
        if isinstance(server, PtyRtuServer):
            return server.address
        assert isinstance(server, ModbusTcpServer | RtuOverTcpServer)
        bound = format_address(*server.address)
        return f"rtu+tcp://{bound}" if isinstance(address, RtuOverTcpAddress) else bound

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
            for device in self.site.devices:
                await self._start_own_link(device)
            for key, (address, devices) in groups.items():
                units: dict[int, RegisterSource] = {}
                for device in devices:
                    assert device.simulation is not None  # grouped only if simulated
                    meter = SimulatedMeter(
                        device.loaded_profile, device.simulation, clock=self._clock
                    )
                    self.meters[device.id] = meter
                    units[device.unit_id] = meter
                server = self._server(address, units)
                try:
                    await server.start()
                except OSError as error:
                    names = ", ".join(device.id for device in devices)
                    raise SimulatorError(
                        f"cannot serve simulated device {names} at "
                        f"{key}: {error.strerror or error}; the port "
                        "may be in use: set another port in the device's address, or use "
                        "free_ports=True to let the OS choose free ports"
                    ) from error
                self.servers.append(server)
                bound = self._bound(address, server)
                for device in devices:
                    self.addresses[device.id] = bound
        except BaseException:
            await self.stop()
            raise

    async def _start_own_link(self, device: AnyDevice) -> None:
        """A frame, ASCII or MQTT device: its own pseudo-terminal, or its publisher."""
        address = parse_any_address(device.address)
        if device.simulation is None or not isinstance(address, SerialPortAddress | MqttAddress):
            return
        profile = device.loaded_profile
        server: PtySerialServer | MqttPublisherMeter
        if isinstance(address, MqttAddress):
            server = MqttPublisherMeter(
                profile,
                device.simulation,
                address,
                device.id,
                interval=device.poll_interval,
                clock=self._clock,
            )
            self.instruments[device.id] = server
            bound = server.address
        else:
            instrument = instrument_for(profile, device.simulation, clock=self._clock)
            server = PtySerialServer(
                instrument,
                interval=device.poll_interval,
                baudrate=address.baudrate,
                stopbits=address.stopbits,
                bytesize=address.bytesize,
                seed=device.simulation.seed,
            )
            self.instruments[device.id] = instrument
        await server.start()
        self.servers.append(server)
        self.addresses[device.id] = server.address if isinstance(server, PtySerialServer) else bound

    async def stop(self) -> None:
        """Stop every server; safe to call twice."""
        servers, self.servers = self.servers, []
        for server in servers:
            await server.stop()
