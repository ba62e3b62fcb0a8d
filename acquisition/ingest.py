"""Central ingest: readings from many field kits, over MQTT, into the central store.

Each ``hazmon ingest`` process subscribes to ``$share/<group>/hazmon/+/+/+`` (MQTT 5
shared subscription): the broker hands each message to one member of the group, so N
processes split the load, and a process that dies leaves its share to the others.
The session is persistent (``clean_start = False``, an expiry), so messages published
while a process restarts wait in the broker.

What ingest does with a message: decode (``hazmon.readings/1``, see
:mod:`hazmon.acquisition.publish`), evaluate each reading's level against the central
standards (stateless, per reading: the same answer whichever process gets it), and
store readings with their quality and level. Events, hazard records and alerts stay
with the field kit, which sees every reading of its channels in order; a shared
subscription spreads one channel's messages over the processes, so stateful
evaluation here would see fragments.

Messages are joined into batches (up to ``batch_messages`` or whatever has arrived)
so that one store transaction takes thousands of readings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hazmon.acquisition.commands.common import wait_for_stop
from hazmon.acquisition.publish import PayloadError, decode_readings
from hazmon.analysis.limits import LimitTable, evaluate_levels
from hazmon.analysis.readings import ChannelTable, Readings
from hazmon.config.standards import LimitRule, rules_by_quantity
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttMessage, MqttSettings
from hazmon.store.timeseries import TimeSeriesStore
from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

log = logging.getLogger(__name__)

READINGS_FILTER = "hazmon/+/+/+"


@dataclass(slots=True)
class IngestStats:
    """Counters of one ingest process."""

    messages: int = 0
    readings: int = 0
    rejected: int = 0
    batches: int = 0
    rejected_examples: list[str] = field(default_factory=list)


class Ingestor:
    """Decodes, evaluates and stores batches of messages (no I/O but the store's).

    Parameters
    ----------
    store
        Where readings go (open).
    rules
        The instantaneous limit rule per quantity.
    """

    def __init__(self, store: TimeSeriesStore, rules: Mapping[str, LimitRule]) -> None:
        self.store = store
        self.rules = dict(rules)
        self.channels = ChannelTable()
        self.stats = IngestStats()
        self._limits = LimitTable.build([], self.rules)

    def _table(self) -> LimitTable:
        if len(self._limits) != len(self.channels):
            quantities = [channel.quantity for channel in self.channels.channels]
            self._limits = LimitTable.build(quantities, self.rules)
        return self._limits

    def take(self, messages: list[MqttMessage]) -> int:
        """Store the readings of ``messages``; a bad message is counted and logged,
        never fatal. Return the readings stored."""
        ts, channel, value, quality = [], [], [], []
        for message in messages:
            self.stats.messages += 1
            try:
                decoded = decode_readings(message.payload)
            except PayloadError as error:
                self.stats.rejected += 1
                if len(self.stats.rejected_examples) < 10:
                    self.stats.rejected_examples.append(f"{message.topic}: {error}")
                log.warning("rejected message on %s: %s", message.topic, error)
                continue
            number = self.channels.add(decoded.channel)
            ts.append(decoded.ts)
            channel.append(np.full(len(decoded.ts), number, dtype=np.int32))
            value.append(decoded.value)
            quality.append(decoded.quality)
        if not ts:
            return 0
        readings = Readings(
            np.concatenate(ts),
            np.concatenate(channel),
            np.concatenate(value),
            np.concatenate(quality),
        )
        level, _side = evaluate_levels(readings.value, readings.channel, self._table())
        self.store.write(readings, level, self.channels)
        self.stats.readings += len(readings)
        self.stats.batches += 1
        return len(readings)


@dataclass(slots=True)
class IngestOptions:
    """How to run one ingest process."""

    settings: MqttSettings
    database: Path
    group: str = "hazmon-ingest"
    topic_filter: str = READINGS_FILTER
    standards: tuple[str, ...] = ("gbt50493-2019",)
    line_protocol_url: str | None = None
    spool: Path | None = None
    batch_messages: int = 2000
    duration: float | None = None
    stop: asyncio.Event | None = None
    ready: asyncio.Event | None = None
    """Set once subscribed (tests and benchmarks wait on it)."""
    on_batch: Callable[[int], None] | None = None
    """Called with the readings stored by each batch (progress for benchmarks)."""


def shared_filter(group: str, topic_filter: str) -> str:
    """``$share/<group>/<filter>``: the broker gives each message to one group member."""
    return f"$share/{group}/{topic_filter}"


async def run_ingest(options: IngestOptions) -> IngestStats:
    """Ingest until ``duration`` [s], SIGINT/SIGTERM or ``options.stop``; then store
    what already arrived and close (the line-protocol outbox keeps what it cannot send).
    """
    store: TimeSeriesStore
    if options.line_protocol_url:
        spool = options.spool or options.database.with_suffix(".spool.db")
        remote = LineProtocolTimeSeries.victoria_metrics(options.line_protocol_url, spool)
        remote.open()
        store = remote
    else:
        local = SqliteTimeSeries(options.database)
        local.open()
        store = local
    ingestor = Ingestor(store, rules_by_quantity(options.standards))
    # Acknowledge each message only after it is stored: a process killed before that
    # gets it again from its persistent session, and storing it twice is harmless
    # (a reading is keyed by channel and time).
    connection = MqttConnection(dataclasses.replace(options.settings, manual_ack=True))
    stop = options.stop or asyncio.Event()
    try:
        await connection.connect()
        await connection.subscribe(shared_filter(options.group, options.topic_filter), qos=1)
        if options.ready is not None:
            options.ready.set()

        async def consume() -> None:
            messages = connection.messages()
            while not stop.is_set():
                next_message = asyncio.ensure_future(anext(messages))
                stopped = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait(
                    {next_message, stopped}, return_when=asyncio.FIRST_COMPLETED
                )
                if next_message not in done:
                    next_message.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await next_message
                    break
                stopped.cancel()
                batch = [next_message.result()]
                while len(batch) < options.batch_messages:
                    extra = connection.get_nowait()
                    if extra is None:
                        break
                    batch.append(extra)
                stored = ingestor.take(batch)
                for message in batch:
                    connection.ack(message)
                if options.on_batch is not None:
                    options.on_batch(stored)
                await asyncio.sleep(0)

        async with asyncio.TaskGroup() as group:
            group.create_task(consume())
            group.create_task(wait_for_stop(stop, options.duration))
        # Unsubscribe, then store and acknowledge what already arrived; whatever is
        # still unacknowledged at a crash comes back from the persistent session.
        await connection.unsubscribe(shared_filter(options.group, options.topic_filter))
        rest = []
        while (message := connection.get_nowait()) is not None:
            rest.append(message)
        ingestor.take(rest)
        for message in rest:
            connection.ack(message)
    finally:
        await connection.close()
        store.close()
    return ingestor.stats
