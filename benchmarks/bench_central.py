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

Then the kit's end-to-end confirmation (``--kit-messages``, 0 to skip): the kit's own
:class:`~hazmon.acquisition.publish.ReadingPublisher` publishes a spooled backlog over
MQTT to node 0 while one worker stores it, once with the PUBACK alone (timed until the
store holds every reading) and once waiting for the centre's confirmation (timed until
the spool is empty, which implies stored); the ratio of the two rates is the cost.
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
from central.kit import start_worker  # noqa: E402
from hazmon.acquisition.central.partitions import LEASE_BUCKET, STREAM, consumer_name  # noqa: E402
from hazmon.acquisition.central.worker import ensure_streams  # noqa: E402
from hazmon.acquisition.publish import (  # noqa: E402
    MessageSpool,
    ReadingPublisher,
    encode_readings,
)
from hazmon.analysis.readings import Channel, ChannelTable, Readings  # noqa: E402
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings  # noqa: E402

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


def stored(database: Path, site_prefix: str = "") -> int:
    """Readings in the store (of the sites starting with ``site_prefix``)."""
    if not database.exists():
        return 0
    with (
        sqlite3.connect(database, timeout=30) as connection,
        contextlib.suppress(sqlite3.OperationalError),  # no tables yet
    ):
        count: int = connection.execute(
            "SELECT count(*) FROM readings r JOIN channels c ON c.id = r.channel_id "
            "WHERE c.site LIKE ?",
            (site_prefix + "%",),
        ).fetchone()[0]
        return count
    return 0


def wait_stored(database: Path, expected: int, site_prefix: str = "") -> None:
    deadline = time.monotonic() + 600
    while stored(database, site_prefix) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"{database}: not {expected} readings within 600 s")
        time.sleep(0.05)


def run_workers(
    urls: list[str], directory: Path, workers: int, expected: int, register: str
) -> tuple[float, float]:
    """(readings/s, CPU s per 1,000 readings) of ``workers`` processes."""
    database = directory / f"central-{workers}.db"
    processes = [
        start_worker(
            directory, f"b{workers}-{n}", urls, register, database=database, lease_ttl=6.0
        )[0]
        for n in range(workers)
    ]
    wait_stored(database, expected)
    cpu = sum(cpu_seconds(p.pid) for p in processes)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)
    stamps = []
    for n in range(workers):
        for line in (directory / f"b{workers}-{n}.ownership.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry["what"] in ("judge", "judged"):
                stamps.append(entry["ts"])
    elapsed = (max(stamps) - min(stamps)) / 1e9
    return expected / elapsed, cpu / expected * 1000


async def kit_publish(
    port: int, spool: Path, database: Path, site: str, confirm: bool, args: argparse.Namespace
) -> tuple[float, int]:
    """(readings/s, messages sent again) of the kit's publisher draining a spooled
    backlog of ``args.channels`` × ``args.kit_messages`` messages to node 0, until the
    store holds every reading (with ``confirm``: until every message is confirmed)."""
    channels = [
        Channel(site=site, device=f"gd-{c}", quantity="lel", unit="%LEL")
        for c in range(args.channels)
    ]
    table = ChannelTable(channels)
    connection = MqttConnection(
        MqttSettings(host="127.0.0.1", port=port, client_id=site, protocol="3.1.1")
    )
    await connection.connect(timeout=30)
    listening = None
    with MessageSpool(spool) as messages:
        publisher = ReadingPublisher(
            connection, messages, table, confirm=confirm, confirm_timeout=120.0
        )

        async def listen() -> None:
            async for message in connection.messages():
                publisher.confirmed(message.topic, message.payload)

        if confirm:
            listening = asyncio.create_task(listen())
        number = np.repeat(np.arange(args.channels, dtype=np.int32), args.readings)
        for round_ in range(args.kit_messages):
            first = round_ * args.readings
            seconds = np.tile(first + np.arange(args.readings, dtype=np.int64), args.channels)
            ts = T0 + seconds * 1_000_000_000
            publisher.add(
                Readings.from_columns(ts, number, np.full(len(ts), 5.0)),
                np.zeros(len(ts), dtype=np.uint8),
            )
            publisher.spool_pending()
        expected = args.channels * args.kit_messages * args.readings
        start = time.perf_counter()
        if not await publisher.flush(600.0):
            raise SystemExit(f"{site}: the spool did not empty within 600 s")
        await asyncio.get_running_loop().run_in_executor(
            None, wait_stored, database, expected, site
        )
        elapsed = time.perf_counter() - start
        if listening is not None:
            listening.cancel()
    await connection.close()
    return expected / elapsed, publisher.resent_messages


def kit_rates(
    cluster: NatsCluster, directory: Path, register: str, args: argparse.Namespace
) -> None:
    """The kit's publisher with the PUBACK alone and with confirmation, one worker."""
    asyncio.run(reset(cluster.urls))
    database = directory / "central-kit.db"
    worker, _ = start_worker(
        directory, "kit-worker", cluster.urls, register, database=database, lease_ttl=6.0
    )
    try:
        ownership = directory / "kit-worker.ownership.jsonl"
        deadline = time.monotonic() + 120
        # Timed from when it holds every partition: its start is not the kit's cost.
        while not ownership.exists() or ownership.read_text().count('"take"') < PARTITIONS:
            if time.monotonic() > deadline:
                raise SystemExit("the worker took no partitions within 120 s")
            time.sleep(0.05)
        rates: dict[str, float] = {}
        for confirm in (False, True, False, True):  # alternated: the machine's load drifts
            site = f"bench-{'confirm' if confirm else 'puback'}-{len(rates)}"
            rate, resent = asyncio.run(
                kit_publish(
                    cluster.nodes[0].mqtt, directory / f"{site}.db", database, site, confirm, args
                )
            )
            rates[site] = rate
            print(
                f"kit publisher, {'confirmation' if confirm else 'PUBACK only'}: "
                f"{rate:,.0f} readings/s ({rate / args.readings:,.0f} messages/s), "
                f"{resent} sent again"
            )
        puback = [rate for site, rate in rates.items() if "puback" in site]
        confirmed = [rate for site, rate in rates.items() if "confirm" in site]
        print(
            f"confirmation / PUBACK only: {sum(confirmed) / sum(puback):.2f} "
            f"(mean of {len(puback)} runs each)"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--messages", type=int, default=100, help="per channel")
    parser.add_argument("--readings", type=int, default=100, help="per message")
    parser.add_argument(
        "--kit-messages", type=int, default=50, help="per channel, by the kit (0: skip)"
    )
    parser.add_argument("--skip-workers", action="store_true", help="only the kit part")
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
            for workers in () if args.skip_workers else (1, 2, 3):
                asyncio.run(reset(urls))
                rate, cpu = run_workers(urls, directory, workers, expected, register)
                print(
                    f"{workers} worker(s): {rate:,.0f} readings/s ({rate / broker:.3f} of the "
                    f"limit), {cpu:.4f} CPU s per 1,000 readings"
                )
            if args.kit_messages:
                print(
                    f"kit: {args.channels} channels × {args.kit_messages} messages × "
                    f"{args.readings} readings, 1 worker"
                )
                kit_rates(cluster, directory, register, args)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
