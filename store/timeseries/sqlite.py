"""The embedded time-series store: one SQLite file, WAL, readings keyed by channel and time.

The default store on an inspector's laptop: no server, survives a crash (WAL), and a
batch is one transaction, so a batch is stored whole or not at all. Old readings can be
downsampled into per-interval rollups that keep the minimum, the mean and the maximum
(an averaged-away peak would hide the very reading a hazard record cites), and dropped
past a retention period.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.drivers.stream import DeadLetter
from hazmon.store.lifecycle import Closable
from hazmon.store.timeseries import Aggregates, Window, summarise

log = logging.getLogger(__name__)

# The schema's version is SQLite's ``user_version``: 0 a file made before versions
# (release 0.1.0: channels keyed by site, device, quantity, substance), 1 a channel named,
# 2 the service's own runs and outages (tables added; nothing else changes), 3 the
# meters' dead letters (a table added), 4 the per-minute summaries kept at write time
# (``rollups.kept``; the rollups table is rebuilt and the summaries built once).
SCHEMA_VERSION = 4

#: The width of the summaries the store keeps at write time [ns]: one minute.
SUMMARY_NS = 60_000_000_000

_INT64_MAX = int(np.iinfo(np.int64).max)

_CHANNELS = """
CREATE TABLE IF NOT EXISTS channels (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',  -- the profile's channel name, '' when unnamed
    quantity TEXT NOT NULL,
    substance TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL,
    UNIQUE (site, device, name, quantity, substance)
);"""

# One table, two kinds of row of one shape. kept = 1: the summary of one minute of
# readings that are still in ``readings``, kept in the transaction that writes them, so a
# long chart reads 1/60 of the rows (or fewer) and the summary is always a function of
# the raw rows. kept = 0: what ``downsample`` left of readings it removed. The kinds
# stay apart so that a raw-row answer never counts a reading twice.
_ROLLUPS = """
CREATE TABLE IF NOT EXISTS rollups (
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    kept INTEGER NOT NULL,        -- 1 the readings are still stored, 0 rolled up and removed
    start_ts INTEGER NOT NULL,    -- ns UTC, a multiple of interval_ns
    interval_ns INTEGER NOT NULL, -- one minute when kept = 1
    minimum REAL,                 -- NULL when no reading of the interval had a value
    maximum REAL,
    total REAL,                   -- sum of the values, so means merge exactly
    count INTEGER NOT NULL,       -- readings with a value
    quality INTEGER NOT NULL,     -- every quality bit seen (OR)
    level INTEGER NOT NULL,       -- the highest level
    PRIMARY KEY (channel_id, kept, start_ts, interval_ns)
) WITHOUT ROWID;"""

_SCHEMA = (
    _CHANNELS
    + """
CREATE TABLE IF NOT EXISTS readings (
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    ts INTEGER NOT NULL,          -- ns since 1970-01-01 UTC
    value REAL,                   -- canonical unit; NULL when the reading has no value
    quality INTEGER NOT NULL,     -- hazmon.config.quality.Quality bits
    level INTEGER NOT NULL,       -- 0 normal, 1 A1, 2 A2, 3 critical
    PRIMARY KEY (channel_id, ts)
) WITHOUT ROWID;
"""
    + _ROLLUPS
    + """
CREATE TABLE IF NOT EXISTS service_runs (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    started_ts INTEGER NOT NULL,  -- ns UTC
    stopped_ts INTEGER            -- ns UTC of a clean stop; NULL while running or after a crash
);
CREATE TABLE IF NOT EXISTS service_outages (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    start_ts INTEGER NOT NULL,    -- ns UTC: the last reading stored (or the clean stop)
    end_ts INTEGER NOT NULL,      -- ns UTC: the restart (or the first reading kept again)
    cause TEXT NOT NULL,          -- 'crash', 'stopped' or 'store_unwritable'
    dropped INTEGER NOT NULL DEFAULT 0  -- readings polled but not kept in the interval
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    source TEXT NOT NULL,         -- where it came from (an MQTT topic)
    received_ts INTEGER NOT NULL, -- ns UTC
    reason TEXT NOT NULL,         -- why it could not be read
    payload BLOB NOT NULL         -- the message as it came (the first 64 KiB)
);
"""
)

# Version 0 to 1: the channel gains its name. SQLite cannot change a UNIQUE constraint in
# place, so the table is rebuilt with its ids kept (readings and rollups refer to them);
# an old channel gets the empty name, which is what it was: the quantity itself.
_UPGRADE_0_TO_1 = (
    "ALTER TABLE channels RENAME TO channels_v0;"
    + _CHANNELS
    + """
