"""The asyncio poll loop: every device of a site polled on its own interval, each
result handed to the service through one bounded queue (the backpressure)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from hazmon.acquisition.alerts import COMM_QUANTITY, Alert, AlertSink
from hazmon.acquisition.meters import SiteMeters, build_meters
from hazmon.analysis.readings import ChannelTable, Readings
from hazmon.config.quality import Quality
from hazmon.config.site import DeviceConfig, SiteConfig
from hazmon.drivers.base import PolledMeter, PollResult, StreamingMeter
from hazmon.drivers.schedule import Backoff, poll_on_schedule, spread_phases


@dataclass(slots=True)
class DeviceState:
    """A polled device and its health."""

    config: DeviceConfig
    meter: PolledMeter | StreamingMeter
    polls: int = 0
    failed_polls: int = 0
    in_fault: bool = False
    last_error: str = ""
    last_ok_ns: int | None = None
    channel_numbers: list[int] = field(default_factory=list)
    set_aside_polls: int = 0
    """Scheduled polls answered with COMM_TIMEOUT rows while the meter was set aside."""
    skipped_polls: int = 0
    """Scheduled polls that could not happen in time (backpressure, a slow line)."""


def build_devices(
    site: SiteConfig, channels: ChannelTable, addresses: Mapping[str, str] | None = None
) -> tuple[list[DeviceState], SiteMeters]:
    """A state per device with its driver (no I/O); see :func:`build_meters`.

    Returns
    -------
    states, meters
        ``await meters.close()`` releases the links when the session ends.
    """
    meters = build_meters(site, channels, addresses)
    drivers: list[tuple[DeviceConfig, PolledMeter | StreamingMeter]] = [
        *meters.polled,
        *meters.streaming,
    ]
    states = [
        DeviceState(config=device, meter=meter, channel_numbers=meter.channel_numbers.tolist())
        for device, meter in drivers
    ]
    return states, meters


def account(state: DeviceState, result: PollResult, asked: bool, alert_sink: AlertSink) -> None:
    """Count one result in the device's health; alert on a communication fault and on
    its recovery (transitions only, so a silent meter alerts once)."""
    state.polls += 1
    if not asked:
        state.set_aside_polls += 1
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


async def consume_stream(
    meter: StreamingMeter,
    handle: Callable[[PollResult, bool], Awaitable[None] | None],
    stop: asyncio.Event,
) -> None:
    """Hand each result of a streaming meter to ``handle`` until ``stop`` is set.

    A handler that returns an awaitable is awaited before the next result is read,
    so a full queue slows the meter's reader (backpressure).
    """
    results = meter.results()
    try:
        while not stop.is_set():
            next_result = asyncio.ensure_future(anext(results))
            stopped = asyncio.ensure_future(stop.wait())
            done, _pending = await asyncio.wait(
                {next_result, stopped}, return_when=asyncio.FIRST_COMPLETED
            )
            if next_result not in done:
                next_result.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_result
                break
            stopped.cancel()
            try:
                result = next_result.result()
            except StopAsyncIteration:
                break
            handled = handle(result, True)
            if handled is not None:
                await handled
    finally:
        aclose = getattr(results, "aclose", None)
        if aclose is not None:
            await aclose()


def _comm_alert(state: DeviceState, now_ns: int, kind: str, message: str) -> Alert:
    return Alert(
        ts=now_ns,
        kind="comm_fault" if kind == "comm_fault" else "comm_restored",
        device=state.config.id,
        quantity=COMM_QUANTITY,
        level=0,
        previous_level=0,
        value=None,
        unit="",
        citation="",
        message=message,
    )


log = logging.getLogger(__name__)

ResultQueue = asyncio.Queue[Readings | None]


async def poll_into_queue(
    state: DeviceState,
    queue: ResultQueue,
    alert_sink: AlertSink,
    stop: asyncio.Event,
    *,
    start_at: float | None = None,
) -> None:
    """Poll one device at its interval into ``queue`` until ``stop`` is set.

    The fixed-rate schedule and backoff of
    :func:`hazmon.drivers.schedule.poll_on_schedule`; the result is handed over with
    ``await queue.put``, so when the pipeline falls behind and the
    queue is full the poller waits (backpressure) and the polls that could not happen
    in time are skipped, rather than results piling up in memory without bound.
    Streaming meters are read the same way (the queue's wait slows their reader).

    A driver that raises (a bug, or input no check foresaw) ends neither this device
    nor the service: the failure is a COMM_ERROR row per channel and a communication
    alert, and the device is polled again after the backoff.
    """

    async def hand_over(result: PollResult, asked: bool) -> None:
        account(state, result, asked, alert_sink)
        await queue.put(result.readings)

    backoff = Backoff(state.config.backoff_initial, state.config.backoff_max)
    while not stop.is_set():
        try:
            await _acquire(state, hand_over, stop, backoff, start_at)
            return
        except Exception as error:
            log.warning("%s: driver error %s: %s", state.config.id, type(error).__name__, error)
            log.debug("driver error of %s", state.config.id, exc_info=True)
            await hand_over(_driver_failure(state, error), True)
        start_at = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff.failure())


async def _acquire(
    state: DeviceState,
    hand_over: Callable[[PollResult, bool], Awaitable[None]],
    stop: asyncio.Event,
    backoff: Backoff,
    start_at: float | None,
) -> None:
    """Read one device until ``stop``: its stream, or its polls on their schedule."""
    if isinstance(state.meter, StreamingMeter):
        await consume_stream(state.meter, hand_over, stop)
        return
    assert isinstance(state.meter, PolledMeter)

    def count_skipped(missed: int) -> None:
        state.skipped_polls += missed

    await poll_on_schedule(
        state.meter,
        state.config.poll_interval,
        hand_over,
        stop,
        backoff=backoff,
        start_at=start_at,
        on_skip=count_skipped,
    )


def _driver_failure(state: DeviceState, error: Exception) -> PollResult:
    """A COMM_ERROR row per channel for a driver that raised ``error``."""
    numbers = np.asarray(state.meter.channel_numbers, dtype=np.int32)
    count = len(numbers)
    readings = Readings(
        ts=np.full(count, time.time_ns(), dtype=np.int64),
        channel=numbers.copy(),
        value=np.full(count, np.nan),
        quality=np.full(count, int(Quality.COMM_ERROR), dtype=np.uint16),
    )
    message = f"driver error {type(error).__name__}: {error}"[:300]
    return PollResult(readings, None, (message,), ())


async def run_pollers(
    states: list[DeviceState], queue: ResultQueue, alert_sink: AlertSink, stop: asyncio.Event
) -> None:
    """Poll every device into ``queue`` in one TaskGroup until ``stop`` is set.

    The devices' first polls are spread over their intervals, so that a site of
    hundreds of meters does not send every request in the same instant.
    """
    loop = asyncio.get_running_loop()
    starts = spread_phases(loop.time(), [state.config.poll_interval for state in states])
    async with asyncio.TaskGroup() as group:
        for state, start_at in zip(states, starts, strict=True):
            group.create_task(
                poll_into_queue(state, queue, alert_sink, stop, start_at=start_at),
                name=state.config.id,
            )
