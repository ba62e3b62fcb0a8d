"""The ``async with`` lifecycle every simulated server shares."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Served:
    """Base of the simulators' servers: ``async with`` calls ``start`` and ``stop``."""

    async def start(self) -> None:
        """Begin serving (bind, open the pseudo-terminal, ...)."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop serving and release what ``start`` took; safe to call twice."""
        raise NotImplementedError

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