INSERT INTO channels (id, site, device, name, quantity, substance, unit)
SELECT id, site, device, '', quantity, substance, unit FROM channels_v0;
DROP TABLE channels_v0;
"""
)

# Version 3 to 4: the rollups gain ``kept`` in their key (SQLite rebuilds a table to
# change a key); every row of an older file is what downsample left, so kept = 0.
_UPGRADE_3_TO_4 = (
    "ALTER TABLE rollups RENAME TO rollups_v3;"
    + _ROLLUPS
    + """
INSERT INTO rollups (channel_id, kept, start_ts, interval_ns, minimum, maximum, total, count,
                     quality, level)
SELECT channel_id, 0, start_ts, interval_ns, minimum, maximum, total, count, quality, level
FROM rollups_v3;
DROP TABLE rollups_v3;
"""
)

# SQLite has no bitwise-OR aggregate; over 16 quality bits the OR of a column is the OR
# of each bit's maximum, which is one pass in SQL.
_QUALITY_OR = " | ".join(f"max(quality & {1 << bit})" for bit in range(16))

# A summary merged into a row of the same key: min and max widen (NULL is "no value",
# not smaller), totals and counts add, quality bits OR, the highest level wins.
_MERGE = (
    "ON CONFLICT (channel_id, kept, start_ts, interval_ns) DO UPDATE SET "
    "minimum = min(coalesce(minimum, excluded.minimum), coalesce(excluded.minimum, minimum)), "
    "maximum = max(coalesce(maximum, excluded.maximum), coalesce(excluded.maximum, maximum)), "
    "total = total + excluded.total, count = count + excluded.count, "
    "quality = quality | excluded.quality, level = max(level, excluded.level)"
)

_INSERT_SUMMARY = (
    "INSERT INTO rollups (channel_id, kept, start_ts, interval_ns, minimum, maximum, total, "
    f"count, quality, level) VALUES (?, 1, ?, {SUMMARY_NS}, ?, ?, ?, ?, ?, ?) {_MERGE}"
)

# The summaries of readings, per channel and minute, computed from the raw rows: the
# upgrade builds them all, a rebuild one minute at a time (after a reading was replaced).
_SUMMARY_OF_READINGS = (
    "INSERT INTO rollups (channel_id, kept, start_ts, interval_ns, minimum, maximum, total, "
    "count, quality, level) "
    f"SELECT channel_id, 1, ts - ts % {SUMMARY_NS}, {SUMMARY_NS}, min(value), max(value), "
    f"total(value), count(value), {_QUALITY_OR}, max(level) FROM readings "
)


#: The readings of one channel (its key, then start and end [ns UTC]) in time order; also
#: what the hazard register reads of a file it shares (:mod:`hazmon.store.evidence`).
WINDOW_SQL = (
    "SELECT r.ts, r.value, r.quality, r.level FROM readings r "
    "JOIN channels c ON c.id = r.channel_id "
    "WHERE c.site = ? AND c.device = ? AND c.name = ? AND c.quantity = ? "
    "AND c.substance = ? "
    "AND r.ts BETWEEN ? AND ? ORDER BY r.ts"
)


def window_of(rows: Sequence[Sequence[Any]]) -> Window:
    """The :class:`Window` of (ts, value, quality, level) rows of :data:`WINDOW_SQL`."""
    if not rows:
        return Window.empty()
    ts, value, quality, level = zip(*rows, strict=True)
    return Window(
        np.array(ts, dtype=np.int64),
        np.array(value, dtype=np.float64),  # None (NULL) becomes NaN
        np.array(quality, dtype=np.uint16),
        np.array(level, dtype=np.uint8),
    )


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring the file's schema to :data:`SCHEMA_VERSION` in one transaction."""
    version = int(connection.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"time-series schema version {version} is newer than this hazmon's "
            f"({SCHEMA_VERSION}); upgrade hazmon"
        )
    if version == SCHEMA_VERSION:
        return
    has_channels = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'channels'"
    ).fetchone()
    upgrade = ""
    if has_channels and version == 0:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(channels)")}
        if "name" not in columns:
            upgrade = _UPGRADE_0_TO_1
    rollup_columns = {row[1] for row in connection.execute("PRAGMA table_info(rollups)")}
    if rollup_columns and "kept" not in rollup_columns:
        upgrade += _UPGRADE_3_TO_4
    try:
        # One transaction: a crash mid-upgrade leaves the old schema (and no summaries).
        connection.executescript(f"BEGIN IMMEDIATE;{upgrade}{_SCHEMA}")
        if has_channels:
            # Readings stored before version 4 have no summaries yet: built once, here.
            built = connection.execute(
                _SUMMARY_OF_READINGS + f"WHERE true GROUP BY channel_id, ts - ts % {SUMMARY_NS}"
            ).rowcount
            readings = connection.execute("SELECT count(*) FROM readings").fetchone()[0]
            log.info(
                "time-series schema %d -> %d: built %d per-minute summaries of %d readings",
                version,
                SCHEMA_VERSION,
                built,
                readings,
            )
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


