"""Full evaluation throughput against a pandas implementation and the memory floor.

Run: ``.venv/bin/python benchmarks/bench_analysis.py [--readings N] [--channels C]``
(default 10,000,000 readings over 1,000 channels). In the same run and on the same
arrays it times:

* ``hazmon.analysis.evaluate``: holds with a maximum gap, minute bins, shift TWA by
  day, STEL (15-minute windows), moving 8-hour TWA, L_EX,8h, excursions, levels and
  events with dose, and verdicts for every channel;
* a straightforward pandas version of the same metrics (sort, groupby diff for the
  holds, groupby-rolling ``15min`` and ``8h`` means, groupby-day sums);
* one ``numpy.sum`` pass over the same columns: the memory-bandwidth floor.

It prints readings per second of each, the ratios, and the memory of the streaming
evaluator's state per channel after the same readings are fed in 100 chunks.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from hazmon.analysis.evaluate import ChannelPlan, StreamingEvaluator, evaluate
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import effective_limit_rows, rules_by_quantity

S = 1_000_000_000
T0 = 1_772_380_800 * S  # 2026-03-02 00:00 CST
QUANTITIES = {
    # A workplace level below the set points (CO A1 is 17.2 ppm): noise around 15 ppm
    # would make tens of thousands of A1 events and time event bookkeeping, not evaluation.
    "co": ("ppm", 5.0),
    "h2s": ("ppm", 3.0),
    "lel": ("%LEL", 5.0),
    "o2": ("%vol", 20.9),
    "noise": ("dB(A)", 85.0),
    "dust_total": ("mg/m³", 6.0),
}


def make_data(readings: int, channels: int, seed: int = 1) -> tuple[Readings, ChannelTable]:
    """Round-robin readings, one per channel per second, with noise and a few NaN."""
    names = list(QUANTITIES)
    table = ChannelTable(
        [
            Channel(
                "bench",
                f"dev-{number // len(names)}",
                names[number % len(names)],
                QUANTITIES[names[number % len(names)]][0],
            )
            for number in range(channels)
        ]
    )
    rng = np.random.default_rng(seed)
    per_channel = readings // channels
    channel = np.tile(np.arange(channels, dtype=np.int32), per_channel)
    ts = T0 + np.repeat(np.arange(per_channel, dtype=np.int64), channels) * S
    base = np.array([QUANTITIES[names[n % len(names)]][1] for n in range(channels)])
    spread = np.array(
        [
            {"o2": 0.1, "noise": 3.0}.get(names[n % len(names)], 0.2 * base[n])
            for n in range(channels)
        ]
    )
    value = base[channel] + rng.normal(0.0, 1.0, len(channel)) * spread[channel]
    value[rng.random(len(channel)) < 0.001] = np.nan
    # Two leaks per channel, 90 s each, well past every set point: events to extract.
    for start in (per_channel // 3, 2 * per_channel // 3):
        rows = np.arange(start, min(start + 90, per_channel)) * channels
        leak = rows[:, None] + np.arange(channels)[None, :]
        value[leak.ravel()] = np.where(
            np.array([names[n % len(names)] == "o2" for n in range(channels)]), 15.0, 400.0
        )[channel[leak.ravel()]]
    return Readings.from_columns(ts, channel, value), table


def pandas_metrics(readings: Readings, table: ChannelTable) -> pd.DataFrame:
    """The same metrics written the straightforward pandas way."""
    frame = pd.DataFrame(
        {
            "time": pd.to_datetime(readings.ts, utc=True),
            "channel": readings.channel,
            "value": readings.value,
        }
    ).sort_values(["channel", "time"], kind="stable")
    groups = frame.groupby("channel", sort=True)
    following = groups["time"].shift(-1)
    preceding = groups["time"].shift(1)
    hold = (following - frame["time"]).dt.total_seconds()
    hold = hold.fillna((frame["time"] - preceding).dt.total_seconds()).clip(upper=300.0)
    noise = np.isin(
        frame["channel"].to_numpy(),
        [n for n, c in enumerate(table.channels) if c.quantity == "noise"],
    )
    clamped = frame["value"].clip(lower=0.0)
    frame["integrand"] = np.where(noise, 10.0 ** (0.1 * frame["value"]), clamped)
    frame["dose"] = frame["integrand"] * hold
    frame["day"] = (frame["time"] + pd.Timedelta(hours=8)).dt.floor("D")
    rolled = frame.set_index("time").groupby("channel")["integrand"]
    stel = rolled.rolling("15min").mean().groupby(level=0).max()
    moving = rolled.rolling("8h").mean().groupby(level=0).max()
    daily = frame.groupby(["channel", "day"])["dose"].sum().groupby(level=0).max() / 28800.0
    summary = groups["value"].agg(["max", "min", "mean", "count"])
    summary["stel_max"] = stel
    summary["twa_8h_moving_max"] = moving
    summary["daily"] = daily
    summary["lex_8h"] = 10.0 * np.log10(
        daily.where(
            summary.index.isin(np.flatnonzero([c.quantity == "noise" for c in table.channels]))
        )
    )
    return summary


def numpy_floor(readings: Readings) -> float:
    """One pass of ``numpy.sum`` over every column."""
    return float(
        np.sum(readings.ts)
        + np.sum(readings.channel)
        + np.nansum(readings.value)
        + np.sum(readings.quality)
    )


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--channels", type=int, default=1_000)
    parser.add_argument("--chunks", type=int, default=100, help="chunks for the streaming run")
    args = parser.parse_args()
    readings, table = make_data(args.readings, args.channels)
    count = len(readings)
    plan = ChannelPlan.build(table, effective_limit_rows(), rules_by_quantity(("gbt50493-2019",)))

    # Warm both paths up on a small slice (imports, caches), then time each once.
    warm = readings.take(np.arange(min(count, 20_000)))
    evaluate(warm, plan)
    pandas_metrics(warm, table)
    ours = timed(lambda: evaluate(readings, plan))
    floor = min(timed(lambda: numpy_floor(readings)) for _ in range(3))
    baseline = timed(lambda: pandas_metrics(readings, table))

    streaming = StreamingEvaluator(plan)
    bounds = np.linspace(0, count, args.chunks + 1).astype(np.int64)
    stream_time = 0.0
    for begin, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        chunk = readings.take(np.arange(begin, end))
        start = time.perf_counter()
        streaming.update(chunk)
        stream_time += time.perf_counter() - start
    state = streaming.state_bytes_per_channel()
    stream_time += timed(streaming.finish)

    print(
        f"readings: {count:,} on {args.channels:,} channels "
        f"({count // args.channels:,} a channel, one a second)"
    )
    print(f"hazmon evaluate (batch):     {count / ours:>14,.0f} readings/s  ({ours:.2f} s)")
    print(
        f"hazmon streaming ({args.chunks} chunks): {count / stream_time:>14,.0f} readings/s  "
        f"({stream_time:.2f} s)"
    )
    print(f"pandas groupby-rolling:      {count / baseline:>14,.0f} readings/s  ({baseline:.2f} s)")
    print(f"numpy.sum floor:             {count / floor:>14,.0f} readings/s  ({floor:.3f} s)")
    print(f"ratio to pandas:             {baseline / ours:.1f}x (target ≥ 10x)")
    print(f"share of the numpy.sum floor: {floor / ours:.4f} ({ours / floor:.0f}x slower)")
    minutes = count // args.channels // 60
    print(
        f"streaming state per channel: {state / 1024:.1f} KiB after {minutes} minutes of data "
        f"(bounded: at most 480 minute bins of 48 bytes, {480 * 48 / 1024:.1f} KiB, plus the "
        "carried reading, one open bin and ~0.4 KiB of running figures)"
    )


if __name__ == "__main__":
    main()
