"""The register writer: the hazard register never stops acquisition.

The pipeline hands every closed event (and the hazard it files or extends) to
:meth:`RegisterWriter.record`, which commits it to a local durable spool beside the
readings (:class:`hazmon.store.spool.Spool`, ``synchronous=FULL``) and returns: a few
milliseconds of local disk, whatever the register is doing. A background task copies
the spool to the register (SQLite or PostgreSQL, :class:`~hazmon.store.hazards.HazardRegister`)
in the order events closed, one record per transaction, on a thread of its own, so a
slow or dead database never holds up the event loop the pollers run on.

- **Exactly once.** Each record carries an idempotency key stored, unique, with its
  event (Alembic revision 0003). A record leaves the spool only after the register
  committed it; a copy interrupted between the two is sent again and finds its key
  already there, which changes nothing.
- **One hazard per condition.** The attach decision (a new excursion is evidence on
  the channel's open hazard) is made in the register at copy time, in order, so it
  holds across an outage and a restart.
- **Retries** use the project's one backoff (:class:`hazmon.drivers.schedule.Backoff`).
- **Health.** A register that is unreachable (at start or later) or slow is one log
  line and one alert (``register_down``, ``register_slow``), and ``register_restored``
  when copies go through promptly again; no traceback. Acquisition carries on: events
  wait in the spool.
- **A spool the disk refuses** (full, read-only) keeps the records in memory (events
  are few: a handful an hour) and spools them at the next record or copy attempt.
- **A longer event under a known key** (filed at a stop, continued after the restart)
  extends the filed event (:meth:`~hazmon.store.hazards.HazardRegister.extend`).
- **Shutdown.** :meth:`RegisterWriter.close` tries ``timeout`` seconds to copy what is
  spooled; what is left stays in the spool and is copied at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hazmon.acquisition.alerts import REGISTER_KEY, Alert, AlertKind, AlertSink
from hazmon.drivers.schedule import Backoff
from hazmon.store.evidence import ReadingsFile
from hazmon.store.hazards import EventRecord, HazardRegister
from hazmon.store.spool import Spool, SpoolItem

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A copy slower than this [s] makes the register "slow" (one alert, one log line).
SLOW_AFTER = 1.0


def register_spool_path(database: Path) -> Path:
    """The register spool beside the readings file ``database`` (``kit.db`` →
    ``kit.register-spool.db``)."""
    return database.with_name(f"{database.stem}.register-spool.db")


def describe_url(url: str) -> str:
    """``url`` without its password, for logs and alerts."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is the register's own error to report
        return url