# Raw readings, the kept summaries of whole minutes and what downsampling left are
# summarised by one query, so that a window spanning the downsampled past and the raw
# present aggregates the same way throughout. Raw readings are read in two ranges, the
# partial minutes at either edge of [:full_start, :full_end) (the whole minutes read
# from their summaries); with no whole minutes, :full_start = :full_end = :end + 1 and
# it is the raw-row answer. Two range SELECTs, not an OR: each is one index range.
_DATA = """
    SELECT ts - ts % :interval AS bucket, value AS minimum, value AS maximum,
           value AS total, value IS NOT NULL AS count, level, quality
    FROM readings WHERE channel_id = :channel AND ts >= :start AND ts < :full_start
    UNION ALL
    SELECT ts - ts % :interval, value, value, value, value IS NOT NULL, level, quality
    FROM readings WHERE channel_id = :channel AND ts >= :full_end AND ts <= :end
    UNION ALL
    SELECT start_ts - start_ts % :interval, minimum, maximum, total, count, level, quality
    FROM rollups WHERE channel_id = :channel AND kept = 1
    AND start_ts >= :full_start AND start_ts < :full_end
    UNION ALL
    SELECT start_ts - start_ts % :interval, minimum, maximum, total, count, level, quality
    FROM rollups WHERE channel_id = :channel AND kept = 0 AND start_ts BETWEEN :start AND :end
"""
_AGGREGATE = f"""
SELECT bucket, min(minimum), sum(total) / sum(count), max(maximum), sum(count), max(level)
FROM ({_DATA}) GROUP BY bucket ORDER BY bucket
"""
# Flags are rare: the distinct (bucket, bits) pairs are few and OR-ed in numpy.
_AGGREGATE_QUALITY = f"SELECT DISTINCT bucket, quality FROM ({_DATA}) WHERE quality != 0"


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A message a meter sent that could not be read (a row of ``dead_letters``)."""

    id: int
    site: str
    device: str
    source: str
    received_ns: int
    """[ns UTC]"""
    reason: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Outage:
    """An interval in which the service kept no readings (a row of ``service_outages``).

    Attributes
    ----------
    start_ts, end_ts : [ns UTC]
    cause
        ``crash`` (the previous run ended without stopping: killed, power lost),
        ``stopped`` (the service was stopped cleanly and started again) or
        ``store_unwritable`` (running, but the disk was full or read-only).
    dropped
        Readings polled in the interval and not kept.
    """

    start_ts: int
    end_ts: int
    cause: str
    dropped: int = 0

    @property
    def seconds(self) -> float:
        """Length of the outage [s]."""
        return (self.end_ts - self.start_ts) / 1e9


class SqliteTimeSeries(Closable):
    """Readings in a SQLite file.

    Parameters
    ----------
    path
        The database file; created with its tables when missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._connection: sqlite3.Connection | None = None
        self._channel_ids: dict[tuple[str, str, str, str, str], int] = {}
        self._let_go = False
        """A write was refused and the files closed: the next use opens them again."""

    def open(self, *, create: bool = True) -> None:
        """Open the database; create it (and its folder) when missing unless not ``create``."""
        if self._connection is not None:
            return
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            target: str | Path = self.path
        else:
            target = f"{self.path.absolute().as_uri()}?mode=rw"
        connection = sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, uri=not create
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=5000")
            _migrate(connection)
        except BaseException:
            connection.close()  # a refused open must not keep the files held
            raise
        self._connection = connection

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None and self._let_go:
            # Never a new file: a store missing now is a disk not mounted (yet), and a
            # fresh database in the bare mount point would hide the readings under it.
            self.open(create=False)  # raises again while the disk still refuses
            self._let_go = False
        if self._connection is None:
            raise RuntimeError(f"store {self.path} is not open; call open() first")
        return self._connection

    def channel_id(self, channel: Channel) -> int:
        """The database id of ``channel``, inserting it when new."""
        known = self._channel_ids.get(channel.key)
        if known is not None:
            return known
        self.connection.execute(
            "INSERT OR IGNORE INTO channels (site, device, name, quantity, substance, unit) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (*channel.key, channel.unit),
        )
        row = self._known_channel_id(channel)
        assert row is not None  # inserted just above
        self._channel_ids[channel.key] = row
        return row

    def write(self, readings: Readings, level: NDArray[np.uint8], channels: ChannelTable) -> int:
        """Store a batch in one transaction; return the number of rows written.

        A reading at the same channel and time as a stored one replaces it, so
        writing a batch twice stores it once. The per-minute summaries of the batch's
        minutes are brought up to date in the same transaction. A refused write (a full
        disk, a filesystem the kernel turned read-only after an error) closes the files
        before it raises, and the next use opens them again: while refused the store
        holds nothing open, so the disk can be unmounted, repaired and mounted again
        under a running service.
        """
        if len(readings) == 0:
            return 0
        if len(level) != len(readings):
            raise ValueError(f"{len(level)} levels for {len(readings)} readings")
        try:
            return self._write(readings, level, channels)
        except (sqlite3.Error, OSError):
            self.close()
            self._let_go = True
            raise

    def _write(self, readings: Readings, level: NDArray[np.uint8], channels: ChannelTable) -> int:
        ids = np.array([self.channel_id(channel) for channel in channels.channels], dtype=np.int64)
        channel_ids = ids[readings.channel]
        value = readings.value.astype(object)
        value[np.isnan(readings.value)] = None  # NaN is stored as NULL
        rows = zip(
            channel_ids.tolist(),
            readings.ts.tolist(),
            value.tolist(),
            readings.quality.tolist(),
            level.tolist(),
            strict=True,
        )
        minute = readings.ts - np.mod(readings.ts, SUMMARY_NS)
        summary = summarise(
            np.column_stack([channel_ids, minute]), readings.value, readings.quality, level
        )
        connection = self.connection
        # IMMEDIATE: the write lock first (waiting busy_timeout for it). A deferred
        # transaction that reads (which minutes are replaced) and then writes fails at
        # once with "database is locked" when another connection to the file (the
        # register's, the spool's) committed in between: a store_down for nothing.
        connection.execute("BEGIN IMMEDIATE")
        try:
            replacing = self._replacing(channel_ids, readings.ts)
            connection.executemany(
                "INSERT OR REPLACE INTO readings (channel_id, ts, value, quality, level) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            # A new reading merges into its minute; a minute where one replaced another
            # (a batch written again, an overlapping replay) is summed again from its raw
            # rows, because a replaced maximum cannot be taken back out of a summary.
            rebuild = np.isin(summary.key[:, 0], replacing)
            merge = ~rebuild
            minimum = summary.minimum.astype(object)
            minimum[summary.value_count == 0] = None
            maximum = summary.maximum.astype(object)
            maximum[summary.value_count == 0] = None
            connection.executemany(
                _INSERT_SUMMARY,
                zip(
                    summary.key[merge, 0].tolist(),
                    summary.key[merge, 1].tolist(),
                    minimum[merge].tolist(),
                    maximum[merge].tolist(),
                    summary.total[merge].tolist(),
                    summary.value_count[merge].tolist(),
                    summary.quality[merge].tolist(),
                    summary.level[merge].tolist(),
                    strict=True,
                ),
            )
            self._rebuild_summaries(map(tuple, summary.key[rebuild].tolist()))
            connection.execute("COMMIT")
        except BaseException:
            # A full disk may have rolled the transaction back already (SQLITE_FULL);
            # a second ROLLBACK would raise and hide why.
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return len(readings)

    def _replacing(self, channel_ids: NDArray[np.int64], ts: NDArray[np.int64]) -> list[int]:
        """The channels of a batch about to replace a stored reading (or to repeat a
        time within the batch); their minutes are summed again from raw rows.

        A live batch comes after everything stored, so one indexed probe per channel of
        its time range settles it; a late batch that only interleaves is summed again
        too, which is exact, merely slower.
        """
        order = np.lexsort((ts, channel_ids))
        ordered_ids, ordered_ts = channel_ids[order], ts[order]
        repeated = (ordered_ids[1:] == ordered_ids[:-1]) & (ordered_ts[1:] == ordered_ts[:-1])
        found = set(ordered_ids[1:][repeated].tolist())
        first = np.flatnonzero(np.r_[True, ordered_ids[1:] != ordered_ids[:-1]])
        last = np.r_[first[1:] - 1, len(ordered_ids) - 1]
        for channel_id, low, high in zip(
            ordered_ids[first].tolist(),
            ordered_ts[first].tolist(),
            ordered_ts[last].tolist(),
            strict=True,
        ):
            if channel_id in found:
                continue
            if self.connection.execute(
                "SELECT 1 FROM readings WHERE channel_id = ? AND ts BETWEEN ? AND ? LIMIT 1",
                (channel_id, low, high),
            ).fetchone():
                found.add(channel_id)
        return sorted(found)

    def _rebuild_summaries(self, minutes: Iterable[tuple[int, int]]) -> None:
        """Sum the kept summaries of (channel id, minute start [ns UTC]) again from the
        raw rows; a minute left without readings loses its summary."""
        connection = self.connection
        for channel_id, start in minutes:
            connection.execute(
                "DELETE FROM rollups WHERE channel_id = ? AND kept = 1 AND start_ts = ?",
                (channel_id, start),
            )
            connection.execute(
                _SUMMARY_OF_READINGS + "WHERE channel_id = ? AND ts BETWEEN ? AND ? "
                "GROUP BY channel_id",
                (channel_id, start, start + SUMMARY_NS - 1),
            )

    def _straddled_summaries(self, cutoff: int) -> list[tuple[int, int]]:
        """Kept summaries of minutes that begin before ``cutoff`` [ns UTC] and end after."""
        rows = self.connection.execute(
            "SELECT channel_id, start_ts FROM rollups WHERE kept = 1 "
            "AND start_ts < ? AND start_ts + interval_ns > ?",
            (cutoff, cutoff),
        ).fetchall()
        return [(int(a), int(b)) for a, b in rows]

    def latest_ts(self, channels: ChannelTable) -> int | None:
        """The newest stored reading of any of ``channels`` [ns UTC], None when none.

        One indexed lookup per channel (the key is channel, then time), not a scan.
        """
        newest: int | None = None
        for channel in channels.channels:
            channel_id = self._known_channel_id(channel)
            if channel_id is None:
                continue
            row = self.connection.execute(
                "SELECT max(ts) FROM readings WHERE channel_id = ?", (channel_id,)
            ).fetchone()
            if row[0] is not None and (newest is None or int(row[0]) > newest):
                newest = int(row[0])
        return newest

    def read_since(self, channels: ChannelTable, since_ns: int) -> Readings:
        """Every stored reading of ``channels`` at or after ``since_ns`` [ns UTC], in time
        order, indexed into ``channels`` (what a restart replays through the evaluator).
        """
        parts: list[Readings] = []
        for number, channel in enumerate(channels.channels):
            window = self.read_window(channel, since_ns, np.iinfo(np.int64).max)
            if len(window.ts):
                parts.append(
                    Readings.from_columns(
                        window.ts,
                        np.full(len(window.ts), number, np.int32),
                        window.value,
                        window.quality,
                    )
                )
        if not parts:
            return Readings.empty()
        joined = Readings.concat(parts)
        return joined.take(np.argsort(joined.ts, kind="stable"))

    def begin_run(self, site: str, now_ns: int, channels: ChannelTable) -> Outage | None:
        """Note that the service of ``site`` starts at ``now_ns`` [ns UTC]; record and
        return the outage since its previous run (None on a first start).

        The previous run stopped cleanly when its row has ``stopped_ts``; otherwise it
        crashed, and the outage starts at the newest reading it stored.
        """
        connection = self.connection
        previous = connection.execute(
            "SELECT started_ts, stopped_ts FROM service_runs WHERE site = ? "
            "ORDER BY id DESC LIMIT 1",
            (site,),
        ).fetchone()
        outage: Outage | None = None
        if previous is not None:
            started, stopped = previous
            if stopped is not None:
                outage = Outage(int(stopped), now_ns, "stopped")
            else:
                newest = self.latest_ts(channels)
                start = int(started) if newest is None else max(newest, int(started))
                outage = Outage(min(start, now_ns), now_ns, "crash")
        connection.execute("BEGIN IMMEDIATE")
        try:
            if outage is not None:
                self._insert_outage(site, outage)
            connection.execute(
                "INSERT INTO service_runs (site, started_ts) VALUES (?, ?)", (site, now_ns)
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return outage

    def end_run(self, site: str, now_ns: int) -> None:
        """Note a clean stop of the service of ``site`` at ``now_ns`` [ns UTC]."""
        self.connection.execute(
            "UPDATE service_runs SET stopped_ts = ? WHERE id = "
            "(SELECT max(id) FROM service_runs WHERE site = ?)",
            (now_ns, site),
        )

    def record_outage(self, site: str, outage: Outage) -> None:
        """Store ``outage`` (an interval whose readings could not be kept)."""
        self._insert_outage(site, outage)

    def _insert_outage(self, site: str, outage: Outage) -> None:
        self.connection.execute(
            "INSERT INTO service_outages (site, start_ts, end_ts, cause, dropped) "
            "VALUES (?, ?, ?, ?, ?)",
            (site, outage.start_ts, outage.end_ts, outage.cause, outage.dropped),
        )

    def outages(self, site: str | None = None) -> list[Outage]:
        """The recorded outages (of ``site``, or every site), oldest first."""
        rows = self.connection.execute(
            "SELECT start_ts, end_ts, cause, dropped FROM service_outages "
            "WHERE ? IS NULL OR site = ? ORDER BY start_ts, id",
            (site, site),
        ).fetchall()
        return [Outage(int(a), int(b), str(c), int(d)) for a, b, c, d in rows]

    def record_dead_letters(self, site: str, device: str, letters: Sequence[DeadLetter]) -> None:
        """Keep messages of ``device`` that could not be read (one transaction)."""
        with self.connection:
            self.connection.executemany(
                "INSERT INTO dead_letters (site, device, source, received_ts, reason, payload) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (site, device, letter.source, letter.received_ns, letter.reason, letter.payload)
                    for letter in letters
                ],
            )

    def dead_letters(self, limit: int = 50) -> list[StoredDeadLetter]:
        """The newest ``limit`` dead letters, oldest of them first."""
        rows = self.connection.execute(
            "SELECT id, site, device, source, received_ts, reason, payload FROM dead_letters "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            StoredDeadLetter(int(a), str(b), str(c), str(d), int(e), str(f), bytes(g))
            for a, b, c, d, e, f, g in reversed(rows)
        ]

    def count(self) -> int:
        """Number of stored readings."""
        return int(self.connection.execute("SELECT count(*) FROM readings").fetchone()[0])

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        """Readings of ``channel`` with ``start_ns <= ts <= end_ns`` [ns UTC], in time order.

        Returns
        -------
        Window
            ts [ns UTC], value [canonical unit] (NaN where none), quality, level.
        """
        rows = self.connection.execute(WINDOW_SQL, (*channel.key, start_ns, end_ns)).fetchall()
        return window_of(rows)

    def _known_channel_id(self, channel: Channel) -> int | None:
        row = self.connection.execute(
            "SELECT id FROM channels "
            "WHERE site = ? AND device = ? AND name = ? AND quantity = ? AND substance = ?",
            channel.key,
        ).fetchone()
        return None if row is None else int(row[0])

    def aggregate(
        self,
        channel: Channel,
        start_ns: int,
        end_ns: int,
        interval_ns: int,
        *,
        summaries: bool = True,
    ) -> Aggregates:
        """Min, mean and max of ``channel`` per ``interval_ns`` [ns] in the window.

        Raw readings and rollups (see :meth:`downsample`) are combined, so the answer is
        the same before and after downsampling when ``interval_ns`` is a multiple of the
        rollup interval. When ``interval_ns`` is a whole number of minutes, the whole
        minutes of the window are read from their per-minute summaries and only the
        partial minutes at its edges from raw rows: the same answer as from the raw rows
        (min, max, count, quality, level exactly; the mean to rounding of the sum),
        from 1/60 of the rows at one reading a second. ``summaries=False`` reads raw
        rows only: the answer the summaries are held to (tests, benchmarks).
        """
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, got {interval_ns}")
        channel_id = self._known_channel_id(channel)
        end_ns = min(end_ns, _INT64_MAX - SUMMARY_NS)  # room for the edges' arithmetic
        full_start = full_end = end_ns + 1  # no whole minutes: every row raw
        if summaries and interval_ns % SUMMARY_NS == 0:
            first = start_ns - start_ns % SUMMARY_NS
            first += SUMMARY_NS if first < start_ns else 0
            after = (end_ns + 1) - (end_ns + 1) % SUMMARY_NS
            if first < after:
                full_start, full_end = first, after
        parameters = {
            "channel": -1 if channel_id is None else channel_id,
            "interval": interval_ns,
            "start": start_ns,
            "end": end_ns,
            "full_start": full_start,
            "full_end": full_end,
        }
        rows = self.connection.execute(_AGGREGATE, parameters).fetchall()
        starts = np.array([row[0] for row in rows], dtype=np.int64)
        columns = np.array([row[1:4] for row in rows], dtype=np.float64).reshape(-1, 3)
        quality = np.zeros(len(rows), np.uint16)
        flagged = self.connection.execute(_AGGREGATE_QUALITY, parameters).fetchall()
        if flagged:
            bucket, bits = np.array(flagged, dtype=np.int64).T
            np.bitwise_or.at(quality, np.searchsorted(starts, bucket), bits.astype(np.uint16))
        return Aggregates(
            start_ts=starts,
            minimum=columns[:, 0],
            mean=columns[:, 1],
            maximum=columns[:, 2],
            value_count=np.array([row[4] for row in rows], dtype=np.int64),
            quality=quality,
            level=np.array([row[5] for row in rows], dtype=np.uint8),
        )

    def list_channels(self) -> list[Channel]:
        """Every channel that has readings or rollups, ordered by site, device, quantity."""
        rows = self.connection.execute(
            "SELECT site, device, quantity, unit, substance, name FROM channels c "
            "WHERE EXISTS (SELECT 1 FROM readings r WHERE r.channel_id = c.id) "
            "OR EXISTS (SELECT 1 FROM rollups u WHERE u.channel_id = c.id) "
            "ORDER BY site, device, quantity, name, substance"
        ).fetchall()
        return [Channel(*row) for row in rows]

    def downsample(self, before_ns: int, interval_ns: int) -> int:
        """Replace readings older than ``before_ns`` [ns UTC] by rollups per ``interval_ns``.

        ``before_ns`` is rounded down to a multiple of ``interval_ns`` so that only whole
        intervals are rolled up. Rollups of the same interval merge (a late reading
        widens min and max and joins the mean). For a whole number of minutes the
        rollups are made from the per-minute summaries (1/60 of the rows at 1 Hz), which
        then go with their readings. One transaction: a crash leaves either the raw
        readings or their rollups. Returns the readings rolled up.
        """
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, got {interval_ns}")
        cutoff = before_ns - before_ns % interval_ns
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            insert = (
                "INSERT INTO rollups (channel_id, kept, start_ts, interval_ns, minimum, "
                "maximum, total, count, quality, level) "
            )
            if interval_ns % SUMMARY_NS == 0:
                connection.execute(
                    insert + "SELECT channel_id, 0, start_ts - start_ts % :interval, :interval, "
                    f"min(minimum), max(maximum), total(total), sum(count), {_QUALITY_OR}, "
                    "max(level) FROM rollups WHERE kept = 1 AND start_ts < :cutoff "
                    f"GROUP BY channel_id, start_ts - start_ts % :interval {_MERGE}",
                    {"interval": interval_ns, "cutoff": cutoff},
                )
            else:
                connection.execute(
                    insert + "SELECT channel_id, 0, ts - ts % :interval, :interval, min(value), "
                    f"max(value), total(value), count(value), {_QUALITY_OR}, max(level) "
                    "FROM readings WHERE ts < :cutoff "
                    f"GROUP BY channel_id, ts - ts % :interval {_MERGE}",
                    {"interval": interval_ns, "cutoff": cutoff},
                )
            rolled = connection.execute("DELETE FROM readings WHERE ts < ?", (cutoff,)).rowcount
            self._drop_summaries_before(cutoff)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return int(rolled)

    def _drop_summaries_before(self, cutoff: int) -> None:
        """After the readings before ``cutoff`` [ns UTC] went: drop their minutes' kept
        summaries, and sum a minute the cutoff splits again from what is left of it."""
        self.connection.execute(
            "DELETE FROM rollups WHERE kept = 1 AND start_ts + interval_ns <= ?", (cutoff,)
        )
        self._rebuild_summaries(self._straddled_summaries(cutoff))

    def delete_before(self, before_ns: int) -> int:
        """Retention: drop readings and rollups older than ``before_ns`` [ns UTC].

        Returns the raw readings dropped.
        """
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            dropped = connection.execute("DELETE FROM readings WHERE ts < ?", (before_ns,)).rowcount
            connection.execute(
                "DELETE FROM rollups WHERE kept = 0 AND start_ts + interval_ns <= ?", (before_ns,)
            )
            self._drop_summaries_before(before_ns)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return int(dropped)

    def apply_retention(
        self, now_ns: int, *, raw_for_ns: int, rollup_interval_ns: int, rollups_for_ns: int
    ) -> tuple[int, int]:
        """Downsample readings older than ``raw_for_ns`` [ns], drop what is older than
        ``rollups_for_ns`` [ns], both counted back from ``now_ns`` [ns UTC].

        Returns
        -------
        (readings rolled up, readings dropped)
        """
        if rollups_for_ns < raw_for_ns:
            raise ValueError(
                f"rollups_for_ns ({rollups_for_ns}) must be at least raw_for_ns ({raw_for_ns}): "
                "rollups outlive the readings they summarise"
            )
        rolled = self.downsample(now_ns - raw_for_ns, rollup_interval_ns)
        dropped = self.delete_before(now_ns - rollups_for_ns)
        return rolled, dropped
