"""The asyncio poll loop: every device of a site polled on its own interval."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from hazmon.acquisition.alerts import Alert, AlertSink
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel, ChannelTable
from hazmon.config.addresses import bus_key, parse_address
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import load_profile
from hazmon.config.site import DeviceConfig, SiteConfig
from hazmon.drivers.modbus_adapter import ModbusTransport, open_transport
from hazmon.drivers.modbus_meter import ModbusMeter, PollResult
from hazmon.drivers.schedule import Backoff, poll_on_schedule, spread_phases


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
    set_aside_polls: int = 0
    """Scheduled polls answered with COMM_TIMEOUT rows while the meter was set aside."""


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
) -> tuple[list[DeviceState], list[ModbusTransport]]:
    """Create a meter per device (no I/O); devices on one link share its transport.

    One transport per TCP address or serial port: it is the one owner of that line
    and serialises every request on it (see :mod:`hazmon.drivers.modbus_adapter`).

    Parameters
    ----------
    addresses
        Device id → address replacing the configured one (a simulator that bound
        free ports or opened pseudo-terminals).
    """
    transports: dict[str, ModbusTransport] = {}
    states = []
    for device in site.devices:
        address = parse_address((addresses or {}).get(device.id, device.address))
        key = bus_key(address)
        transport = transports.get(key)
        if transport is None:
            transport = open_transport(address, timeout=device.timeout)
            transports[key] = transport
        numbers = register_channels(site, device, channels)
        meter = ModbusMeter(
            transport,
            load_profile(device.profile),
            device.unit_id,
            np.array(numbers, dtype=np.int32),
            calibration_due=device.calibration_due,
            timeout=device.timeout,
            max_registers=device.max_registers_per_read,
            max_bits=device.max_bits_per_read,
            max_gap=device.gap_fill,
        )
        states.append(DeviceState(config=device, meter=meter, channel_numbers=numbers))
    return states, list(transports.values())


async def poll_device(
    state: DeviceState,
    pipeline: Pipeline,
    alert_sink: AlertSink,
    stop: asyncio.Event,
    *,
    start_at: float | None = None,
) -> None:
    """Poll one device at its interval until ``stop`` is set.

    The schedule is fixed-rate (see :func:`hazmon.drivers.schedule.poll_on_schedule`);
    a silent device is set aside with jittered exponential backoff while the others
    keep their schedule.
    """

    def handle(result: PollResult, asked: bool) -> None:
        state.polls += 1
        if not asked:
            state.set_aside_polls += 1
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

    backoff = Backoff(state.config.backoff_initial, state.config.backoff_max)
    await poll_on_schedule(
        state.meter, state.config.poll_interval, handle, stop, backoff=backoff, start_at=start_at
    )


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
    """Poll every device in one TaskGroup until ``stop`` is set.

    The devices' first polls are spread over their intervals, so that a site of
    hundreds of meters does not send every request in the same instant.
    """
    loop = asyncio.get_running_loop()
    starts = spread_phases(loop.time(), [state.config.poll_interval for state in states])
    async with asyncio.TaskGroup() as group:
        for state, start_at in zip(states, starts, strict=True):
            group.create_task(
                poll_device(state, pipeline, alert_sink, stop, start_at=start_at),
                name=state.config.id,
            )
