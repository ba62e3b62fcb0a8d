"""The durable outbox: batches bound for a networked store wait in a local SQLite spool.

Semantics:

- :meth:`Outbox.put` commits a batch (``synchronous=FULL``: durable across a crash of
  the process or the machine) before it returns; acquisition never waits on the network.
- :class:`OutboxWriter` sends the oldest batch, and deletes it only after the server
  confirmed it (a 2xx answer to a synchronous write). A failure leaves it in place and
  retries with jittered exponential backoff; later batches wait behind it, so batches
  arrive in the order they were written.
- A crash between the server's confirmation and the delete sends that batch again on
  restart. Replays are idempotent because a replayed batch is byte for byte the same
  lines: the same series and timestamps, which the server keeps once (VictoriaMetrics
  with ``-dedup.minScrapeInterval``; InfluxDB overwrites the point).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from hazmon.store.timeseries.influx_client import StoreUnavailable

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the order batches were written
    points INTEGER NOT NULL,
    payload BLOB NOT NULL                  -- line protocol, sent as is
);
"""


class LineWriter(Protocol):
    """Sends one payload synchronously; raises when the server did not confirm it."""

    def write(self, payload: bytes) -> None: ...

    def close(self) -> None: ...


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    # FULL: a batch is on disk when put() returns, even if the machine loses power.
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


class Outbox:
    """The spool: a FIFO of line-protocol batches in a SQLite file.

    Parameters
    ----------
    path
        The spool file, created when missing. Reopening it resumes where it was.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open (and create) the spool."""
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = _connect(self.path)
            connection.executescript(_SCHEMA)
            self._connection = connection

    def close(self) -> None:
        """Close the spool (idempotent); what is in it stays for the next open."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError(f"outbox {self.path} is not open; call open() first")
        return self._connection

    def put(self, payload: bytes, points: int) -> int:
        """Commit one batch; return its id once it is durable."""
        with self._lock:
            cursor = self.connection.execute(
                "INSERT INTO outbox (points, payload) VALUES (?, ?)", (points, payload)
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def oldest(self) -> tuple[int, bytes] | None:
        """The oldest batch (id, payload), or None when the spool is empty."""
        with self._lock:
            row = self.connection.execute(
                "SELECT id, payload FROM outbox ORDER BY id LIMIT 1"
            ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def remove(self, batch_id: int) -> None:
        """Delete a batch the server confirmed."""
        with self._lock:
            self.connection.execute("DELETE FROM outbox WHERE id = ?", (batch_id,))

    def pending(self) -> tuple[int, int]:
        """(batches, points) waiting in the spool."""
        with self._lock:
            batches, points = self.connection.execute(
                "SELECT count(*), coalesce(sum(points), 0) FROM outbox"
            ).fetchone()
        return int(batches), int(points)


class OutboxWriter:
    """The background thread that drains an outbox into a writer, in order.

    Parameters
    ----------
    outbox
        The open spool.
    writer
        Where batches go.
    min_backoff, max_backoff : [s]
        Retry delays after a failed write: doubling from ``min_backoff`` up to
        ``max_backoff``, each jittered to 50-100 % so that many field kits coming back
        after the same outage do not retry in step.
    """

    def __init__(
        self,
        outbox: Outbox,
        writer: LineWriter,
        *,
        min_backoff: float = 0.05,
        max_backoff: float = 2.0,
    ) -> None:
        self.outbox = outbox
        self.writer = writer
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.sent_batches = 0
        self.failures = 0
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._empty = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sending (what was spooled before, first)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """A batch was spooled: send it now rather than at the next poll."""
        with self._idle:
            self._empty = False
        self._wake.set()

    def _set_empty(self, empty: bool) -> None:
        with self._idle:
            self._empty = empty
            self._idle.notify_all()

    def _run(self) -> None:
        backoff = self.min_backoff
        while not self._stop.is_set():
            batch = self.outbox.oldest()
            if batch is None:
                self._set_empty(True)
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            batch_id, payload = batch
            try:
                self.writer.write(payload)
            except StoreUnavailable as error:
                self.failures += 1
                if self.last_error != str(error):
                    log.warning(
                        "outbox: %s; %d batches wait in the spool", error, self.outbox.pending()[0]
                    )
                self.last_error = str(error)
                self._stop.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            self.outbox.remove(batch_id)
            self.sent_batches += 1
            self.last_error = None
            backoff = self.min_backoff

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` [s] until the spool is empty; True when it is."""
        deadline = time.monotonic() + timeout
        self.wake()
        with self._idle:
            while not self._empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._idle.wait(remaining)
        return self.outbox.pending()[0] == 0

    def stop(self, timeout: float) -> None:
        """Try ``timeout`` [s] to empty the spool, then stop the thread."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._thread = None
