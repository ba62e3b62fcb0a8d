"""Central workers: readings/s broker → workers → store with 1, 2 and 3 workers.

A 3-node NATS cluster of its own (loopback, JetStream R3), a backlog of
``hazmon.readings/1`` messages published into it first (so publishers do not compete
for the 2 cores), then:

- the limit: one plain pull consumer draining the stream (no decoding), readings/s;
- ``hazmon central run`` × N (N = 1, 2, 3) draining the same backlog from the start
  (consumers and leases reset, a fresh SQLite store), timed from the first batch
  judged to the last (ownership logs), with each worker's CPU (user + system) from
  /proc.

Prints each rate as a ratio to the limit, and CPU seconds per 1,000 readings.
Run: ``.venv/bin/python benchmarks/bench_central.py [--channels 64 --messages 40 --readings 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import numpy as np
from nats.js.api import AckPolicy, ConsumerConfig

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' cluster helper, as mypy sees it

from central.cluster import PARTITIONS, NatsCluster  # noqa: E402
from hazmon.acquisition.central.partitions import LEASE_BUCKET, STREAM, consumer_name  # noqa: E402
from hazmon.acquisition.central.worker import ensure_streams  # noqa: E402
from hazmon.acquisition.publish import encode_readings  # noqa: E402
from hazmon.analysis.readings import Channel  # noqa: E402

T0 = 1_790_000_000_000_000_000


async def preload(urls: list[str], channels: int, messages: int, readings: int) -> None:
    nc = await nats.connect(urls)
    js = nc.jetstream(timeout=30)
    await ensure_streams(js, 3, 6.0)
    for number in range(messages):
        acks = []
        for c in range(channels):
            channel = Channel(site=f"kit-{c % 16}", device=f"gd-{c}", quantity="lel", unit="%LEL")
            first = number * readings
            payload = encode_readings(
                channel,
                T0 + (first + np.arange(readings, dtype=np.int64)) * 1_000_000_000,
                np.full(readings, 5.0),
                np.zeros(readings, dtype=np.uint16),
                np.zeros(readings, dtype=np.uint8),
                boot=1,
                seq=number + 1,
            )
            acks.append(js.publish(f"hazmon.{channel.site}.{channel.device}.lel", payload))
        await asyncio.gather(*acks)
    await nc.close()


async def limit(urls: list[str], total_messages: int, readings: int) -> float:
    """Readings/s of a plain pull consumer draining the stream."""
    nc = await nats.connect(urls)
    js = nc.jetstream(timeout=30)
    subscription = await js.pull_subscribe(
        "hzp.>", stream=STREAM, config=ConsumerConfig(ack_policy=AckPolicy.ALL)
    )
    seen = 0
    start = time.perf_counter()
    while seen < total_messages:
        # Never ask for more than is left: a fetch short of its batch waits its timeout.
        batch = await subscription.fetch(min(500, total_messages - seen), timeout=10)
        seen += len(batch)
        await batch[-1].ack()
    elapsed = time.perf_counter() - start
    await nc.close()
    return seen * readings / elapsed


async def reset(urls: list[str]) -> None:
    """Delete the partition consumers and the leases: the next workers start over."""
    nc = await nats.connect(urls)
    js = nc.jetstream(timeout=30)
    for partition in range(PARTITIONS):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(STREAM, consumer_name(partition))
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_key_value(LEASE_BUCKET)
    await nc.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_workers(
    urls: list[str], directory: Path, workers: int, expected: int, register: str
) -> tuple[float, float]:
    """(readings/s, CPU s per 1,000 readings) of ``workers`` processes."""
    database = directory / f"central-{workers}.db"
    processes = []
    for n in range(workers):
        name = f"b{workers}-{n}"
        processes.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "hazmon"),
                    "central",
                    "run",
                    "--nats",
                    ",".join(urls),
                    "--worker",
                    name,
                    "--db",
                    str(database),
                    "--register-url",
                    register,
                    "--lease-ttl",
                    "6",
                    "--ownership-log",
                    str(directory / f"{name}.jsonl"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(directory / f"{name}.log").open("wb"),
            )
        )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if database.exists():
            with sqlite3.connect(database, timeout=30) as connection:
                count = connection.execute("SELECT count(*) FROM readings").fetchone()[0]
            if count >= expected:
                break
        time.sleep(0.2)
    cpu = sum(cpu_seconds(p.pid) for p in processes)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)
    stamps = []
    for n in range(workers):
        for line in (directory / f"b{workers}-{n}.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry["what"] in ("judge", "judged"):
                stamps.append(entry["ts"])
    elapsed = (max(stamps) - min(stamps)) / 1e9
    return expected / elapsed, cpu / expected * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--messages", type=int, default=100, help="per channel")
    parser.add_argument("--readings", type=int, default=100, help="per message")
    args = parser.parse_args()
    register_directory = Path(tempfile.mkdtemp())
    register = os.environ.get("HAZMON_BENCH_PG_URL") or f"sqlite:///{register_directory}/r.db"
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        cluster = NatsCluster(directory)
        try:
            for index in range(3):
                cluster.start(index)
            for index in range(3):
                cluster.wait_ready(index)
            urls = cluster.urls
            total = args.channels * args.messages
            expected = total * args.readings
            asyncio.run(preload(urls, args.channels, args.messages, args.readings))
            broker = asyncio.run(limit(urls, total, args.readings))
            print(f"{args.channels} channels × {args.messages} messages × {args.readings} readings")
            print(f"limit (plain pull consumer): {broker:,.0f} readings/s")
            for workers in (1, 2, 3):
                asyncio.run(reset(urls))
                rate, cpu = run_workers(urls, directory, workers, expected, register)
                print(
                    f"{workers} worker(s): {rate:,.0f} readings/s ({rate / broker:.3f} of the "
                    f"limit), {cpu:.4f} CPU s per 1,000 readings"
                )
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
