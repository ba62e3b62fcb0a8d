"""A driver that raises ends neither its device nor the service (issue #17's "one
payload stops the whole service"): the failure becomes flagged rows and an alert, and
the device is read again after its backoff."""

from __future__ import annotations

import asyncio

import numpy as np
from numpy.typing import NDArray

from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.poller import DeviceState, ResultQueue, poll_into_queue
from hazmon.analysis.readings import Readings
from hazmon.config.quality import Quality
from hazmon.config.site import ModbusDevice
from hazmon.drivers.base import PollResult

DEADLINE_S = 60.0


class FlakyDriver:
    """A polled meter whose driver raises on its second poll, as a driver bug or an
    unforeseen input would (no real meter can be made to trigger a bug on purpose)."""

    def __init__(self) -> None:
        self.channel_numbers: NDArray[np.int32] = np.array([0, 1], dtype=np.int32)
        self.polls = 0

    @property
    def label(self) -> str:
        return "flaky"

    async def poll(self, now_ns: int | None = None) -> PollResult:
        self.polls += 1
        if self.polls == 2:
            raise OverflowError("int too large to convert to float")
        ts = np.full(2, now_ns or 0, dtype=np.int64)
        readings = Readings(
            ts, self.channel_numbers.copy(), np.array([1.0, 2.0]), np.zeros(2, np.uint16)
        )
        return PollResult(readings, None, (), ())


def test_a_raising_driver_gives_flagged_rows_and_is_polled_again() -> None:
    device = ModbusDevice.model_validate(
        {
            "id": "gd-flaky",
            "profile": "generic-4gas",
            "address": "127.0.0.1:1502",
            "poll_interval": 0.05,
            "backoff_initial": 0.05,
            "backoff_max": 0.1,
        }
    )
    meter = FlakyDriver()
    state = DeviceState(config=device, meter=meter, channel_numbers=[0, 1])
    alerts: list[Alert] = []

    async def main() -> list[Readings]:
        queue: ResultQueue = asyncio.Queue()
        stop = asyncio.Event()
        task = asyncio.create_task(poll_into_queue(state, queue, alerts.append, stop))
        batches: list[Readings] = []
        async with asyncio.timeout(DEADLINE_S):
            # Good poll, the failure, then good polls again: the device carried on.
            while len(batches) < 4:
                item = await queue.get()
                assert item is not None
                batches.append(item)
        stop.set()
        await task
        return batches

    batches = asyncio.run(main())
    first, failed, *after = batches
    assert not first.quality.any()
    assert np.all(np.isnan(failed.value))
    assert np.all(failed.quality == int(Quality.COMM_ERROR))
    assert all(not batch.quality.any() for batch in after)
    assert [alert.kind for alert in alerts] == ["comm_fault", "comm_restored"]
    assert "OverflowError" in (alerts[0].message or "")
    assert state.failed_polls == 1
    assert meter.polls >= 4
