"""Polling one meter on a fixed schedule, setting it aside while it is silent.

A meter that does not answer costs everyone on its line a whole timeout per request.
After a silent poll it is set aside for a backoff that doubles with every silent poll
(up to a maximum) and is jittered, so that meters that failed together (a power cut
on one cabinet) do not come back in lockstep. While it is set aside its scheduled polls
still produce their rows, flagged ``COMM_TIMEOUT`` without touching the line: a
reading is never a silent gap. The other meters keep their own schedule throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import numpy as np

from hazmon.analysis.readings import Readings
from hazmon.config.quality import Quality
from hazmon.drivers.base import PolledMeter, PollResult
from hazmon.retry import Backoff as Backoff  # re-exported: the pollers build it from here


def set_aside_result(meter: PolledMeter, now_ns: int, retry_in: float) -> PollResult:
    """The rows of a poll skipped because the meter is set aside: NaN, COMM_TIMEOUT."""
    count = len(meter.channel_numbers)
    readings = Readings(
        ts=np.full(count, now_ns, dtype=np.int64),
        channel=meter.channel_numbers.copy(),
        value=np.full(count, np.nan),
        quality=np.full(count, int(Quality.COMM_TIMEOUT), dtype=np.uint16),
    )
    message = (
        f"{meter.label}: set aside after silent polls; asked again in {max(0.0, retry_in):.1f} s"
    )
    return PollResult(readings, None, (message,), ())


async def poll_on_schedule(
    meter: PolledMeter,
    interval: float,
    on_result: Callable[[PollResult, bool], Awaitable[None] | None],
    stop: asyncio.Event,
    *,
    backoff: Backoff | None = None,
    start_at: float | None = None,
    on_skip: Callable[[int], None] | None = None,
) -> None:
    """Poll ``meter`` every ``interval`` [s] until ``stop`` is set.

    The schedule is fixed-rate: a slow poll shortens the next wait, and polls that
    could not happen in time are skipped rather than run in a burst.

    Parameters
    ----------
    on_result
        Called with each poll's result and whether the line was asked (False while
        the meter is set aside). When it returns an awaitable (handing the result to
        a bounded queue, say) the schedule waits for it: that is the backpressure.
    on_skip
        Called with the number of polls skipped because the schedule fell behind.
    backoff
        How long a silent meter is set aside; 2 s doubling to 60 s by default.
    start_at : [s]
        Loop time of the first poll (now by default). Spreading the meters' first
        polls over the interval (see :func:`spread_phases`) keeps hundreds of meters
        from waking in the same instant and queueing behind each other.
    """
    backoff = backoff or Backoff()
    loop = asyncio.get_running_loop()
    deadline = loop.time() if start_at is None else start_at
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(deadline):
            await stop.wait()
    resume_at = -float("inf")
    while not stop.is_set():
        now_ns = time.time_ns()
        if loop.time() < resume_at:
            result, asked = set_aside_result(meter, now_ns, resume_at - loop.time()), False
        else:
            result, asked = await meter.poll(now_ns), True
            if result.silent:
                resume_at = loop.time() + backoff.failure()
            else:
                backoff.success()
        handled = on_result(result, asked)
        if handled is not None:
            await handled
        deadline += interval
        if deadline < loop.time():
            missed = (loop.time() - deadline) // interval + 1
            deadline += missed * interval
            if on_skip is not None:
                on_skip(int(missed))
        # timeout_at cancels this task's own wait; wait_for would start a task per poll.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await stop.wait()


def spread_phases(start: float, intervals: list[float], groups: int = 20) -> list[float]:
    """First-poll times [s] spreading meters over their intervals in ``groups`` steps.

    Meter ``i`` of ``n`` starts at ``start + interval_i * (i mod groups) / groups``:
    with equal intervals the polls of one interval come in ``groups`` evenly spaced
    batches instead of all at once. Batches rather than one phase per meter because
    every separate wake-up of the event loop costs CPU; 20 batches a second keep a
    batch of 1,000 meters at 50 polls.
    """
    steps = max(1, min(groups, len(intervals)))
    return [start + interval * (index % steps) / steps for index, interval in enumerate(intervals)]
