"""Readings over MQTT: the payload format, the field kit's durable publisher.

Topic ``hazmon/<site>/<device>/<quantity>``; one message carries a batch of readings
of that one channel, as JSON (``hazmon.readings/1``)::

    {"schema": "hazmon.readings/1", "site": "plant-a", "device": "gd-1",
     "quantity": "lel", "unit": "%LEL", "substance": "",
     "ts": [1700000000000000000, ...],   # [ns UTC]
     "value": [12.5, null, ...],          # canonical unit; null when no value
     "quality": [0, 1, ...],              # hazmon.config.quality.Quality bits
     "level": [0, 0, ...]}                # the kit's own level (central re-evaluates)

JSON rather than a binary format because any consumer (Node-RED, a Python script, a
Telegraf ``json_v2`` parser) can read it, and batching makes its size irrelevant:
the per-message cost (broker routing, a PUBACK) dominates, so readings of one channel
are collected for ``publish_interval`` seconds and sent as one message.

The field kit never loses a reading to a broker outage: a message is committed to the
durable spool (:mod:`hazmon.store.spool`, ``synchronous=FULL``: a power cut loses
nothing either) before it is published, and deleted only after the broker
acknowledged it (QoS 1). Delivery is at least once: a message whose acknowledgement was lost is
sent again, and the central store keeps a reading once (same channel and time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.drivers.errors import TransportConnectionError, TransportTimeout
from hazmon.drivers.mqtt_adapter import MqttConnection
from hazmon.store.spool import LegacyTable, Spool

log = logging.getLogger(__name__)

READINGS_SCHEMA = "hazmon.readings/1"


def readings_topic(channel: Channel) -> str:
    """``hazmon/<site>/<device>/<channel>`` (the quantity for an unnamed channel)."""
    return f"hazmon/{channel.site}/{channel.device}/{channel.name or channel.quantity}"


def encode_readings(
    channel: Channel,
    ts: NDArray[np.int64],
    value: NDArray[np.float64],
    quality: NDArray[np.uint16],
    level: NDArray[np.uint8],
) -> bytes:
    """One channel's readings as a ``hazmon.readings/1`` payload."""
    values: list[float | None] = value.tolist()
    if np.isnan(value).any():
        values = [None if v != v else v for v in values]  # NaN → null (JSON has no NaN)
    return json.dumps(
        {
            "schema": READINGS_SCHEMA,
            "site": channel.site,
            "device": channel.device,
            "channel": channel.name,
            "quantity": channel.quantity,
            "unit": channel.unit,
            "substance": channel.substance,
            "ts": ts.tolist(),
            "value": values,
            "quality": quality.tolist(),
            "level": level.tolist(),
        },
        separators=(",", ":"),
    ).encode()


class PayloadError(ValueError):
    """A message that is not a valid ``hazmon.readings/1`` payload."""


@dataclass(frozen=True, slots=True)
class DecodedReadings:
    """One decoded message: its channel and columns."""

    channel: Channel
    ts: NDArray[np.int64]
    value: NDArray[np.float64]
    quality: NDArray[np.uint16]


def decode_readings(payload: bytes) -> DecodedReadings:
    """Parse a ``hazmon.readings/1`` payload.

    Raises
    ------
    PayloadError
        Naming what is wrong (the caller counts and logs it; nothing else is lost).
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or data.get("schema") != READINGS_SCHEMA:
        raise PayloadError(f"schema is not {READINGS_SCHEMA!r}")
    try:
        channel = Channel(
            site=str(data["site"]),
            device=str(data["device"]),
            name=str(data.get("channel", "")),
            quantity=str(data["quantity"]),
            unit=str(data["unit"]),
            substance=str(data.get("substance", "")),
        )
        ts = np.asarray(data["ts"], dtype=np.int64)
        value = np.asarray(
            [np.nan if v is None else v for v in data["value"]]
            if None in data["value"]
            else data["value"],
            dtype=np.float64,
        )
        quality = np.asarray(data["quality"], dtype=np.uint16)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise PayloadError(f"bad field: {error}") from error
    if not len(ts) == len(value) == len(quality) or ts.ndim != 1:
        raise PayloadError("ts, value and quality differ in length")
    return DecodedReadings(channel, ts, value, quality)


class MessageSpool(Spool):
    """The field kit's MQTT messages, committed before they are published: the one
    durable spool (:class:`hazmon.store.spool.Spool`, ``synchronous=FULL``, so a power
    cut loses nothing either); an item's label is its topic.

    Parameters
    ----------
    path
        The spool file; reopening it resumes where it was, and a file of an older
        release (its ``messages`` table) is adopted.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, legacy=[LegacyTable("messages", label="topic", weight="1")])


