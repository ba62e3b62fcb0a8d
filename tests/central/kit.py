"""A simulated kit: numbered hazmon.readings/1 messages over MQTT (QoS 1) to a node."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.acquisition.publish import encode_readings
from hazmon.analysis.readings import Channel

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

    def send(self, channel: Channel, ts: list[int], value: list[float], *, skip: int = 0) -> None:
        topic = f"hazmon/{channel.site}/{channel.device}/{channel.name or channel.quantity}"
        seq = self.seq[topic] = self.seq.get(topic, 0) + 1 + skip
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
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=30)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def lel(site: str, device: str) -> Channel:
    return Channel(site=site, device=device, quantity="lel", unit="%LEL", substance="CH4")


def start_worker(
    tmp_path: Path, name: str, urls: list[str], register: str, *, partitions: int = 8
) -> tuple[subprocess.Popen[bytes], Path]:
    """``hazmon central run`` as a process of its own; returns it and its status file."""
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
            str(tmp_path / "central.db"),
            "--register-url",
            register,
            "--partitions",
            str(partitions),
            "--lease-ttl",
            "3",
            "--ownership-log",
            str(tmp_path / f"{name}.ownership.jsonl"),
            "--status-file",
            str(status),
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


def wait_until(what: str, condition: Any, deadline_s: float = 90.0) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {deadline_s} s: {what}")
        time.sleep(0.1)
