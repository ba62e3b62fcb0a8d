"""Restart cost: replaying the store's last 8 h through the evaluator before the first poll.

Run: ``.venv/bin/python benchmarks/bench_restart_replay.py [--channels 50]
[--interval 1.0] [--hours 8]``. Fills a SQLite store with ``--channels`` gas channels
read every ``--interval`` seconds for ``--hours`` (a leak on one of them), then times
what ``hazmon run`` does at start: :meth:`SqliteTimeSeries.read_since` and
:meth:`Pipeline.resume`. The baseline, measured in the same run, is the live path's own
cost for the same readings: :meth:`Pipeline.process` fed in one-poll batches of every
channel (the replay is one batch). Prints the seconds and the ratio replay / live.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import EventRecord, HazardContext
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SECOND = 1_000_000_000


class Filed:
    """An event recorder that keeps the records (the register is not what is timed)."""

    def __init__(self) -> None:
        self.records: list[EventRecord] = []

    def record(self, record: EventRecord) -> None:
        self.records.append(record)


def _pipeline(channels: ChannelTable, store: SqliteTimeSeries) -> tuple[Pipeline, Filed]:
    filed = Filed()
    pipeline = Pipeline(
        channels,
        rules_by_quantity(("gbt50493-2019",)),
        store,
        filed,
        {"gd": HazardContext("E", "x")},
        lambda _alert: None,
    )
    return pipeline, filed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args()
    channels = ChannelTable(
        [Channel("s", "gd", "lel", "%LEL", "methane", name=f"lel{n}") for n in range(args.channels)]
    )
    polls = int(args.hours * 3600 / args.interval)
    step = round(args.interval * SECOND)
    start = time.time_ns() - polls * step
    rng = np.random.default_rng(1)
    with (
        tempfile.TemporaryDirectory() as folder,
        SqliteTimeSeries(Path(folder) / "kit.db") as store,
    ):
        live, _ = _pipeline(channels, store)
        # The baseline: the live path, one batch per poll of every channel.
        per_poll = np.arange(args.channels, dtype=np.int32)
        began = time.perf_counter()
        for poll in range(polls):
            value = rng.normal(2.0, 0.3, args.channels)
            if polls // 2 <= poll < polls // 2 + 60:
                value[0] = 60.0  # one minute of leak on the first channel
            live.process(
                Readings.from_columns(np.full(args.channels, start + poll * step), per_poll, value)
            )
        live_s = time.perf_counter() - began
        live.close()
        stored = store.count()

        resumed, filed = _pipeline(channels, store)
        began = time.perf_counter()
        history = store.read_since(channels, start)
        read_s = time.perf_counter() - began
        resumed.resume(history)
        replay_s = time.perf_counter() - began
    print(
        f"{stored} readings ({args.channels} channels × {polls} polls, {args.hours} h): "
        f"read {read_s:.2f} s + evaluate {replay_s - read_s:.2f} s = replay {replay_s:.2f} s; "
        f"the live path for the same readings {live_s:.2f} s; "
        f"ratio replay / live {replay_s / live_s:.3f}; events filed by the replay "
        f"{len(filed.records)}"
    )


if __name__ == "__main__":
    main()
