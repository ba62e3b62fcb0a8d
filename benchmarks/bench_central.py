"""Central workers: readings/s broker → workers → store with 1, 2 and 3 workers.

A 3-node NATS cluster of its own (loopback, JetStream R3), a backlog of
``hazmon.readings/1`` messages published into it first (so publishers do not compete
for the 2 cores), then:

- the limit: one plain pull consumer draining the stream (no decoding), readings/s;
- ``hazmon central run`` × N (N = 1, 2, 3) draining the same backlog from the start
  (consumers and leases reset, a fresh SQLite store), timed from the first batch
  judged to the last (ownership logs), with each worker's CPU (user + system) from
  /proc.

Prints each rate as a ratio to the limit (also the rate after the last takeover, once
every worker is in place), CPU seconds per 1,000 readings of the workers (counted from
each one's first ownership line: its imports and connecting are reported apart) and of
the three servers, the cores busy, and from the workers' status files the messages
judged (more than the backlog: redelivered after a handover), replayed and taken over.
``--separate-stores`` gives each worker its own SQLite file (no shared writer);
``--profile DIR`` runs each worker under cProfile (``DIR/b<N>-<n>.prof``).
Then the kit's end-to-end confirmation (``--kit-messages``, 0 to skip): the kit's own
:class:`~hazmon.acquisition.publish.ReadingPublisher` publishes a spooled backlog over
MQTT to node 0 while one worker stores it, once with the PUBACK alone (timed until the
store holds every reading) and once waiting for the centre's confirmation (timed until
the spool is empty, which implies stored); the ratio of the two rates is the cost.
Run: ``.venv/bin/python benchmarks/bench_central.py [--channels 64 --messages 100 --readings 100]``.
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
from dataclasses import dataclass
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


@dataclass
class Drain:
    """What N workers did with the backlog."""

    rate: float
    """Readings/s from the first batch judged to the last."""
    steady: float | None
    """Readings/s after the last partition was taken (all workers in place); None when
    that came after half the backlog."""
    worker_cpu: float
    """Workers' CPU per 1,000 readings [s], from each one's first ownership line (after
    its imports and connecting) to the end."""
    start_cpu: float
    """One worker's CPU before its first ownership line [s] (imports, connect), mean."""
    server_cpu: float
    """The three servers' CPU per 1,000 readings [s] over the same span."""
    cores: float
    """Workers' and servers' CPU over the same span's wall time: the cores in use (of 2)."""
    judged: int
    """Messages judged by all workers (more than the backlog: redelivered after a handover)."""
    replayed: int
    """Messages replayed to restore evaluators on takeovers."""
    takeovers: int


def run_workers(
    urls: list[str],
    directory: Path,
    workers: int,
    expected: int,
    register: str,
    servers: list[int],
    profile: Path | None = None,
    separate: bool = False,
) -> Drain:
    """Drain the backlog with ``workers`` processes (each under cProfile, its stats in
    ``profile``, if given; each with its own SQLite file if ``separate``)."""
    databases = [
        directory / f"central-{workers}{f'-{n}' if separate else ''}.db" for n in range(workers)
    ]
    processes = []
    logs = [directory / f"b{workers}-{n}.jsonl" for n in range(workers)]
    for n in range(workers):
        name = f"b{workers}-{n}"
        command = [str(Path(sys.executable).parent / "hazmon")]
        if profile is not None:
            command = [sys.executable, "-m", "cProfile", "-o", str(profile / f"{name}.prof")]
            command += ["-m", "hazmon.acquisition.cli"]
        processes.append(
            subprocess.Popen(
                [
                    *command,
                    "central",
                    "run",
                    "--nats",
                    ",".join(urls),
                    "--worker",
                    name,
                    "--db",
                    str(databases[n]),
                    "--register-url",
                    register,
                    "--lease-ttl",
                    "6",
                    "--ownership-log",
                    str(logs[n]),
                    "--status-file",
                    str(directory / f"{name}.json"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(directory / f"{name}.log").open("wb"),
            )
        )
    ready: dict[int, float] = {}
    server0 = 0.0
    ready_ns = time.time_ns()
    samples: list[tuple[int, int]] = []  # (wall time [ns], readings stored)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for n, process in enumerate(processes):
            if n not in ready and logs[n].exists() and logs[n].stat().st_size:
                ready[n] = cpu_seconds(process.pid)
                if len(ready) == 1:
                    server0 = sum(cpu_seconds(pid) for pid in servers)
                    ready_ns = time.time_ns()
        count = 0
        for database in set(databases):
            if database.exists():
                # The file appears before its schema: "no such table" means not yet.
                with (
                    contextlib.suppress(sqlite3.OperationalError),
                    sqlite3.connect(database, timeout=30) as connection,
                ):
                    count += connection.execute("SELECT count(*) FROM readings").fetchone()[0]
        samples.append((time.time_ns(), count))
        if count >= expected:
            break
        time.sleep(0.05)
    cpu = sum(cpu_seconds(p.pid) - ready.get(n, 0.0) for n, p in enumerate(processes))
    server = sum(cpu_seconds(pid) for pid in servers) - server0
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for n, process in enumerate(processes):
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # Worth seeing (a worker must stop on SIGTERM), not worth losing the run over.
            print(f"  b{workers}-{n} did not stop within 60 s of SIGTERM: killed")
            process.kill()
            process.wait(timeout=10)
    stamps, takes = [], []
    for log in logs:
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry["what"] in ("judge", "judged"):
                stamps.append(entry["ts"])
            elif entry["what"] == "take":
                takes.append(entry["ts"])
    elapsed = (max(stamps) - min(stamps)) / 1e9
    after = [(t, c) for t, c in samples if t >= max(takes)]
    steady = None
    if after and after[0][1] < expected / 2:
        steady = (after[-1][1] - after[0][1]) / ((after[-1][0] - after[0][0]) / 1e9)
    start_cpu = sum(ready.values()) / max(1, len(ready))
    status = [json.loads((directory / f"b{workers}-{n}.json").read_text()) for n in range(workers)]
    return Drain(
        expected / elapsed,
        steady,
        cpu / expected * 1000,
        start_cpu,
        server / expected * 1000,
        (cpu + server) / ((samples[-1][0] - ready_ns) / 1e9),
        sum(entry["messages"] for entry in status),
        sum(entry["replayed"] for entry in status),
        sum(entry["takeovers"] for entry in status),
    )


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
        "--profile", type=Path, help="run each worker under cProfile, its stats in this folder"
    )
    parser.add_argument(
        "--separate-stores",
        action="store_true",
        help="each worker its own SQLite file (no shared writer lock)",
    )
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
                servers = [process.pid for process in cluster.processes.values()]
                drain = run_workers(
                    urls,
                    directory,
                    workers,
                    expected,
                    register,
                    servers,
                    args.profile,
                    args.separate_stores,
                )
                steady = "n/a" if drain.steady is None else f"{drain.steady / broker:.3f}"
                print(
                    f"{workers} worker(s): {drain.rate:,.0f} readings/s ({drain.rate / broker:.3f}"
                    f" of the limit; after the last takeover {steady}), CPU s per 1,000 "
                    f"readings: workers {drain.worker_cpu:.4f}, servers {drain.server_cpu:.4f};"
                    f" {drain.cores:.2f} cores busy; a worker's start {drain.start_cpu:.2f} CPU s;"
                    f" messages judged {drain.judged} of {total}, replayed {drain.replayed},"
                    f" takeovers {drain.takeovers}"
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
