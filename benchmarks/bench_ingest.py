"""Central ingest from MQTT into SQLite: 1 process, 2 processes, and the broker's limit.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--messages 4000] [--batch 100]
[--publishers 2]``. Starts a Mosquitto of its own, then, in the same run:

1. baseline: ``mosquitto_sub`` (C, output to /dev/null) receives every message: the
   broker's own delivery rate to one subscriber, the ceiling for any consumer;
2. ``hazmon ingest`` logic in 1 process (:func:`hazmon.acquisition.ingest.run_ingest`,
   SQLite store, level evaluation), subscribed to ``$share/bench/hazmon/+/+/+``;
3. the same in 2 processes sharing the subscription (each with its own SQLite file:
   SQLite takes one writer at a time, so processes that share a file take turns).

Each message is a ``hazmon.readings/1`` JSON batch of ``--batch`` readings of one
channel (what ``hazmon run`` publishes every ``publish_interval``: a 1 Hz channel
with a 100 s publish interval, or a 100 Hz channel each second).

What is timed is the drain of a backlog: each consumer's persistent session is
subscribed first, the messages are published (QoS 1) while no consumer is connected,
so the broker queues them, and then the consumers connect. The rate is readings
stored per second from that moment to the last reading committed. Timing a backlog
keeps the publishers' CPU out of the measurement: on a machine with few cores,
publishers running at the same time would take the cores the consumers need.
Prints readings/s for each, the 2-vs-1 scaling ratio, and each against the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.acquisition.ingest import READINGS_FILTER, IngestOptions, run_ingest, shared_filter
from hazmon.acquisition.publish import encode_readings, readings_topic
from hazmon.analysis.readings import Channel
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n"
        "max_inflight_messages 0\nmax_queued_messages 0\n",
        encoding="utf-8",
    )
    process = subprocess.Popen([binary, "-c", str(config)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def payloads(count: int, batch: int, offset: int) -> list[tuple[str, bytes]]:
    """``count`` messages of ``batch`` readings over 200 channels."""
    rng = np.random.default_rng(offset)
    messages = []
    base = 1_800_000_000_000_000_000
    for number in range(count):
        channel = Channel(
            "bench", f"gd-{(offset + number) % 50}", ("lel", "o2", "co", "h2s")[number % 4], "%LEL"
        )
        ts = (
            base
            + (offset * count + number) * batch * 1_000_000
            + np.arange(batch, dtype=np.int64) * 1_000_000
        )
        value = rng.uniform(0, 60, batch)
        messages.append(
            (
                readings_topic(channel),
                encode_readings(
                    channel, ts, value, np.zeros(batch, np.uint16), np.zeros(batch, np.uint8)
                ),
            )
        )
    return messages


def publisher(port: int, count: int, batch: int, offset: int, go: ProcessEvent) -> None:
    """Publish ``count`` messages at QoS 1 as fast as acknowledged."""
    messages = payloads(count, batch, offset)
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    go.wait()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def ingest_worker(
    port: int,
    number: int,
    directory: str,
    counter: Synchronized[int],
    go: ProcessEvent,
    done: ProcessEvent,
) -> None:
    """One ingest process: waits for ``go``, then ingests, counting into ``counter``."""

    def progress(stored: int) -> None:
        with counter.get_lock():
            counter.value += stored

    async def main() -> None:
        stop = asyncio.Event()
        options = IngestOptions(
            settings=session_settings(port, number),
            database=Path(directory) / f"central-{number}.db",
            group="bench",
            on_batch=progress,
            stop=stop,
        )
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        task = asyncio.create_task(run_ingest(options))
        await asyncio.get_running_loop().run_in_executor(None, done.wait)
        stop.set()
        await task

    asyncio.run(main())


def session_settings(port: int, number: int) -> MqttSettings:
    """A persistent session per ingest client: the broker queues its share while it is
    away, which is how the backlog is built."""
    return MqttSettings(
        "127.0.0.1",
        port,
        client_id=f"bench-ingest-{number}",
        clean_start=False,
        session_expiry=600,
    )


async def create_sessions(port: int, count: int) -> None:
    """Subscribe each future ingest client to the shared filter, then disconnect."""
    for number in range(count):
        connection = MqttConnection(session_settings(port, number))
        await connection.connect()
        await connection.subscribe(shared_filter("bench", READINGS_FILTER), qos=1)
        await asyncio.sleep(0.3)  # the SUBACK (subscribe does not wait for it)
        await connection.close()


def publish_backlog(port: int, messages: int, batch: int, publishers: int) -> None:
    """Publish everything (QoS 1) while no consumer is connected."""
    go = multiprocessing.Event()
    share = messages // publishers
    processes = [
        multiprocessing.Process(target=publisher, args=(port, share, batch, n, go))
        for n in range(publishers)
    ]
    for process in processes:
        process.start()
    go.set()
    for process in processes:
        process.join(300)


def run_ingest_case(
    port: int, processes_count: int, args: argparse.Namespace, directory: Path
) -> float:
    """Drain rate [readings/s] of a backlog by ``processes_count`` ingest processes."""
    asyncio.run(create_sessions(port, processes_count))
    total = (args.messages // args.publishers) * args.publishers * args.batch
    publish_backlog(port, args.messages, args.batch, args.publishers)
    counter: Synchronized[int] = multiprocessing.Value("q", 0)
    go, done = multiprocessing.Event(), multiprocessing.Event()
    workers = [
        multiprocessing.Process(
            target=ingest_worker, args=(port, n, str(directory), counter, go, done)
        )
        for n in range(processes_count)
    ]
    for worker in workers:
        worker.start()
    time.sleep(2.0)  # imports done; they wait for go
    start = time.perf_counter()
    go.set()
    deadline = start + 120
    while counter.value < total and time.perf_counter() < deadline:
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    if counter.value < total:
        print(f"  (only {counter.value} of {total} readings within the limit)")
    done.set()
    for worker in workers:
        worker.join(60)
    return float(counter.value) / elapsed


def run_baseline(port: int, args: argparse.Namespace) -> float:
    """Drain rate of the same backlog by ``mosquitto_sub`` (C) writing to /dev/null."""
    count = (args.messages // args.publishers) * args.publishers
    command = [
        "mosquitto_sub",
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "-q",
        "1",
        "-V",
        "mqttv5",
        "-i",
        "bench-baseline",
        "-c",
        "-x",
        "600",
        "-t",
        READINGS_FILTER,
    ]
    subprocess.run(  # creates the persistent session, then times out
        [*command, "-W", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    publish_backlog(port, args.messages, args.batch, args.publishers)
    start = time.perf_counter()
    subprocess.run([*command, "-C", str(count)], stdout=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - start
    return float(count * args.batch) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=100, help="readings per message")
    parser.add_argument("--publishers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        broker, port = start_broker(directory)
        try:
            baseline = run_baseline(port, args)
            one_dir, two_dir = directory / "one", directory / "two"
            one_dir.mkdir()
            two_dir.mkdir()
            one = run_ingest_case(port, 1, args, one_dir)
            two = run_ingest_case(port, 2, args, two_dir)
        finally:
            broker.terminate()
            broker.wait()
    print(
        f"messages {args.messages} × {args.batch} readings, {args.publishers} publisher processes"
    )
    print(f"mosquitto_sub > /dev/null (broker limit): {baseline:12,.0f} readings/s")
    for label, rate in (("1 process:  ", one), ("2 processes:", two)):
        print(
            f"hazmon ingest, {label}              {rate:12,.0f} readings/s "
            f"({rate / baseline:.2f} of limit)"
        )
    print(f"scaling 2 vs 1: {two / one:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
