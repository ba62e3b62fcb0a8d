"""The embedded SQLite store: sustained writes and a one-hour channel read.

Run: ``.venv/bin/python benchmarks/bench_store_sqlite.py``. Baselines in the same run:

- writes: the batch API (one transaction and one ``executemany`` per batch) against
  committing each reading on its own, the way a naive per-reading store call would;
- the cost of the per-minute summaries the store keeps at write time: the store's
  write against the bare ``INSERT`` of the same batches into a readings table of the
  same schema with the same pragmas (what a write was before the summaries);
- the one-hour read: the ``WITHOUT ROWID`` table keyed by (channel, time) against the
  same rows in a plain rowid table without that key (the query scans the table).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

CHANNELS = 50
RATE_HZ = 10  # readings per channel per second
HOURS = 1
BATCH = 10_000  # readings per write: 20 s of the whole site
T0 = 1_700_000_000_000_000_000  # [ns UTC]
STEP_NS = 1_000_000_000 // RATE_HZ
NAIVE_READINGS = 10_000  # of the first batch


def site() -> ChannelTable:
    quantities = ("lel", "o2", "co", "h2s", "noise")
    return ChannelTable(
        [
            Channel("bench", f"meter-{number // 5}", quantities[number % 5], "u")
            for number in range(CHANNELS)
        ]
    )


def batch(number: int, rng: np.random.Generator) -> tuple[Readings, np.ndarray]:
    row = number * BATCH + np.arange(BATCH)
    readings = Readings.from_columns(
        T0 + (row // CHANNELS) * STEP_NS, row % CHANNELS, rng.normal(20, 3, BATCH)
    )
    return readings, (row % 3).astype(np.uint8)


class BareInsert:
    """The bare INSERT of a batch (one transaction), no summaries: a write before them."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute(
            "CREATE TABLE readings (channel_id INTEGER NOT NULL, ts INTEGER NOT NULL, "
            "value REAL, quality INTEGER NOT NULL, level INTEGER NOT NULL, "
            "PRIMARY KEY (channel_id, ts)) WITHOUT ROWID"
        )
        self.ids = np.arange(1, CHANNELS + 1, dtype=np.int64)

    def write(self, readings: Readings, level: np.ndarray) -> None:
        value = readings.value.astype(object)
        value[np.isnan(readings.value)] = None
        rows = zip(
            self.ids[readings.channel].tolist(),
            readings.ts.tolist(),
            value.tolist(),
            readings.quality.tolist(),
            level.tolist(),
            strict=True,
        )
        self.connection.execute("BEGIN")
        self.connection.executemany(
            "INSERT OR REPLACE INTO readings (channel_id, ts, value, quality, level) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        self.connection.execute("COMMIT")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hazmon-bench-") as name:
        run(Path(name))


def run(folder: Path) -> None:
    table = site()
    rng = np.random.default_rng(1)
    total = CHANNELS * RATE_HZ * 3600 * HOURS
    batches = [batch(number, rng) for number in range(total // BATCH)]

    bare = BareInsert(folder / "bare.db")
    with SqliteTimeSeries(folder / "store.db") as store:
        # Batch by batch in turn, so a busy moment of the machine slows both alike.
        batched = bare_time = 0.0
        for readings, level in batches:
            start = time.perf_counter()
            store.write(readings, level, table)
            batched += time.perf_counter() - start
            start = time.perf_counter()
            bare.write(readings, level)
            bare_time += time.perf_counter() - start
        bare.connection.close()
        assert store.count() == total

        channel = table[7]
        hour = (T0, T0 + 3600 * 1_000_000_000 - 1)
        store.read_window(channel, *hour)  # warm the page cache as the baseline gets
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            window = store.read_window(channel, *hour)
            timings.append(time.perf_counter() - start)
        keyed_read = min(timings)
        assert len(window.ts) == RATE_HZ * 3600

        # Baseline for the read: the same rows in a rowid table without the key.
        plain = sqlite3.connect(folder / "store.db")
        plain.execute(
            "CREATE TABLE plain AS SELECT channel_id, ts, value, quality, level FROM readings"
        )
        channel_id = store.channel_id(channel)
        query = "SELECT ts, value, quality, level FROM plain WHERE channel_id = ? AND ts BETWEEN ? AND ? ORDER BY ts"  # noqa: E501
        plain.execute(query, (channel_id, *hour)).fetchall()
        start = time.perf_counter()
        rows = plain.execute(query, (channel_id, *hour)).fetchall()
        plain_read = time.perf_counter() - start
        assert len(rows) == RATE_HZ * 3600
        plain.close()

    # Baseline for writes: the same store, one transaction per reading.
    with SqliteTimeSeries(folder / "naive.db") as naive:
        readings, level = batches[0]
        start = time.perf_counter()
        for row in range(NAIVE_READINGS):
            naive.write(readings.take(np.array([row])), level[row : row + 1], table)
        naive_rate = NAIVE_READINGS / (time.perf_counter() - start)

    raw_rate = total / bare_time
    rate = total / batched
    print(f"SQLite store: {CHANNELS} channels × {RATE_HZ} Hz × {HOURS} h")
    print(f"sustained writes, {BATCH:,}-reading batches: {rate:,.0f} readings/s ({total:,})")
    print(f"baseline, the bare INSERT (no summaries):  {raw_rate:,.0f} readings/s")
    print(f"ratio (store with summaries / bare INSERT): {rate / raw_rate:.2f}")
    print(f"baseline, one transaction per reading:     {naive_rate:,.0f} readings/s")
    print(f"ratio (batched / per reading):             {rate / naive_rate:.1f}x")
    print(f"one-hour read of one channel ({len(window.ts):,} readings): {keyed_read * 1e3:.1f} ms")
    print(f"baseline, rowid table without the (channel, ts) key: {plain_read * 1e3:.1f} ms")
    print(f"ratio (keyed / plain):                     {plain_read / keyed_read:.1f}x")


if __name__ == "__main__":
    main()
