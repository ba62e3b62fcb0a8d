"""Building the meters of a site: one driver object per device, whatever its transport.

This is where a device's profile decides which driver serves it. A polled meter
(:class:`hazmon.drivers.base.PolledMeter`) is asked on the device's interval; a
streaming meter (:class:`hazmon.drivers.base.StreamingMeter`) is read as it talks.
New transports add a branch to :func:`build_meter` and nothing else here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from hazmon.analysis.readings import Channel, ChannelTable
from hazmon.config.addresses import (
    MqttAddress,
    SerialPortAddress,
    link_key,
    parse_any_address,
)
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import Profile
from hazmon.config.site import AnyDevice, ModbusDevice, SiteConfig
from hazmon.drivers.ascii_meter import AsciiLineMeter, AsciiQueryMeter
from hazmon.drivers.base import PolledMeter, StreamingMeter
from hazmon.drivers.frame_meter import FrameStreamMeter, WinsenQueryMeter
from hazmon.drivers.modbus_adapter import ModbusTransport, open_transport
from hazmon.drivers.modbus_meter import ModbusMeter
from hazmon.drivers.mqtt_meter import MqttMeter
from hazmon.drivers.serial_link import SerialLink

#: A streaming meter silent for this many poll intervals (and at least its timeout)
#: gets a COMM_TIMEOUT row: it sends every interval, so a few missed ones mean trouble.
SILENT_INTERVALS = 5


@dataclass(frozen=True, slots=True)
class ProfileChannel:
    """One channel a profile declares, whatever its transport section."""

    channel: str
    quantity: str
    substance: str


def profile_channels(profile: Profile) -> list[ProfileChannel]:
    """The channels of ``profile`` in the order its driver returns readings
    (:attr:`hazmon.config.profile.Profile.channels`, whatever the transport)."""
    return [
        ProfileChannel(spec.channel, spec.quantity, spec.substance) for spec in profile.channels
    ]


def register_channels(site: SiteConfig, device: AnyDevice, channels: ChannelTable) -> list[int]:
    """Add the channels of ``device`` to ``channels``; return their numbers in driver order."""
    catalogue = load_catalogue()
    return [
        channels.add(
            Channel(
                site=site.name,
                device=device.id,
                quantity=spec.quantity,
                unit=catalogue.spec(spec.quantity).unit,
                substance=spec.substance,
                name=spec.channel,
            )
        )
        for spec in profile_channels(device.loaded_profile)
    ]


@dataclass(slots=True)
class SiteMeters:
    """The meters of a site and the links they share; ``close`` releases the links."""

    polled: list[tuple[AnyDevice, PolledMeter]] = field(default_factory=list)
    streaming: list[tuple[AnyDevice, StreamingMeter]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)

    async def close(self) -> None:
        """Close every link (idempotent)."""
        closers, self.closers = self.closers, []
        for close in closers:
            outcome = close()
            if outcome is not None:
                await outcome


def build_meters(
    site: SiteConfig, channels: ChannelTable, addresses: Mapping[str, str] | None = None
) -> SiteMeters:
    """Create a driver per device (no I/O); devices on one link share its transport.

    One Modbus transport per TCP address or serial port: it is the one owner of that
    line and serialises every request on it (see :mod:`hazmon.drivers.modbus_adapter`).

    Parameters
    ----------
    addresses
        Device id → address replacing the configured one (a simulator that bound
        free ports or opened pseudo-terminals).
    """
    meters = SiteMeters()
    transports: dict[str, ModbusTransport] = {}
    for device in site.devices:
        address = parse_any_address((addresses or {}).get(device.id, device.address))
        numbers = np.array(register_channels(site, device, channels), dtype=np.int32)
        profile = device.loaded_profile
        if not isinstance(device, ModbusDevice):
            _build_own_link(site, meters, device, profile, address, numbers)
            continue
        if isinstance(address, SerialPortAddress | MqttAddress):
            raise ValueError(
                f"device {device.id}: profile {profile.name} is a Modbus profile; give a "
                "Modbus address (HOST:PORT, rtu://..., rtu+tcp://...)"
            )
        key = link_key(address)
        transport = transports.get(key)
        if transport is None:
            transport = open_transport(address, timeout=device.timeout)
            transports[key] = transport
            meters.closers.append(transport.close)
        meter = ModbusMeter(
            transport,
            profile,
            device.unit_id,
            numbers,
            calibration_expires_ns=site.calibration_expires_ns(device),
            warmup=device.warmup_seconds,
            timeout=device.timeout,
            max_registers=device.max_registers_per_read,
            max_bits=device.max_bits_per_read,
            max_gap=device.gap_fill,
        )
        meters.polled.append((device, meter))
    return meters


def _build_own_link(
    site: SiteConfig,
    meters: SiteMeters,
    device: AnyDevice,
    profile: Profile,
    address: object,
    numbers: np.typing.NDArray[np.int32],
) -> None:
    """A frame, ASCII or MQTT meter: one link per device (a serial sensor owns its
    port; an MQTT meter its broker session)."""
    silence = max(device.timeout, SILENT_INTERVALS * device.poll_interval)
    if profile.mqtt is not None:
        if not isinstance(address, MqttAddress):
            raise ValueError(
                f"device {device.id}: profile {profile.name} is an MQTT profile; give "
                "mqtt://HOST:1883 or mqtts://HOST:8883"
            )
        mqtt_meter = MqttMeter(
            address,
            profile,
            device.id,
            numbers,
            calibration_expires_ns=site.calibration_expires_ns(device),
            warmup=device.warmup_seconds,
            silence_timeout=silence,
            connect_timeout=max(device.timeout, 2.0),
            login=site.broker_login(address.host, address.port),
            reconnect_initial=device.backoff_initial,
            reconnect_max=device.backoff_max,
        )
        meters.streaming.append((device, mqtt_meter))
        meters.closers.append(mqtt_meter.close)
        return
    if not isinstance(address, SerialPortAddress):
        raise ValueError(
            f"device {device.id}: profile {profile.name} is a {profile.transport} profile; "
            "give serial:///dev/ttyUSB0?baudrate=9600"
        )
    link = SerialLink(address)
    meters.closers.append(link.close)
    if profile.frame is not None and profile.frame.mode == "query":
        meters.polled.append(
            (
                device,
                WinsenQueryMeter(
                    link,
                    profile,
                    numbers,
                    calibration_expires_ns=site.calibration_expires_ns(device),
                    warmup=device.warmup_seconds,
                    timeout=device.timeout,
                ),
            )
        )
    elif profile.frame is not None:
        meters.streaming.append(
            (
                device,
                FrameStreamMeter(
                    link,
                    profile,
                    numbers,
                    calibration_expires_ns=site.calibration_expires_ns(device),
                    warmup=device.warmup_seconds,
                    silence_timeout=silence,
                    reconnect_initial=device.backoff_initial,
                    reconnect_max=device.backoff_max,
                ),
            )
        )
    elif profile.ascii is not None and profile.ascii.mode == "query":
        meters.polled.append(
            (
                device,
                AsciiQueryMeter(
                    link,
                    profile,
                    numbers,
                    calibration_expires_ns=site.calibration_expires_ns(device),
                    warmup=device.warmup_seconds,
                    # The profile knows how long the instrument takes to answer; a
                    # timeout written in the site file overrides it.
                    timeout=device.timeout if "timeout" in device.model_fields_set else None,
                ),
            )
        )
    else:
        meters.streaming.append(
            (
                device,
                AsciiLineMeter(
                    link,
                    profile,
                    numbers,
                    calibration_expires_ns=site.calibration_expires_ns(device),
                    warmup=device.warmup_seconds,
                    silence_timeout=silence,
                    reconnect_initial=device.backoff_initial,
                    reconnect_max=device.backoff_max,
                ),
            )
        )