class ReadingPublisher:
    """Collects readings per channel, spools them as messages, publishes in order.

    Parameters
    ----------
    connection
        The broker connection (connected by the caller).
    spool
        The open spool.
    channels
        The channel table readings index.
    window
        Messages published concurrently before waiting for their acknowledgements.
    """

    def __init__(
        self,
        connection: MqttConnection,
        spool: MessageSpool,
        channels: ChannelTable,
        *,
        window: int = 200,
    ) -> None:
        self.connection = connection
        self.spool = spool
        self.channels = channels
        self.window = window
        self.published_messages = 0
        self.published_readings = 0
        self._pending: list[tuple[Readings, NDArray[np.uint8]]] = []

    def add(self, readings: Readings, level: NDArray[np.uint8]) -> None:
        """Keep a batch for the next :meth:`spool_pending` (no I/O)."""
        if len(readings):
            self._pending.append((readings, level))

    def spool_pending(self) -> int:
        """Turn what was added into one message per channel and commit them; return how
        many messages."""
        if not self._pending:
            return 0
        batches, self._pending = self._pending, []
        readings = Readings.concat([batch for batch, _ in batches])
        level = np.concatenate([lv for _, lv in batches])
        order = readings.sort_order()
        channel = readings.channel[order]
        starts = np.flatnonzero(np.r_[True, channel[1:] != channel[:-1]])
        ends = np.r_[starts[1:], len(order)]
        messages: list[tuple[bytes, int, str]] = []
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            rows = order[start:end]
            info = self.channels[int(channel[start])]
            payload = encode_readings(
                info, readings.ts[rows], readings.value[rows], readings.quality[rows], level[rows]
            )
            messages.append((payload, 1, readings_topic(info)))
        self.spool.put_many(messages)
        return len(messages)

    async def send_spooled(self, *, timeout: float = 10.0) -> int:
        """Publish spooled messages until the spool is empty; return how many were sent.

        Raises
        ------
        TransportTimeout, TransportConnectionError
            The broker did not acknowledge; the unacknowledged messages stay spooled.
        """
        sent = 0
        while True:
            batch = self.spool.oldest(self.window)
            if not batch:
                return sent
            await asyncio.gather(
                *(
                    self.connection.publish(item.label, item.payload, qos=1, timeout=timeout)
                    for item in batch
                )
            )
            self.spool.remove([item.id for item in batch])
            sent += len(batch)
            self.published_messages += len(batch)

    async def run(self, interval: float) -> None:
        """Every ``interval`` [s]: spool what was added and publish the spool, until
        cancelled; an outage leaves messages spooled and is retried."""
        while True:
            await asyncio.sleep(interval)
            self.spool_pending()
            if not self.connection.connected:
                await self.connection.wait_connected(interval)
                continue
            try:
                await self.send_spooled()
            except (TransportTimeout, TransportConnectionError) as error:
                log.warning("publishing readings: %s; %d wait", error, self.spool.pending()[0])

    async def flush(self, timeout: float) -> bool:
        """Spool what was added and try ``timeout`` [s] to publish it; True when empty."""
        self.spool_pending()
        with contextlib.suppress(TimeoutError, TransportTimeout, TransportConnectionError):
            async with asyncio.timeout(timeout):
                await self.send_spooled(timeout=timeout)
        return self.spool.pending()[0] == 0
