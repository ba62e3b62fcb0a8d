"""A partition runner stops when cancelled even if a library swallowed the cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from hazmon.acquisition.central.worker import _cancelled


def test_a_swallowed_cancellation_is_still_seen() -> None:
    seen: list[bool] = []

    async def fetch_loop(started: asyncio.Event) -> None:
        seen.append(_cancelled())
        started.set()
        # What Python 3.11's wait_for does when a message arrived as the cancel came.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)
        seen.append(_cancelled())

    async def main() -> None:
        started = asyncio.Event()
        task = asyncio.create_task(fetch_loop(started))
        await started.wait()
        task.cancel()
        await task  # returns: the CancelledError was swallowed

    asyncio.run(main())
    assert seen == [False, True]
