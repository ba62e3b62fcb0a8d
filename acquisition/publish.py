"""Readings over MQTT: the payload format, the field kit's durable publisher.

Topic ``hazmon/<site>/<device>/<quantity>``; one message carries a batch of readings
of that one channel, as JSON (``hazmon.readings/1``)::

    {"schema": "hazmon.readings/1", "site": "plant-a", "device": "gd-1",
     "quantity": "lel", "unit": "%LEL", "substance": "",
     "ts": [1700000000000000000, ...],   # [ns UTC]
     "value": [12.5, null, ...],          # canonical unit; null when no value
     "quality": [0, 1, ...],              # hazmon.config.quality.Quality bits
     "level": [0, 0, ...],                # the kit's own level (central re-evaluates)
     "boot": 1700000000000000000,         # [ns UTC] when the publisher started
     "seq": 17}                           # this channel's message number since boot

``boot`` and ``seq`` let the centre see loss between the kit and itself: the messages
of one channel from one publisher run are numbered 1, 2, 3 …, so a missing number is a
message the broker dropped (``seq`` restarts at 1 with a new ``boot``). Both are
optional: a payload without them (an older kit, Node-RED) is accepted, unnumbered.

The decoder treats a payload as untrusted input: a field of the wrong shape (a 2-D
``value``, a number where a list belongs) is a :class:`PayloadError`; a value beyond
the float range is NaN with ``SENSOR_FAULT``; a timestamp outside the sane window
(before 2000, more than a day after it arrived) is replaced by the arrival time and
flagged ``CLOCK_INVALID`` — nothing in a payload can raise anything else.

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
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import EARLIEST_NS, MAX_AHEAD_NS, Quality
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
    *,
    boot: int | None = None,
    seq: int | None = None,
) -> bytes:
    """One channel's readings as a ``hazmon.readings/1`` payload (numbered when ``boot``
    [ns UTC] and ``seq`` are given)."""
    values: list[float | None] = value.tolist()
    if np.isnan(value).any():
        values = [None if v != v else v for v in values]  # NaN → null (JSON has no NaN)
    numbering = {} if boot is None or seq is None else {"boot": boot, "seq": seq}
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
            **numbering,
        },
        separators=(",", ":"),
    ).encode()


class PayloadError(ValueError):
    """A message that is not a valid ``hazmon.readings/1`` payload."""


#: Largest reading count one message may carry (a kit sends seconds' worth).
MAX_READINGS = 1_000_000


@dataclass(frozen=True, slots=True)
class DecodedReadings:
    """One decoded message: its channel and columns, and its number when it has one."""

    channel: Channel
    ts: NDArray[np.int64]
    value: NDArray[np.float64]
    quality: NDArray[np.uint16]
    boot: int | None = None
    seq: int | None = None


def _list(data: dict[str, object], key: str) -> list[object]:
    column = data.get(key)
    if not isinstance(column, list):
        raise PayloadError(f"{key!r} is not a list")
    if len(column) > MAX_READINGS:
        raise PayloadError(f"{key!r} has more than {MAX_READINGS} entries")
    return column


def _is_number(item: object) -> bool:
    return isinstance(item, int | float) and not isinstance(item, bool)


def _times(column: list[object], arrival_ns: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Timestamps [ns UTC] and which were outside the sane window (given arrival time)."""
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in column):
        raise PayloadError("'ts' holds something other than integers [ns]")
    # The window a meter's own clock is trusted in (config.quality.sane_timestamp).
    latest = arrival_ns + MAX_AHEAD_NS
    # Python ints are unbounded: clip in Python before numpy sees them (no OverflowError).
    clipped = [item if EARLIEST_NS <= item <= latest else -1 for item in column]  # type: ignore[operator]
    ts = np.asarray(clipped, dtype=np.int64)
    bad = ts < 0
    ts[bad] = arrival_ns
    return ts, bad


