"""The embedded time-series store: one SQLite file, WAL, readings keyed by channel and time.

The default store on an inspector's laptop: no server, survives a crash (WAL), and a
batch is one transaction, so a batch is stored whole or not at all.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    quantity TEXT NOT NULL,
    substance TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL,
    UNIQUE (site, device, quantity, substance)
);
CREATE TABLE IF NOT EXISTS readings (
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    ts INTEGER NOT NULL,          -- ns since 1970-01-01 UTC
    value REAL,                   -- canonical unit; NULL when the reading has no value
    quality INTEGER NOT NULL,     -- hazmon.config.quality.Quality bits
    level INTEGER NOT NULL,       -- 0 normal, 1 A1, 2 A2, 3 critical
    PRIMARY KEY (channel_id, ts)
) WITHOUT ROWID;
"""


class SqliteTimeSeries:
    """Readings in a SQLite file.

    Parameters
    ----------
    path
        The database file; created with its tables when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._connection: sqlite3.Connection | None = None
        self._channel_ids: dict[tuple[str, str, str, str], int] = {}

    def open(self) -> None:
        """Open (and create) the database."""
        if self._connection is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
        connection.executescript(_SCHEMA)
        self._connection = connection

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

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

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError(f"store {self.path} is not open; call open() first")
        return self._connection

    def channel_id(self, channel: Channel) -> int:
        """The database id of ``channel``, inserting it when new."""
        known = self._channel_ids.get(channel.key)
        if known is not None:
            return known
        self.connection.execute(
            "INSERT OR IGNORE INTO channels (site, device, quantity, substance, unit) "
            "VALUES (?, ?, ?, ?, ?)",
            (channel.site, channel.device, channel.quantity, channel.substance, channel.unit),
        )
        row = self.connection.execute(
            "SELECT id FROM channels "
            "WHERE site = ? AND device = ? AND quantity = ? AND substance = ?",
            channel.key,
        ).fetchone()
        self._channel_ids[channel.key] = int(row[0])
        return int(row[0])

    def write(self, readings: Readings, level: NDArray[np.uint8], channels: ChannelTable) -> int:
        """Store a batch in one transaction; return the number of rows written.

        A reading at the same channel and time as a stored one replaces it, so
        writing a batch twice stores it once.
        """
        if len(readings) == 0:
            return 0
        ids = np.array([self.channel_id(channel) for channel in channels.channels], dtype=np.int64)
        value = readings.value.astype(object)
        value[np.isnan(readings.value)] = None  # NaN is stored as NULL
        rows = zip(
            ids[readings.channel].tolist(),
            readings.ts.tolist(),
            value.tolist(),
            readings.quality.tolist(),
            level.tolist(),
            strict=True,
        )
        connection = self.connection
        connection.execute("BEGIN")
        try:
            connection.executemany(
                "INSERT OR REPLACE INTO readings (channel_id, ts, value, quality, level) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return len(readings)

    def count(self) -> int:
        """Number of stored readings."""
        return int(self.connection.execute("SELECT count(*) FROM readings").fetchone()[0])

    def read_window(
        self, channel: Channel, start_ns: int, end_ns: int
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.uint16], NDArray[np.uint8]]:
        """Readings of ``channel`` with ``start_ns <= ts <= end_ns``, in time order.

        Returns
        -------
        ts : [ns UTC], value : [canonical unit] (NaN where none), quality, level
        """
        rows = self.connection.execute(
            "SELECT r.ts, r.value, r.quality, r.level FROM readings r "
            "JOIN channels c ON c.id = r.channel_id "
            "WHERE c.site = ? AND c.device = ? AND c.quantity = ? AND c.substance = ? "
            "AND r.ts BETWEEN ? AND ? ORDER BY r.ts",
            (*channel.key, start_ns, end_ns),
        ).fetchall()
        if not rows:
            return (
                np.empty(0, np.int64),
                np.empty(0, np.float64),
                np.empty(0, np.uint16),
                np.empty(0, np.uint8),
            )
        ts, value, quality, level = zip(*rows, strict=True)
        return (
            np.array(ts, dtype=np.int64),
            np.array(value, dtype=np.float64),  # None (NULL) becomes NaN
            np.array(quality, dtype=np.uint16),
            np.array(level, dtype=np.uint8),
        )