def describe_error(error: BaseException) -> str:
    """One line for a database error (SQLAlchemy's own text spans several, with SQL)."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[0] if lines else 'no message'}"


class RegisterWriter:
    """Spools event records and copies them to the hazard register in the background.

    Parameters
    ----------
    url
        The register's SQLAlchemy URL.
    spool
        The spool file (:func:`register_spool_path` of the readings file).
    alert_sink
        Where the register's health alerts go (the pipeline's sink).
    timeout : [s]
        Longest wait of one database call (connect, lock, a link that stopped answering).
    backoff
        Waits between failed copies (0.5 s doubling to 10 s by default).
    slow_after : [s]
        A copy taking longer makes the register "slow".
    shutdown_timeout : [s]
        How long leaving ``async with`` tries to copy what is spooled (``[service]
        shutdown_timeout``).
    readings
        The kit's time-series file, whose evidence readings the audit chain vouches for
        when the register is another database; None where it is the same file.
    """

    def __init__(
        self,
        url: str,
        spool: Path,
        alert_sink: AlertSink,
        *,
        timeout: float = 5.0,
        backoff: Backoff | None = None,
        slow_after: float = SLOW_AFTER,
        shutdown_timeout: float = 5.0,
        readings: Path | None = None,
    ) -> None:
        self.url = url
        self.name = describe_url(url)
        self.spool = Spool(spool)
        # A register in another database (PostgreSQL) vouches for the evidence readings
        # of the kit's store file too; one in the same SQLite file finds them itself.
        self.register = HazardRegister(
            url, timeout=timeout, readings=None if readings is None else ReadingsFile(readings)
        )
        self.alert_sink = alert_sink
        self.backoff = backoff or Backoff(0.5, 10.0)
        self.slow_after = slow_after
        self.shutdown_timeout = shutdown_timeout
        self.state = "starting"
        """``starting`` · ``up`` · ``slow`` · ``down`` (the health the live view shows)."""
        self.spooled = 0
        """Records spooled by this run."""
        self.copied = 0
        """Records copied to the register by this run (earlier runs' leftovers included)."""
        self.failures = 0
        self.max_copy_s = 0.0
        """The slowest copy of one record this run [s]."""
        self.left: int | None = None
        """Records left in the spool when it closed (None while open)."""
        self.on_recorded: list[Callable[[int, int | None], None]] = []
        """Called on the event loop with (event id, hazard id or None) of each copy."""
        self.unspooled: list[EventRecord] = []
        """Records the spool's disk refused, kept in memory until it takes them."""
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="register-writer")
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- the pipeline's side

    def record(self, record: EventRecord) -> None:
        """Commit ``record`` to the spool (durable when this returns); it is copied later
        (after :meth:`close`, at the next start)."""
        self.unspooled.append(record)
        self._spool_waiting()
        self._empty.clear()
        self._wake.set()

    def _spool_waiting(self) -> None:
        """Spool the records that wait in memory, oldest first, as far as the disk lets."""
        try:
            self.spool.open()
            while self.unspooled:
                waiting = self.unspooled[0]
                payload = waiting.to_json()
                # A restart's replay closes again the events the previous run spooled:
                # one copy waits already, a second would only be a second no-op copy.
                if not (waiting.key and self.spool.holds(waiting.key, payload)):
                    self.spool.put(payload, label=waiting.key)
                    self.spooled += 1
                self.unspooled.pop(0)
        except (sqlite3.Error, OSError) as error:
            log.warning(
                "register spool %s refuses writes (%s); %d events wait in memory",
                self.spool.path,
                error,
                len(self.unspooled),
            )

    def pending(self) -> int:
        """Records waiting in the spool."""
        self.spool.open()
        return self.spool.pending()[0]

    # ---------------------------------------------------------------- lifetime

    def start(self) -> None:
        """Open the spool and start copying (what earlier runs left, first)."""
        self.spool.open()
        # What the copy thread's first open imports (the database driver, Alembic) is
        # imported here, before polling starts: an import in progress on that thread
        # would make the event loop wait for it when it touches the same modules.
        import alembic.command  # noqa: F401

        with contextlib.suppress(Exception):  # a bad URL is the register's error to report
            make_url(self.url).get_dialect().import_dbapi()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="register-writer")

    async def close(self, timeout: float) -> bool:
        """Try ``timeout`` [s] to copy what is spooled, then stop; True when nothing is
        left. What is left stays in the spool for the next start. Idempotent."""
        if self.left is not None:
            return self.left == 0
        if self._task is not None:
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._empty.wait()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # The copy thread may still be finishing one record: close after it, on it.
        finished = self._executor.submit(self.register.close)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.wrap_future(finished), self.register_timeout + 1.0)
        self._spool_waiting()
        self.left = left = self.pending() + len(self.unspooled)
        if left:
            log.warning(
                "hazard register %s: %d events stay in %s for the next start",
                self.name,
                left,
                self.spool.path,
            )
        self.spool.close()
        self._executor.shutdown(wait=False)
        return left == 0

    @property
    def register_timeout(self) -> float:
        return self.register.timeout or 5.0

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close(self.shutdown_timeout)

    # ---------------------------------------------------------------- the copying task

    async def _call(self, function: Callable[..., T], *args: object) -> T:
        """Run ``function`` on the writer's own thread (one, so copies keep their order)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _copy(self, item: SpoolItem) -> tuple[int, int | None]:
        """On the writer's thread: store one record, then forget it."""
        self.register.open()
        record = EventRecord.from_json(item.payload)
        stored = self.register.record(record)
        self.register.extend(record)
        self.spool.remove([item.id])
        return stored

    async def _run(self) -> None:
        while True:
            try:
                # Opened first, with nothing to copy: an unreachable register is known
                # (and alerted) at start, not at the first event.
                await self._call(self.register.open)
                if self.unspooled:
                    self._spool_waiting()
                items = self.spool.oldest(1)
                if not items:
                    self._healthy(None)
                    self._empty.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                started = time.monotonic()
                event_id, hazard_id = await self._call(self._copy, items[0])
            except Exception as error:  # every failure is retried; none ends acquisition
                self._failed(error)
                await asyncio.sleep(self.backoff.failure())
                continue
            elapsed = time.monotonic() - started
            self.max_copy_s = max(self.max_copy_s, elapsed)
            self.copied += 1
            self.backoff.success()
            self._healthy(elapsed)
            for callback in self.on_recorded:
                callback(event_id, hazard_id)

    def _failed(self, error: Exception) -> None:
        self.failures += 1
        if self.state == "down":
            return
        self.state = "down"
        message = (
            f"hazard register {self.name} unreachable ({describe_error(error)}); "
            f"acquisition goes on, {self.pending()} events wait in {self.spool.path}"
        )
        log.warning("%s", message)
        self._alert("register_down", message)

    def _healthy(self, elapsed: float | None) -> None:
        """The register answered; ``elapsed`` [s] is how long a copy took (None: it was
        only opened, which says it is reachable, not how fast it is)."""
        slow = elapsed is not None and elapsed > self.slow_after
        if slow and self.state != "slow":
            message = (
                f"hazard register {self.name} slow: a copy took {elapsed or 0.0:.1f} s; "
                f"acquisition goes on, {self.pending()} events wait in {self.spool.path}"
            )
            log.warning("%s", message)
            self.state = "slow"
            self._alert("register_slow", message)
        elif not slow and (self.state in ("starting", "down") or elapsed is not None):
            if self.state in ("down", "slow"):
                message = f"hazard register {self.name} answers again"
                log.warning("%s", message)
                self._alert("register_restored", message)
            self.state = "up"

    def _alert(self, kind: AlertKind, message: str) -> None:
        self.alert_sink(Alert.health(kind, "", REGISTER_KEY, message))