def _values(column: list[object]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Values in the canonical unit (NaN for null) and which were beyond float range."""
    if not all(item is None or _is_number(item) for item in column):
        raise PayloadError("'value' holds something other than numbers or null")
    present = np.fromiter((item is not None for item in column), dtype=bool, count=len(column))
    try:
        # The common case in one numpy call (None becomes NaN); an integer beyond the
        # float range raises and takes the careful path below.
        values = np.array(column, dtype=np.float64)
    except OverflowError:
        pass
    else:
        huge = present & ~np.isfinite(values)
        values[huge] = np.nan
        return values, huge
    huge = np.zeros(len(column), dtype=bool)
    numbers: list[float] = []
    for row, item in enumerate(column):
        if item is None:
            numbers.append(float("nan"))
            continue
        try:
            number = float(item)  # type: ignore[arg-type]
        except OverflowError:
            number = float("inf")
        if number != number or number in (float("inf"), float("-inf")):
            huge[row] = True
            number = float("nan")
        numbers.append(number)
    return np.asarray(numbers, dtype=np.float64), huge


def _qualities(column: list[object]) -> NDArray[np.uint16]:
    if not all(isinstance(item, int) and 0 <= item <= 0xFFFF for item in column):
        raise PayloadError("'quality' holds something other than 16-bit flags")
    return np.asarray(column, dtype=np.uint16)


def _number(data: dict[str, object], key: str) -> int | None:
    item = data.get(key)
    if item is None:
        return None
    if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < 2**63:
        raise PayloadError(f"{key!r} is not a non-negative 64-bit integer")
    return item


def decode_readings(payload: bytes, *, arrival_ns: int | None = None) -> DecodedReadings:
    """Parse a ``hazmon.readings/1`` payload (untrusted input).

    Parameters
    ----------
    payload
        The message body.
    arrival_ns : [ns UTC]
        When it arrived (default now): the time a reading outside the sane window
        gets, flagged ``CLOCK_INVALID``.

    Raises
    ------
    PayloadError
        Naming what is wrong (the caller counts it and keeps the message as a dead
        letter; nothing else is lost).
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise PayloadError(f"not JSON: {error}") from error
    except ValueError as error:  # Python's limit on the digits of an integer
        raise PayloadError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or data.get("schema") != READINGS_SCHEMA:
        raise PayloadError(f"schema is not {READINGS_SCHEMA!r}")
    for key in ("site", "device", "quantity", "unit"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise PayloadError(f"{key!r} is not a non-empty string")
    for key in ("channel", "substance"):
        if not isinstance(data.get(key, ""), str):
            raise PayloadError(f"{key!r} is not a string")
    channel = Channel(
        site=data["site"],
        device=data["device"],
        name=data.get("channel", ""),
        quantity=data["quantity"],
        unit=data["unit"],
        substance=data.get("substance", ""),
    )
    ts_column, value_column, quality_column = (
        _list(data, key) for key in ("ts", "value", "quality")
    )
    if not len(ts_column) == len(value_column) == len(quality_column):
        raise PayloadError("ts, value and quality differ in length")
    arrival = time.time_ns() if arrival_ns is None else arrival_ns
    ts, bad_time = _times(ts_column, arrival)
    value, huge = _values(value_column)
    quality = _qualities(quality_column)
    quality = quality | np.where(bad_time, np.uint16(Quality.CLOCK_INVALID), np.uint16(0))
    quality = quality | np.where(huge, np.uint16(Quality.SENSOR_FAULT), np.uint16(0))
    return DecodedReadings(
        channel, ts, value, quality.astype(np.uint16), _number(data, "boot"), _number(data, "seq")
    )


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


#: Messages kept in memory while the spool's disk refuses writes: at one message per
#: channel and ``publish_interval``, an hour of a 100-channel kit at 1 s.
UNSPOOLED_MAX = 360_000


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
        self.boot = time.time_ns()
        """When this publisher started [ns UTC]: its messages' numbering restarts here."""
        self._seq: dict[int, int] = {}
        self._pending: list[tuple[Readings, NDArray[np.uint8]]] = []
        self.unspooled: deque[tuple[bytes, int, str]] = deque()
        """Messages the spool could not take (its disk full or read-only), oldest first;
        spooled, in order, at the next :meth:`spool_pending` that succeeds."""
        self.dropped_messages = 0
        """Messages given up past :data:`UNSPOOLED_MAX` (counted, never silent)."""

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
            number = int(channel[start])
            info = self.channels[number]
            # Numbered when spooled, so a message sent again after a restart keeps its
            # number: the centre counts a gap only for a message that never came.
            seq = self._seq[number] = self._seq.get(number, 0) + 1
            payload = encode_readings(
                info,
                readings.ts[rows],
                readings.value[rows],
                readings.quality[rows],
                level[rows],
                boot=self.boot,
                seq=seq,
            )
            messages.append((payload, 1, readings_topic(info)))
        self.unspooled.extend(messages)
        try:
            self.spool.put_many(list(self.unspooled))
        except (sqlite3.Error, OSError) as error:
            # A full or read-only disk must not end the service (it polls and stores on):
            # the messages wait in memory, numbered, and are spooled when space returns.
            while len(self.unspooled) > UNSPOOLED_MAX:
                self.unspooled.popleft()
                self.dropped_messages += 1
            log.warning(
                "cannot spool MQTT messages in %s: %s; %d wait in memory, %d dropped",
                self.spool.path,
                error,
                len(self.unspooled),
                self.dropped_messages,
            )
            return 0
        self.unspooled.clear()
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
