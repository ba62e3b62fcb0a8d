"""The one durable spool: a FIFO of byte payloads in a SQLite file.

Whatever hazmon must not lose while a network peer is away waits here: line-protocol
batches bound for VictoriaMetrics/InfluxDB (:mod:`hazmon.store.timeseries.outbox`),
MQTT messages of the field kit (:class:`hazmon.acquisition.publish.MessageSpool`),
events and hazard changes bound for the hazard register
(:mod:`hazmon.acquisition.register_writer`).

Durability: the file is in WAL mode with ``synchronous=FULL``, so :meth:`Spool.put`
and :meth:`Spool.put_many` return only once the items are on disk; they survive a
crash of the process *and* a power cut of the machine. Items leave the spool only by
:meth:`Spool.remove`, which the sender calls after the peer confirmed them: delivery
is at least once, and each consumer makes a replay harmless (the same line-protocol
points, the same MQTT payload, an event's idempotency key in the register).

Each item carries a ``label`` (an MQTT topic, an idempotency key) and a ``weight``
(the readings a batch holds) beside its payload; ids are never reused and give the
order items were put.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from hazmon.store.lifecycle import Closable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the order items were put
    label TEXT NOT NULL DEFAULT '',
    weight INTEGER NOT NULL DEFAULT 1,
    payload BLOB NOT NULL
);
"""


class SpoolItem(NamedTuple):
    """One spooled item."""

    id: int
    payload: bytes
    label: str
    weight: int


@dataclass(frozen=True, slots=True)
class LegacyTable:
    """A spool table of an older release in the same file, adopted on open.

    Its rows move, in order, into the spool table and it is dropped, in one
    transaction: an upgrade never strands what an old version had spooled.
    """

    name: str
    label: str
    """SQL expression for the label (a column name, or ``''``)."""
    weight: str
    """SQL expression for the weight (a column name, or ``1``)."""


class Spool(Closable):
    """A durable FIFO of byte payloads (see the module for the durability).

    Parameters
    ----------
    path
        The spool file, created when missing. Reopening it resumes where it was.
    legacy
        Older spool tables the file may hold (from before this module existed).
    """

    def __init__(self, path: str | Path, *, legacy: Sequence[LegacyTable] = ()) -> None:
        self.path = Path(path)
        self.legacy = tuple(legacy)
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open (and create) the spool."""
        if self._connection is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: an item is on disk when put() returns, even if the power fails.
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=10000")
            connection.executescript(_SCHEMA)
            self._adopt(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    def _adopt(self, connection: sqlite3.Connection) -> None:
        for table in self.legacy:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
            ).fetchone()
            if found is None:
                continue
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                f"INSERT INTO spool (label, weight, payload) SELECT {table.label}, "
                f"{table.weight}, payload FROM {table.name} ORDER BY id"
            )
            connection.execute(f"DROP TABLE {table.name}")
            connection.execute("COMMIT")

    def close(self) -> None:
        """Close the spool (idempotent); what is in it stays for the next open."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError(f"spool {self.path} is not open; call open() first")
        return self._connection

    def put(self, payload: bytes, weight: int = 1, label: str = "") -> int:
        """Commit one item; return its id once it is durable."""
        with self._lock:
            cursor = self.connection.execute(
                "INSERT INTO spool (label, weight, payload) VALUES (?, ?, ?)",
                (label, weight, payload),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def put_many(self, items: Sequence[tuple[bytes, int, str]]) -> None:
        """Commit (payload, weight, label) items in one transaction, in order."""
        if not items:
            return
        with self._lock:
            self.connection.execute("BEGIN")
            try:
                self.connection.executemany(
                    "INSERT INTO spool (payload, weight, label) VALUES (?, ?, ?)", items
                )
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def holds(self, label: str, payload: bytes) -> bool:
        """Whether an item with this ``label`` and ``payload`` waits (a copy made twice,
        such as an event a restart's replay closes again before the first was sent)."""
        with self._lock:
            row = self.connection.execute(
                "SELECT 1 FROM spool WHERE label = ? AND payload = ? LIMIT 1", (label, payload)
            ).fetchone()
        return row is not None

    def oldest(self, limit: int = 1, *, after: int = 0) -> list[SpoolItem]:
        """Up to ``limit`` oldest items with an id above ``after``, oldest first (a
        sender that keeps sent items until confirmed reads on past them)."""
        with self._lock:
            rows = self.connection.execute(
                "SELECT id, payload, label, weight FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [SpoolItem(int(row[0]), bytes(row[1]), str(row[2]), int(row[3])) for row in rows]

    def get(self, ids: Sequence[int]) -> list[SpoolItem]:
        """The items of ``ids`` still spooled, oldest first (to send again)."""
        if not ids:
            return []
        with self._lock:
            rows = self.connection.execute(
                "SELECT id, payload, label, weight FROM spool WHERE id IN "
                "(SELECT value FROM json_each(?)) ORDER BY id",
                (json.dumps(list(ids)),),
            ).fetchall()
        return [SpoolItem(int(row[0]), bytes(row[1]), str(row[2]), int(row[3])) for row in rows]

    def remove(self, ids: Sequence[int]) -> None:
        """Delete items the peer confirmed."""
        if not ids:
            return
        with self._lock:
            # One statement, one transaction: one sync to disk, not one per item.
            self.connection.execute(
                "DELETE FROM spool WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(ids)),),
            )

    def pending(self) -> tuple[int, int]:
        """(items, total weight) waiting in the spool."""
        with self._lock:
            items, weight = self.connection.execute(
                "SELECT count(*), coalesce(sum(weight), 0) FROM spool"
            ).fetchone()
        return int(items), int(weight)
