"""A TCP proxy on loopback that can cut, slow and restore the link to a real server.

The tests point a client (the hazard register's PostgreSQL URL) at the proxy instead
of the server, and break the link between them the way a network does: ``cut()``
drops every open connection and refuses new ones as they come (the client sees the
server close on it), ``delay(seconds)`` holds every chunk of bytes that long before
passing it on (in both directions, order kept), ``restore()`` passes bytes at once
again. The server itself is never stopped, so other users of it are not disturbed.

The proxy runs its own event loop on its own thread: it keeps forwarding whatever
the loop of the program under test is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any


class LinkProxy:
    """Forwards ``127.0.0.1:<port>`` to ``target_host:target_port``.

    Parameters
    ----------
    target_host, target_port
        The real server.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.connections = 0
        """Client connections accepted (refused ones during a cut included)."""
        self._delay = 0.0
        self._cut = False
        self._links: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    # ---------------------------------------------------------------- control (any thread)

    def __enter__(self) -> LinkProxy:
        self._thread.start()
        self._server = self._run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until :meth:`restore`."""
        self._run(self._set(cut=True, delay=self._delay))

    def delay(self, seconds: float) -> None:
        """Pass the link again, each chunk of bytes held ``seconds`` [s] first."""
        self._run(self._set(cut=False, delay=seconds))

    def restore(self) -> None:
        """Pass bytes at once again."""
        self._run(self._set(cut=False, delay=0.0))

    def _run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    # ---------------------------------------------------------------- the proxy's loop

    async def _start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _stop(self) -> None:
        self._drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _set(self, *, cut: bool, delay: float) -> None:
        self._cut, self._delay = cut, delay
        if cut:
            self._drop_all()

    def _drop_all(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._cut:
            writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, server_writer))
        try:
            await asyncio.gather(
                self._pipe(reader, server_writer), self._pipe(server_reader, writer)
            )
        finally:
            for side in (writer, server_writer):
                self._links.discard(side)
                side.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(65536):
                if self._delay:
                    await asyncio.sleep(self._delay)
                if self._cut or writer.transport.is_closing():
                    break
                writer.write(chunk)
                await writer.drain()
        # Either side ending ends both: a half-open link is not what a client sees.
        writer.transport.abort()
