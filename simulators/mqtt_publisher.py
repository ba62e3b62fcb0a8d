"""Simulated MQTT meters: JSON payloads built from a profile's field paths, published
to a broker with paho-mqtt directly (simulators never use the drivers' adapter, so
that each side checks the other).

Link faults from the scenario: ``malformed_json`` (a payload cut short),
``garbage`` (bytes that are no JSON), ``no_reply`` (nothing published) and
``disconnect`` (the meter drops its broker connection for the fault's duration and
connects again).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import math
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hazmon.config.addresses import MqttAddress
from hazmon.config.profile import MqttSection, Profile
from hazmon.config.site import Simulation
from hazmon.simulators.channels import SimulatedChannels
from hazmon.simulators.errors import SimulatorError


def set_path(document: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at a dotted ``path`` in ``document``, creating objects on the way
    (a numeric key creates a list, padded with nulls)."""
    keys = path.split(".")
    node: Any = document
    for key, following in zip(keys, [*keys[1:], None], strict=True):
        empty: Any = [] if following is not None and following.isdigit() else {}
        if isinstance(node, list):
            index = int(key)
            while len(node) <= index:
                node.append(None)
            if following is None:
                node[index] = value
                return
            if node[index] is None:
                node[index] = empty
            node = node[index]
        else:
            if following is None:
                node[key] = value
                return
            node = node.setdefault(key, empty)


def build_payload(section: MqttSection, values: dict[str, float], wall_time: float) -> bytes:
    """The JSON a meter of ``section`` publishes for ``values`` [profile unit] at
    ``wall_time`` [s since the epoch]; a channel in dropout is ``null``."""
    document: dict[str, Any] = {}
    for field in section.fields:
        value = values.get(field.channel, 0.0)
        raw = (value - field.offset) / field.scale
        set_path(document, field.path, None if math.isnan(raw) else round(raw, 6))
    if section.timestamp_path is not None:
        stamp: Any
        if section.timestamp_format == "iso8601":
            stamp = dt.datetime.fromtimestamp(wall_time, dt.UTC).isoformat()
        elif section.timestamp_format == "epoch_ms":
            stamp = round(wall_time * 1000)
        else:
            stamp = round(wall_time, 3)
        set_path(document, section.timestamp_path, stamp)
    return json.dumps(document).encode("utf-8")


class MqttPublisherMeter:
    """A simulated MQTT meter publishing every ``interval`` seconds.

    Parameters
    ----------
    profile
        An ``[mqtt]`` profile.
    simulation
        The scenario.
    broker
        Where to publish.
    device_id
        Replaces ``{device}`` in the profile's ``publish_topic``.
    interval : [s]
        Publishing period, by the wall clock.
    clock : [s]
        The scenario clock.
    """

    def __init__(
        self,
        profile: Profile,
        simulation: Simulation | None,
        broker: MqttAddress,
        device_id: str,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if profile.mqtt is None:
            raise ValueError(f"profile {profile.name} has no [mqtt] section")
        self.section = profile.mqtt
        self.channels = SimulatedChannels(profile, simulation, clock=clock)
        self.broker = broker
        self.topic = self.section.publish_topic.replace("{device}", device_id)
        self.interval = interval
        self.published = 0
        self._client: paho.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = False

    @property
    def address(self) -> str:
        """The broker's address (the site keeps it for the device)."""
        return f"{self.broker.scheme}://{self.broker.host}:{self.broker.port}"

    @property
    def requests_served(self) -> dict[int, int]:
        """Messages published, under unit id 0."""
        return {0: self.published}

    def _connect(self) -> None:
        client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        if self.broker.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        try:
            client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        except (OSError, ValueError) as error:
            raise SimulatorError(f"simulated meter cannot reach {self.address}: {error}") from error
        client.loop_start()
        self._client = client
        self._connected = True

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        self._connected = False
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def payload_at(self, elapsed: float) -> bytes | None:
        """What to publish at ``elapsed`` [s] of scenario time, faults applied."""
        fault = self.channels.fault_at(elapsed)
        kind = fault.kind if fault is not None else None
        if kind in ("no_reply", "disconnect"):
            return None
        payload = build_payload(self.section, self.channels.values_at(elapsed), time.time())
        if kind == "malformed_json":
            return payload[: max(1, len(payload) // 2)]
        if kind == "garbage":
            return b"\x00\xff not json \xfe"
        return payload

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            elapsed = self.channels.elapsed()
            fault = self.channels.fault_at(elapsed)
            if fault is not None and fault.kind == "disconnect":
                if self._connected:
                    self._disconnect()
            elif not self._connected:
                self._connect()
            payload = self.payload_at(elapsed)
            if payload is not None and self._client is not None:
                self._client.publish(self.topic, payload, qos=1)
                self.published += 1
            next_at += self.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def start(self) -> None:
        """Connect and start publishing."""
        if self._task is not None:
            raise RuntimeError("the simulated meter is already started")
        self._connect()
        self._task = asyncio.create_task(self._run(), name=f"mqtt {self.topic}")

    async def stop(self) -> None:
        """Stop publishing and disconnect; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.get_running_loop().run_in_executor(None, self._disconnect)
