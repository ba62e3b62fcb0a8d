"""The asyncio poll loop: every device of a site polled on its own interval."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hazmon.acquisition.alerts import Alert, AlertSink
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel, ChannelTable
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import load_profile
from hazmon.config.site import DeviceConfig, SiteConfig, parse_tcp_address
from hazmon.drivers.modbus_adapter import ModbusTcpTransport
from hazmon.drivers.modbus_meter import ModbusMeter


@dataclass(slots=True)
class DeviceState:
    """A polled device and its health."""

    config: DeviceConfig
    meter: ModbusMeter
    polls: int = 0
    failed_polls: int = 0
    in_fault: bool = False
    last_error: str = ""
    last_ok_ns: int | None = None
    channel_numbers: list[int] = field(default_factory=list)


def register_channels(site: SiteConfig, device: DeviceConfig, channels: ChannelTable) -> list[int]:
    """Add the channels of ``device`` to ``channels``; return their numbers in field order."""
    profile = load_profile(device.profile)
    numbers = []
    for spec in profile.modbus.fields:
        unit = load_catalogue().spec(spec.quantity).unit
        numbers.append(
            channels.add(
                Channel(
                    site=site.name,
                    device=device.id,
                    quantity=spec.quantity,
                    unit=unit,
                    substance=spec.substance or "",
                )
            )
        )
    return numbers


def build_devices(
    site: SiteConfig, channels: ChannelTable, addresses: Mapping[str, str] | None = None
) -> tuple[list[DeviceState], list[ModbusTcpTransport]]:
    """Create a meter per device (no I/O); devices at one address share a transport.

    Parameters
    ----------
    addresses
        Device id → ``host:port`` replacing the configured address (a simulator
        that bound free ports).
    """
    transports: dict[tuple[str, int], ModbusTcpTransport] = {}
    states = []
    for device in site.devices:
        address = (addresses or {}).get(device.id, device.address)
        host, port = parse_tcp_address(address)
        transport = transports.get((host, port))
        if transport is None:
            transport = ModbusTcpTransport(host, port, timeout=device.timeout)
            transports[(host, port)] = transport
        numbers = register_channels(site, device, channels)
        meter = ModbusMeter(
            transport,
            load_profile(device.profile),
            device.unit_id,
            np.array(numbers, dtype=np.int32),
            calibration_due=device.calibration_due,
        )
        states.append(DeviceState(config=device, meter=meter, channel_numbers=numbers))
    return states, list(transports.values())


async def poll_device(
    state: DeviceState, pipeline: Pipeline, alert_sink: AlertSink, stop: asyncio.Event
) -> None:
    """Poll one device at its interval until ``stop`` is set.

    The schedule is fixed-rate: a slow poll shortens the next wait, and polls that
    could not happen in time are skipped rather than run in a burst.
    """
    interval = state.config.poll_interval
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while not stop.is_set():
        result = await state.meter.poll()
        state.polls += 1
        pipeline.process(result.readings)
        now_ns = time.time_ns()
        if result.errors:
            state.failed_polls += 1
            state.last_error = result.errors[0]
            if not state.in_fault:
                state.in_fault = True
                alert_sink(_comm_alert(state, now_ns, "comm_fault", result.errors[0]))
        else:
            state.last_ok_ns = now_ns
            if state.in_fault:
                state.in_fault = False
                alert_sink(_comm_alert(state, now_ns, "comm_restored", "answering again"))
        deadline += interval
        if deadline < loop.time():
            missed = (loop.time() - deadline) // interval + 1
            deadline += missed * interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, deadline - loop.time()))


def _comm_alert(state: DeviceState, now_ns: int, kind: str, message: str) -> Alert:
    return Alert(
        ts=now_ns,
        kind="comm_fault" if kind == "comm_fault" else "comm_restored",
        device=state.config.id,
        quantity="",
        level=0,
        previous_level=0,
        value=None,
        unit="",
        citation="",
        message=message,
    )


async def run_pollers(
    states: list[DeviceState], pipeline: Pipeline, alert_sink: AlertSink, stop: asyncio.Event
) -> None:
    """Poll every device in one TaskGroup until ``stop`` is set."""
    async with asyncio.TaskGroup() as group:
        for state in states:
            group.create_task(poll_device(state, pipeline, alert_sink, stop), name=state.config.id)
