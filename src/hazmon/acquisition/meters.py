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
from hazmon.config.addresses import bus_key, parse_address
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import Profile, load_profile
from hazmon.config.site import DeviceConfig, SiteConfig
from hazmon.drivers.base import PolledMeter, StreamingMeter
from hazmon.drivers.modbus_adapter import ModbusTransport, open_transport
from hazmon.drivers.modbus_meter import ModbusMeter


@dataclass(frozen=True, slots=True)
class ProfileChannel:
    """One channel a profile declares, whatever its transport section."""

    channel: str
    quantity: str
    substance: str


def profile_channels(profile: Profile) -> list[ProfileChannel]:
    """The channels of ``profile`` in the order its driver returns readings."""
    return [
        ProfileChannel(field.channel, field.quantity, field.substance or "")
        for field in profile.modbus.fields
    ]


def register_channels(site: SiteConfig, device: DeviceConfig, channels: ChannelTable) -> list[int]:
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
            )
        )
        for spec in profile_channels(load_profile(device.profile))
    ]


@dataclass(slots=True)
class SiteMeters:
    """The meters of a site and the links they share; ``close`` releases the links."""

    polled: list[tuple[DeviceConfig, PolledMeter]] = field(default_factory=list)
    streaming: list[tuple[DeviceConfig, StreamingMeter]] = field(default_factory=list)
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
        address = parse_address((addresses or {}).get(device.id, device.address))
        numbers = np.array(register_channels(site, device, channels), dtype=np.int32)
        key = bus_key(address)
        transport = transports.get(key)
        if transport is None:
            transport = open_transport(address, timeout=device.timeout)
            transports[key] = transport
            meters.closers.append(transport.close)
        meter = ModbusMeter(
            transport,
            load_profile(device.profile),
            device.unit_id,
            numbers,
            calibration_due=device.calibration_due,
            timeout=device.timeout,
            max_registers=device.max_registers_per_read,
            max_bits=device.max_bits_per_read,
            max_gap=device.gap_fill,
        )
        meters.polled.append((device, meter))
    return meters
