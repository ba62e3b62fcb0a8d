"""What every store shares: ``open`` takes the resource, ``close`` lets it go, and a
``with`` block does both, closing however the block ends."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closable:
    """A store opened with :meth:`open` and closed with :meth:`close` (idempotent)."""

    def open(self) -> None:
        """Take the resource (file, connection pool, HTTP session)."""
        raise NotImplementedError

    def close(self) -> None:
        """Let the resource go; closing twice is harmless."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
