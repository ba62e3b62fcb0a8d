"""The durable outbox: batches bound for a networked store wait in a local SQLite spool.

Semantics:

- :meth:`Outbox.put` commits a batch to the one durable spool (:mod:`hazmon.store.spool`,
  ``synchronous=FULL``: durable across a crash of the process or the machine) before it
  returns; acquisition never waits on the network.
- :class:`OutboxWriter` sends the oldest batch, and deletes it only after the server
  confirmed it (a 2xx answer to a synchronous write). A failure leaves it in place and
  retries with the project's jittered exponential backoff
  (:class:`hazmon.drivers.schedule.Backoff`); later batches wait behind it, so batches
  arrive in the order they were written.
- A crash between the server's confirmation and the delete sends that batch again on
  restart. Replays are idempotent because a replayed batch is byte for byte the same
  lines: the same series and timestamps, which the server keeps once (VictoriaMetrics
  with ``-dedup.minScrapeInterval``; InfluxDB overwrites the point).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Protocol

from hazmon.drivers.schedule import Backoff
from hazmon.store.spool import LegacyTable, Spool
from hazmon.store.timeseries.influx_client import StoreUnavailable

log = logging.getLogger(__name__)


class LineWriter(Protocol):
    """Sends one payload synchronously; raises when the server did not confirm it."""

    def write(self, payload: bytes) -> None: ...

    def close(self) -> None: ...


class Outbox(Spool):
    """The spool of line-protocol batches (:class:`hazmon.store.spool.Spool`; an item's
    weight is the readings it holds).

    Parameters
    ----------
    path
        The spool file, created when missing. Reopening it resumes where it was; a file
        of an older release (its ``outbox`` table) is adopted.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, legacy=[LegacyTable("outbox", label="''", weight="points")])


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
        self.backoff = Backoff(min_backoff, max_backoff)
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
        while not self._stop.is_set():
            batch = self.outbox.oldest(1)
            if not batch:
                self._set_empty(True)
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            batch_id, payload = batch[0].id, batch[0].payload
            try:
                self.writer.write(payload)
            except StoreUnavailable as error:
                self.failures += 1
                if self.last_error != str(error):
                    log.warning(
                        "outbox: %s; %d batches wait in the spool", error, self.outbox.pending()[0]
                    )
                self.last_error = str(error)
                self._stop.wait(self.backoff.failure())
                continue
            self.outbox.remove([batch_id])
            self.sent_batches += 1
            self.last_error = None
            self.backoff.success()

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
