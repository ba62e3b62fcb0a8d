"""Simulated kits: numbered hazmon.readings/1 messages over MQTT (QoS 1) to a node,
by a bare MQTT client (:class:`Kit`) or by the kit's own publisher (:class:`PublisherKit`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.acquisition.publish import (
    Confirmed,
    MessageSpool,
    ReadingPublisher,
    decode_confirm,
    encode_readings,
)
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings

T0 = 1_790_000_000_000_000_000  # 2026-09-21 [ns UTC]: inside the sane window
SECOND = 1_000_000_000


class Kit:
    """One MQTT client publishing numbered messages, waiting for each PUBACK."""

    def __init__(self, port: int, client_id: str) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.boot = time.time_ns()
        self.seq: dict[str, int] = {}
        self.resent = 0
        self.confirmations: list[Confirmed] = []
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()

    def listen_for_confirmations(self, channel: Channel) -> None:
        """Collect the centre's confirmations for ``channel`` (QoS 0, as the kit's
        publisher subscribes); returns once the broker granted the subscription."""
        topic = f"{channel.site}/{channel.device}/{channel.name or channel.quantity}"
        self.client.subscribe(f"hazmon-confirm/{topic}", qos=0)
        if not self._subscribed.wait(timeout=60):
            raise AssertionError("no SUBACK for the confirmations within 60 s")

    def _on_message(self, _client: object, _userdata: object, message: Any) -> None:
        self.confirmations.append(decode_confirm(message.payload))

    def send(
        self,
        channel: Channel,
        ts: list[int],
        value: list[float],
        *,
        skip: int = 0,
        seq: int | None = None,
    ) -> None:
        """Publish one numbered message: the next ``seq`` after skipping ``skip`` (lost
        ones), or the ``seq`` given (one sent again, out of order)."""
        topic = f"hazmon/{channel.site}/{channel.device}/{channel.name or channel.quantity}"
        if seq is None:
            seq = self.seq[topic] = self.seq.get(topic, 0) + 1 + skip
        else:
            self.seq[topic] = max(self.seq.get(topic, 0), seq)
        count = len(ts)
        payload = encode_readings(
            channel,
            np.asarray(ts, dtype=np.int64),
            np.asarray(value, dtype=np.float64),
            np.zeros(count, dtype=np.uint16),
            np.zeros(count, dtype=np.uint8),
            boot=self.boot,
            seq=seq,
        )
        self.raw(topic, payload)

    def raw(self, topic: str, payload: bytes) -> None:
        """Publish until the broker acknowledges (PUBACK), as the kit's publisher does:
        a message without one is sent again (the centre stores it once)."""
        deadline = time.monotonic() + 90
        while True:
            info = self.client.publish(topic, payload, qos=1)
            with contextlib.suppress(RuntimeError, ValueError):  # not connected: again
                info.wait_for_publish(timeout=5)
                if info.is_published():
                    return
            self.resent += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"no PUBACK for {topic} within 90 s")
            time.sleep(0.2)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class PublisherKit:
    """The field kit's own :class:`ReadingPublisher` (durable spool, numbering, and the
    centre's end-to-end confirmation) on an event loop in a thread of its own, as
    ``hazmon run`` drives it: readings added, spooled and published every ``interval``,
    confirmations handed to it by the listener."""

    def __init__(
        self,
        port: int,
        client_id: str,
        spool: Path,
        channels: list[Channel],
        *,
        confirm: bool = True,
        confirm_timeout: float = 2.0,
        interval: float = 0.1,
    ) -> None:
        self.table = ChannelTable(list(channels))
        self.loop = asyncio.new_event_loop()
        self.connection = MqttConnection(
            MqttSettings(host="127.0.0.1", port=port, client_id=client_id, protocol="3.1.1")
        )
        self.spool = MessageSpool(spool)
        self.spool.open()
        self.publisher = ReadingPublisher(
            self.connection,
            self.spool,
            self.table,
            confirm=confirm,
            confirm_timeout=confirm_timeout,
        )
        self.added = 0
        self._tasks: list[concurrent.futures.Future[None]] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self.connection.connect(timeout=30.0)).result(timeout=60)
        self._tasks = [
            asyncio.run_coroutine_threadsafe(self.publisher.run(interval), self.loop),
            asyncio.run_coroutine_threadsafe(self._listen(), self.loop),
        ]

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def _listen(self) -> None:
        async for message in self.connection.messages():
            self.publisher.confirmed(message.topic, message.payload)

    def send(self, channel: Channel, ts: list[int], value: list[float]) -> None:
        """Hand readings of one channel to the publisher (spooled at its next round)."""
        number = self.table.add(channel)
        readings = Readings.from_columns(ts, np.full(len(ts), number), value)
        level = np.zeros(len(ts), dtype=np.uint8)
        self.loop.call_soon_threadsafe(self.publisher.add, readings, level)
        self.added += len(ts)

    def waiting(self) -> int:
        """Messages spooled, unconfirmed (or, without ``confirm``, unacknowledged).

        Raises
        ------
        AssertionError
            The publisher or the listener ended (what ``hazmon run`` would end on).
        """
        for task in self._tasks:
            if task.done():
                raise AssertionError(f"the kit's publisher ended: {task.exception()!r}")

        async def count() -> int:
            return self.spool.pending()[0] + len(self.publisher._pending)

        result: int = self._call(count()).result(timeout=30)
        return result

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            self._call(self.connection.close()).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.spool.close()
        self.loop.close()


def lel(site: str, device: str) -> Channel:
    return Channel(site=site, device=device, quantity="lel", unit="%LEL", substance="CH4")


def start_worker(
    tmp_path: Path,
    name: str,
    urls: list[str],
    register: str,
    *,
    partitions: int = 8,
    database: Path | None = None,
    lease_ttl: float = 3.0,
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[bytes], Path]:
    """``hazmon central run`` (with ``extra`` arguments) as a process of its own (store
    ``database``, default ``central.db``; ownership log ``<name>.ownership.jsonl``);
    returns it and its status file."""
    status = tmp_path / f"{name}.status.json"
    log = (tmp_path / f"{name}.log").open("ab")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "hazmon"),
            "central",
            "run",
            "--nats",
            ",".join(urls),
            "--worker",
            name,
            "--db",
            str(database or tmp_path / "central.db"),
            "--register-url",
            register,
            "--partitions",
            str(partitions),
            "--lease-ttl",
            str(lease_ttl),
            "--ownership-log",
            str(tmp_path / f"{name}.ownership.jsonl"),
            "--status-file",
            str(status),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, status


def status(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def stored_readings(path: Path) -> list[tuple[str, str, int, float]]:
    """(site, device, ts, value) of every stored lel reading."""
    if not path.exists():
        return []
    with sqlite3.connect(path, timeout=10) as connection:
        return connection.execute(
            "SELECT c.site, c.device, r.ts, r.value FROM readings r "
            "JOIN channels c ON c.id = r.channel_id WHERE c.quantity = 'lel'"
        ).fetchall()


def wait_until_holding(status_file: Path, partitions: int = 8, who: str = "the worker") -> None:
    """Wait until the worker whose status file this is holds ``partitions`` partitions."""
    wait_until(
        f"{who} holds all {partitions} partitions",
        lambda: len(status(status_file).get("partitions", [])) == partitions,
    )


def wait_until(what: str, condition: Any, deadline_s: float = 90.0) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(0.1)


def stream_state(urls: list[str]) -> str:
    """The stream's and every partition consumer's state, for a failure message."""
    import asyncio

    import nats

    from hazmon.acquisition.central.partitions import STREAM

    async def state() -> str:
        nc = await nats.connect(urls, connect_timeout=5)
        try:
            js = nc.jetstream(timeout=10)
            lines = [f"stream: {(await js.stream_info(STREAM)).state}"]
            for consumer in await js.consumers_info(STREAM):
                lines.append(
                    f"{consumer.name}: pending {consumer.num_pending}, ack pending "
                    f"{consumer.num_ack_pending}, floor {consumer.ack_floor}, "
                    f"delivered {consumer.delivered}, waiting {consumer.num_waiting}"
                )
            return "\n".join(lines)
        finally:
            await nc.close()

    try:
        return asyncio.run(state())
    except Exception as error:  # diagnostics only
        return f"no stream state: {error!r}"


def stream_distinct_messages(urls: list[str]) -> int:
    """How many distinct kit messages the readings stream holds: a message the kit sent
    again (no PUBACK came, but the broker had kept the first copy) counts once, as the
    store keeps its readings once."""
    import asyncio
    import json

    import nats
    from nats.js.errors import NotFoundError

    from hazmon.acquisition.central.partitions import STREAM

    async def count() -> int:
        nc = await nats.connect(urls, connect_timeout=5)
        try:
            js = nc.jetstream(timeout=10)
            state = (await js.stream_info(STREAM)).state
            seen: set[tuple[str, object, object]] = set()
            for sequence in range(state.first_seq, state.last_seq + 1):
                try:
                    message = await js.get_msg(STREAM, sequence)
                except NotFoundError:  # removed from the stream: nothing to store
                    continue
                document = json.loads(message.data or b"{}")
                seen.add((str(message.subject), document.get("boot"), document.get("seq")))
            return len(seen)
        finally:
            await nc.close()

    return asyncio.run(count())
