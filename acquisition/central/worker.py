"""A central worker: holds partition leases, judges each partition in order.

Per partition it owns, a worker keeps one :class:`~hazmon.acquisition.pipeline.Pipeline`
(the kit's own evaluator, levels, events and hazard records) fed from the partition's
durable consumer. On taking a partition over it first rebuilds the evaluator from the
partition's last :data:`~.partitions.REPLAY_S` of messages up to the consumer's
acknowledged position (alerts off, nothing stored again), then consumes from the next
message on. Events are keyed by channel and start (:func:`~hazmon.acquisition.pipeline.event_key`),
so an event the previous owner already filed is not filed twice, and one it had not
is filed now. Each kit's messages are judged in their numbering's order, a message
past a gap waiting (``reorder_wait``) for the missing one (:mod:`.sequences`).

Untrusted input: the subject (from the MQTT topic, which the broker's ACLs tie to a
kit) is the authority for site, device and channel; a payload naming others is
rejected. A message that cannot be decoded or processed becomes a dead letter (its own
stream, :func:`dead_letters`) and is acknowledged: it never blocks the ones behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import numpy as np
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from hazmon.acquisition.acknowledgements import (
    ACK_POLL_S,
    Acknowledgement,
    Latched,
    RegisterAcknowledgements,
    acknowledged_latches,
    apply_acknowledgement,
)
from hazmon.acquisition.alert_routes import AlertManager, QueuedRoute
from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.central.leases import LeaseTable
from hazmon.acquisition.central.partitions import (
    DEAD_PREFIX,
    DEAD_STREAM,
    LEASE_BUCKET,
    REPLAY_S,
    RETENTION_S,
    STREAM,
    confirm_subject,
    consumer_name,
    partition_subject,
    split_subject,
)
from hazmon.acquisition.central.sequences import Arrival, Released, SequenceTracker, Topic
from hazmon.acquisition.commands.common import printable
from hazmon.acquisition.pipeline import Pipeline
from hazmon.acquisition.publish import (
    DecodedReadings,
    PayloadError,
    decode_readings,
    encode_confirm,
    message_numbering,
)
from hazmon.acquisition.register_writer import RegisterWriter
from hazmon.analysis.evaluate import EvaluationSettings
from hazmon.analysis.readings import ChannelTable, Readings
from hazmon.config.site import AlertsConfig
from hazmon.config.standards import LimitRule, effective_limit_rows, rules_by_quantity
from hazmon.retry import Backoff
from hazmon.store.hazards import HazardContext
from hazmon.store.timeseries import TimeSeriesStore

log = logging.getLogger(__name__)

#: The source of the hazard records a central worker files.
CENTRAL_SOURCE = "central"
#: The alert "site" of the worker's own health (the register, its store): no kit's
#: name, which must start with a letter or digit.
CENTRE_SITE = "_central"
#: How often a partition confirms to the kits what it has stored [s]: one message per
#: channel and publisher run that moved on, not one per message.
CONFIRM_INTERVAL_S = 0.5
#: How long the broker waits for a fetched message's acknowledgement before it delivers
#: it again [s], beyond the reorder wait (a message waiting for a gap is not acknowledged).
ACK_WAIT_S = 30.0


@dataclass(slots=True)
class CentralStats:
    """Counters of one worker (its health)."""

    messages: int = 0
    readings: int = 0
    rejected: int = 0
    """Payloads disagreeing with their topic (site, device or channel)."""
    dead_letters: int = 0
    replayed: int = 0
    """Messages replayed to restore evaluators on takeovers."""
    takeovers: int = 0
    alerts: int = 0
    gaps: dict[str, int] = field(default_factory=dict)
    """Messages missing per kit (site), from the publishers' numbering."""
    duplicates: int = 0
    """Messages seen again (a kit's resend, a redelivery): stored once, not a gap."""
    waited: int = 0
    """Messages that came past a gap and waited for the missing one (judged in order)."""
    late: int = 0
    """Messages that came after the ones behind them were judged without them (their
    wait passed): stored, but not judged in their place."""
    confirmations: int = 0
    """Confirmations published to kits (one per channel and run, per interval)."""
    acknowledged: int = 0
    """Latched alarms released by an acknowledgement the desk wrote to the register."""
    acknowledgement_checks: int = 0
    """Looks for acknowledgements (one a second; the register is asked only while an
    alarm is latched): a test's signal that a new acknowledgement was judged."""

    def as_dict(self) -> dict[str, object]:
        """The counters as JSON-ready data."""
        return {
            "messages": self.messages,
            "readings": self.readings,
            "rejected": self.rejected,
            "dead_letters": self.dead_letters,
            "replayed": self.replayed,
            "takeovers": self.takeovers,
            "alerts": self.alerts,
            "gaps": dict(self.gaps),
            "duplicates": self.duplicates,
            "waited": self.waited,
            "late": self.late,
            "confirmations": self.confirmations,
            "acknowledged": self.acknowledged,
            "acknowledgement_checks": self.acknowledgement_checks,
        }


@dataclass(slots=True)
class CentralOptions:
    """How to run one worker."""

    servers: list[str]
    worker: str
    timeseries: TimeSeriesStore
    register_url: str
    register_spool: Path
    partitions: int = 8
    replicas: int = 3
    standards: tuple[str, ...] = ("gbt50493-2019",)
    lease_ttl: float = 6.0
    batch: int = 500
    reorder_wait: float = 10.0
    """[s] how long a message past a gap in its kit's numbering waits for the missing
    one before it is judged without it (:mod:`.sequences`)."""
    duration: float | None = None
    stop: asyncio.Event | None = None
    ownership_log: Path | None = None
    """JSON lines: each partition taken, judged (per batch) and given up, with times."""
    status_file: Path | None = None
    """The counters as JSON, rewritten every lease period (health for a supervisor)."""
    on_alert: Callable[[Alert], None] | None = None
    alerts: AlertsConfig = field(default_factory=lambda: AlertsConfig(routes=[]))
    """Dedupe and rate limits of every site's alerts (``--alerts``)."""
    routes: list[QueuedRoute] = field(default_factory=list)
    """Where every site's alerts go (:func:`~hazmon.acquisition.alert_routes.build_routes`)."""
    shutdown_timeout: float = 10.0
    """[s] the routes get to deliver what they hold on stop."""


class TopicMismatch(PayloadError):
    """A payload naming another site, device or channel than its topic."""


async def ensure_streams(js: JetStreamContext, replicas: int, lease_ttl: float) -> Any:
    """Create the stream, the dead-letter stream and the lease bucket if missing;
    return the lease bucket. A cluster that has just started may not have elected its
    meta leader yet: retried for 60 s."""
    backoff = Backoff(0.2, 2.0)
    deadline = time.monotonic() + 60.0
    while True:
        try:
            for config in (
                StreamConfig(
                    name=STREAM,
                    subjects=[partition_subject(0).replace(".0.", ".*.")],
                    num_replicas=replicas,
                    max_age=RETENTION_S,
                    storage=StorageType.FILE,
                ),
                StreamConfig(
                    name=DEAD_STREAM,
                    subjects=[f"{DEAD_PREFIX}.>"],
                    num_replicas=replicas,
                    storage=StorageType.FILE,
                ),
            ):
                try:
                    await js.stream_info(config.name or "")
                except NotFoundError:
                    await js.add_stream(config)
            try:
                return await js.key_value(LEASE_BUCKET)
            except Exception:
                return await js.create_key_value(
                    KeyValueConfig(bucket=LEASE_BUCKET, ttl=lease_ttl, replicas=replicas)
                )
        except (NatsTimeout, nats.js.errors.APIError, nats.js.errors.ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(backoff.failure())


def _cancelled() -> bool:
    """Whether the running task was cancelled, even if the CancelledError never reached it.

    Python 3.11's :func:`asyncio.wait_for` returns the inner result instead of raising
    when a cancellation races a message that has just arrived (and nats-py's fetch waits
    with it, and turns other cancellations into a timeout): a runner that then fetches
    again would hold its partition for ever and its worker would not stop on SIGTERM.
    The task still counts the request (:meth:`asyncio.Task.cancelling`).
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class PartitionRunner:
    """One owned partition: its consumer, its pipeline, its numbering."""

    def __init__(self, worker: CentralWorker, partition: int) -> None:
        self.worker = worker
        self.partition = partition
        self.channels = ChannelTable()
        # A message set aside (a dead letter) takes its place in its run with no readings.
        self.sequences: SequenceTracker[tuple[Msg, DecodedReadings | None]] = SequenceTracker(
            worker.options.reorder_wait
        )
        self.pipeline = Pipeline(
            self.channels,
            worker.rules,
            worker.options.timeseries,
            worker.writer,
            {},
            self.alert,
            limit_rows=effective_limit_rows(),
            settings=EvaluationSettings(),
        )
        self.task: asyncio.Task[None] | None = None
        self._confirmed_at = 0.0
        self._unacknowledged: list[Msg] = []
        """Messages fetched and not yet acknowledged (ack policy all: one ack covers
        every message up to it)."""

    async def confirm(self) -> None:
        """Tell the kits, at most every :data:`CONFIRM_INTERVAL_S`, up to which message
        each channel's run is stored; never while readings wait in memory for the
        store (stored, FIFO, before anything after them)."""
        now = time.monotonic()
        if now - self._confirmed_at < CONFIRM_INTERVAL_S or self.pipeline.waiting:
            return
        self._confirmed_at = now
        for due in self.sequences.take_changed():
            subject = confirm_subject(*due.topic)
            try:
                await self.worker.nc.publish(
                    subject, encode_confirm(due.boot, due.seq, due.missing)
                )
            except Exception as error:  # the connection is the one failing
                # A confirmation lost costs the kit a resend, which is confirmed then:
                # not worth stopping the partition for.
                log.warning("partition %d: confirming to %s: %r", self.partition, subject, error)
                continue
            self.worker.stats.confirmations += 1

    async def run(self) -> None:
        """Restore the evaluator, then judge the partition until cancelled or the
        lease is no longer valid."""
        js = self.worker.js
        name = consumer_name(self.partition)
        floor = 0
        with contextlib.suppress(NotFoundError):
            info = await js.consumer_info(STREAM, name)
            floor = info.ack_floor.stream_seq if info.ack_floor else 0
            # Recreated from the acknowledged position: what the last owner had in
            # flight comes at once, in order, not after its ack wait.
            await js.delete_consumer(STREAM, name)
        self.worker.own("take", self.partition)
        if floor:
            await self._replay(floor)
            # Before the first live reading: a latch the replay brought back whose
            # acknowledgement the register holds is released now, not raised again first.
            try:
                await self.worker.apply_acknowledgements(self)
            except Exception as error:  # the register away: the watcher asks again
                log.warning("partition %d: acknowledgements: %s", self.partition, error)
        config = ConsumerConfig(
            durable_name=name,
            filter_subject=partition_subject(self.partition),
            ack_policy=AckPolicy.ALL,
            # A message waiting for a gap is not acknowledged: not redelivered meanwhile.
            ack_wait=ACK_WAIT_S + self.worker.options.reorder_wait,
            max_ack_pending=self.worker.options.batch * 4,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if floor else DeliverPolicy.ALL,
            opt_start_seq=floor + 1 if floor else None,
        )
        subscription = await js.pull_subscribe(
            partition_subject(self.partition), durable=name, stream=STREAM, config=config
        )
        try:
            leases = self.worker.leases
            while partition_held := self.partition in leases.held:
                if _cancelled():
                    raise asyncio.CancelledError
                if not leases.valid(self.partition):
                    # A renewal late (a loaded machine, a node failing over): wait for
                    # it rather than judge on a lease that may have lapsed.
                    await asyncio.sleep(0.05)
                    continue
                # Messages whose wait for a missing one has passed are judged without it.
                for released in self.sequences.release_due(time.monotonic()):
                    await self._release(released)
                # What the last batch (or a takeover's replay) stored, confirmed here:
                # also when no batch follows it.
                await self.confirm()
                await self._acknowledge()
                try:
                    messages = await subscription.fetch(
                        self.worker.options.batch, timeout=CONFIRM_INTERVAL_S
                    )
                except (NatsTimeout, TimeoutError):
                    continue
                if not messages:
                    continue
                # Judged and acknowledged only on a valid lease; otherwise left for the
                # next owner (or this one, once renewed), unacknowledged.
                while partition_held and not leases.valid(self.partition):
                    await asyncio.sleep(0.05)
                    partition_held = self.partition in leases.held
                if not partition_held:
                    break
                self.worker.own("judge", self.partition)
                await self.take(messages, replay=False)
                self.worker.own("judged", self.partition)
                self._unacknowledged.extend(messages)
                await self._acknowledge()
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _acknowledge(self) -> None:
        """Acknowledge what is stored: (ack policy all) the newest message below every
        one still waiting for a gap, and only once the store has taken it.

        Readings the pipeline holds in memory for a store refusing writes die with this
        process, and so would a message waiting for a missing one: the next owner
        starts after the acknowledged position (and confirms it to the kits as stored).
        """
        if not self._unacknowledged or self.pipeline.waiting:
            return
        bound = min(
            (message.metadata.sequence.stream for message, _ in self.sequences.waiting_items()),
            default=None,
        )
        below = [
            message
            for message in self._unacknowledged
            if bound is None or message.metadata.sequence.stream < bound
        ]
        if not below:
            return
        newest = max(below, key=lambda message: message.metadata.sequence.stream)
        await newest.ack()
        acknowledged = newest.metadata.sequence.stream
        self._unacknowledged = [
            message
            for message in self._unacknowledged
            if message.metadata.sequence.stream > acknowledged
        ]

    async def _release(self, released: Released[tuple[Msg, DecodedReadings | None]]) -> None:
        """Judge messages whose wait for a missing one passed; count the gap."""
        if released.missing > 0:
            self.worker.gap(released.topic, released.missing)
        log.warning(
            "partition %d: %s/%s/%s: %d message(s) never came; the %d after them judged "
            "without them",
            self.partition,
            *(printable(part) for part in released.topic),
            released.missing,
            len(released.items),
        )
        await self._judge_messages(released.items, replay=False)

    async def _replay(self, floor: int) -> None:
        """Feed the partition's last hours up to ``floor`` (acknowledged by the last
        owner) to the pipeline as a kit's restart does (:meth:`Pipeline.resume`):
        evaluator state back, events it missed filed, no alerts, nothing stored again."""
        start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=REPLAY_S)
        subscription = await self.worker.js.pull_subscribe(
            partition_subject(self.partition),
            stream=STREAM,
            config=ConsumerConfig(
                filter_subject=partition_subject(self.partition),
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=start,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=30.0,
            ),
        )
        try:
            while True:
                if _cancelled():
                    raise asyncio.CancelledError
                try:
                    messages = await subscription.fetch(self.worker.options.batch, timeout=1.0)
                except (NatsTimeout, TimeoutError):
                    break
                if not messages:
                    break
                old = [m for m in messages if m.metadata.sequence.stream <= floor]
                await self.take(old, replay=True)
                self.worker.stats.replayed += len(old)
                if len(old) < len(messages) or messages[-1].metadata.num_pending == 0:
                    break
            # Acknowledged, so judged by the last owner: one still waiting here for a
            # gap waited there in vain, and was judged without it.
            for released in self.sequences.release_all():
                await self._judge_messages(released.items, replay=True)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def take(self, messages: list[Msg], *, replay: bool) -> None:
        """Decode and check a batch of messages (the bad ones become dead letters), and
        judge those their kits' numbering lets be judged now (:mod:`.sequences`)."""
        stats = self.worker.stats
        ready: list[tuple[Msg, DecodedReadings | None]] = []
        now = time.monotonic()
        for message in messages:
            if not replay:
                stats.messages += 1
            try:
                decoded = self._decode(message)
            except PayloadError as error:
                arrival = self._set_aside_in_place(message, now)
                if arrival is not None:
                    ready.extend(arrival.ready)
                if not replay and arrival is not None and arrival.repeated:
                    stats.duplicates += 1  # kept the first time it came
                elif not replay:
                    stats.rejected += isinstance(error, TopicMismatch)
                    await self.worker.dead_letter(message, str(error))
                continue
            arrival = self.sequences.see(decoded, (message, decoded), now)
            ready.extend(arrival.ready)
            if not replay:
                stats.duplicates += int(arrival.repeated)
                stats.late += int(arrival.late)
                stats.waited += int(arrival.waits)
        await self._judge_messages(ready, replay=replay)

    def _set_aside_in_place(
        self, message: Msg, now: float
    ) -> Arrival[tuple[Msg, DecodedReadings | None]] | None:
        """A message that cannot be decoded, in its run's numbering when its subject
        and its number can be read: kept as a dead letter, it is confirmed to the kit
        (sending it again cannot mend it) and the ones after it need not wait for it."""
        where = split_subject(message.subject)
        numbering = message_numbering(message.data)
        if where is None or numbering is None:
            return None
        boot, seq = numbering
        return self.sequences.arrive(Topic(*where[1:]), boot, seq, None, (message, None), now)

    async def _judge_messages(
        self, ready: list[tuple[Msg, DecodedReadings | None]], *, replay: bool
    ) -> None:
        """Judge decoded messages as one chunk (those set aside take their place with
        nothing to judge); on a failure not the store's, they become dead letters."""
        judged = [(message, decoded) for message, decoded in ready if decoded is not None]
        if not judged:
            return
        try:
            self._judge([decoded for _, decoded in judged], replay)
        except (sqlite3.OperationalError, OSError):
            # The store failing is not the message's fault: nothing is acknowledged; the
            # runner starts again from the acknowledged position (replayed, in order).
            raise
        except Exception as error:  # one bad message must not stop the partition
            log.exception("partition %d: judging a batch failed", self.partition)
            if not replay:
                for message, _ in judged:
                    await self.worker.dead_letter(message, f"processing failed: {error!r}")

    def _decode(self, message: Msg) -> DecodedReadings:
        where = split_subject(message.subject)
        if where is None:
            raise PayloadError(f"subject {message.subject!r} is not a partitioned topic")
        _, site, device, name = where
        decoded = decode_readings(message.data)
        channel = decoded.channel
        # The topic is the authority: the broker's ACLs tie it to one kit.
        if (channel.site, channel.device, channel.name or channel.quantity) != (
            site,
            device,
            name,
        ):
            raise TopicMismatch(
                f"payload names {channel.site}/{channel.device}/"
                f"{channel.name or channel.quantity}, its topic {site}/{device}/{name}"
            )
        return decoded

    def alert(self, alert: Alert) -> None:
        """The pipeline's sink: to the manager of the alert's site (a device's is the
        site its messages came from; the store's own, device-less, the centre's)."""
        context = self.pipeline.contexts.get(alert.device) if alert.device else None
        self.worker.alert(alert, context.enterprise if context else CENTRE_SITE)

    def acknowledge(self, item: Latched, ack: Acknowledgement) -> None:
        """The desk acknowledged the event of ``item``'s latched alarm: the evaluator
        releases the latch at the channel's next reading; the site's routes get the
        acknowledgement."""
        channel = item.channel
        if not apply_acknowledgement(self.pipeline, self.worker.manager(channel.site), item, ack):
            return
        self.worker.stats.acknowledged += 1
        log.info(
            "partition %d: %s/%s/%s acknowledged by %s (event %d)",
            self.partition,
            channel.site,
            channel.device,
            channel.name or channel.quantity,
            ack.by,
            ack.event_id,
        )

    def _judge(self, good: list[DecodedReadings], replay: bool) -> None:
        ts, number, value, quality = [], [], [], []
        for decoded in good:
            channel = self.channels.add(decoded.channel)
            self.pipeline.contexts.setdefault(
                decoded.channel.device,
                HazardContext(
                    enterprise=decoded.channel.site,
                    location=decoded.channel.device,
                    source=CENTRAL_SOURCE,
                ),
            )
            ts.append(decoded.ts)
            number.append(np.full(len(decoded.ts), channel, dtype=np.int32))
            value.append(decoded.value)
            quality.append(decoded.quality)
        readings = Readings(
            np.concatenate(ts),
            np.concatenate(number),
            np.concatenate(value),
            np.concatenate(quality),
        )
        if replay:
            self.pipeline.resume(readings)
        else:
            self.pipeline.process(readings)
            self.worker.stats.readings += len(readings)


class CentralWorker:
    """Leases, runners, dead letters and health of one worker process."""

    def __init__(self, options: CentralOptions, nc: Client, js: JetStreamContext) -> None:
        self.options = options
        self.nc = nc
        self.js = js
        self.stats = CentralStats()
        self.rules: Mapping[str, LimitRule] = rules_by_quantity(options.standards)
        self.writer = RegisterWriter(options.register_url, options.register_spool, self.alert)
        self.acks = RegisterAcknowledgements(options.register_url)
        self.runners: dict[int, PartitionRunner] = {}
        self.managers: dict[str, AlertManager] = {}
        """One per site (its own alert ids, states, dedupe), all on the same routes."""
        self.leases: LeaseTable
        self._log = (
            options.ownership_log.open("a", encoding="utf-8") if options.ownership_log else None
        )

    def own(self, what: str, partition: int) -> None:
        """Log a partition's ownership (take, judge, drop) with the wall time [ns]."""
        if self._log is not None:
            line = {"worker": self.options.worker, "what": what, "partition": partition}
            self._log.write(json.dumps({**line, "ts": time.time_ns()}) + "\n")
            self._log.flush()

    def manager(self, site: str) -> AlertManager:
        """The alert manager of ``site`` (made on its first alert)."""
        manager = self.managers.get(site)
        if manager is None:
            manager = AlertManager(site, self.options.alerts, self.options.routes)
            self.managers[site] = manager
        return manager

    def alert(self, alert: Alert, site: str = CENTRE_SITE) -> None:
        """An alert of a judged channel of ``site`` or of the worker's health: logged,
        and handed to the site's manager (never blocks: routes have their queues)."""
        self.stats.alerts += 1
        log.warning(
            "alert %s %s %s/%s %s", alert.kind, site, alert.device, alert.quantity, alert.message
        )
        if self.options.on_alert is not None:
            self.options.on_alert(alert)
        self.manager(site)(alert)

    async def deliver_alerts(self) -> None:
        """Every second, deliver the states whose clear was rate-limited away
        (:meth:`AlertManager.tick`); until cancelled."""
        while True:
            await asyncio.sleep(1.0)
            for manager in list(self.managers.values()):
                manager.tick()

    async def drain_alerts(self) -> None:
        """Give the routes ``shutdown_timeout`` [s] to deliver what they hold."""
        await asyncio.gather(
            *(route.drain(self.options.shutdown_timeout) for route in self.options.routes)
        )

    def gap(self, topic: Topic, missing: int) -> None:
        """Count messages a kit numbered and the centre never got; alert."""
        self.stats.gaps[topic.site] = self.stats.gaps.get(topic.site, 0) + missing
        self.alert(
            Alert.health(
                "message_gap",
                topic.device,
                topic.channel,
                f"{missing} message(s) of {topic.site} never arrived",
            ),
            topic.site,
        )

    async def dead_letter(self, message: Msg, reason: str) -> None:
        """Keep ``message`` in the dead-letter stream with its reason (then it is
        acknowledged with its batch)."""
        self.stats.dead_letters += 1
        log.warning("dead letter from %s: %s", message.subject, reason)
        where = split_subject(message.subject)
        partition = where[0] if where else 0
        # The subject's site, device and channel (the broker's ACLs vouch for them),
        # never the payload's; printable: a subject may carry anything else.
        site, device, name = where[1:] if where else (CENTRE_SITE, "", "")
        self.alert(
            Alert.health(
                "dead_letter",
                device,
                name,
                f"a message on {printable(message.subject)} was set aside: {printable(reason)}",
            ),
            site,
        )
        await self.js.publish(
            f"{DEAD_PREFIX}.{partition}",
            message.data,
            headers={
                "Hazmon-Reason": reason[:500],
                "Hazmon-Subject": message.subject,
                "Hazmon-Seq": str(message.metadata.sequence.stream),
                "Hazmon-Worker": self.options.worker,
            },
        )

    def write_status(self) -> None:
        """Rewrite the status file (health) if one is configured."""
        if self.options.status_file is None:
            return
        status = {
            "worker": self.options.worker,
            "partitions": sorted(self.runners),
            "register": self.writer.state,
            **self.stats.as_dict(),
            "alert_routes": [
                {
                    "name": route.name,
                    "delivered": route.delivered,
                    "failed": route.failed,
                    "dropped": route.dropped,
                }
                for route in self.options.routes
            ],
        }
        temporary = self.options.status_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(status), encoding="utf-8")
        temporary.replace(self.options.status_file)

    async def _stop_runner(self, partition: int) -> None:
        runner = self.runners.pop(partition, None)
        if runner is None or runner.task is None:
            return
        runner.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner.task
        self.own("drop", partition)

    async def _renew(self, stop: asyncio.Event) -> None:
        """Renew the leases six times a TTL (a valid lease needs one within half)."""
        while not stop.is_set():
            try:
                for partition in await self.leases.renew():
                    await self._stop_runner(partition)
            except Exception as error:  # the cluster is the one failing: retried
                log.warning("lease renewal failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.lease_ttl / 6)

    async def apply_acknowledgements(self, runner: PartitionRunner) -> None:
        """Look up the acknowledgements of ``runner``'s latched alarms and apply them
        (nothing asked when none is latched)."""
        for item, ack in await acknowledged_latches(runner.pipeline, self.acks):
            runner.acknowledge(item, ack)

    async def _watch_acknowledgements(self, stop: asyncio.Event) -> None:
        """Every :data:`ACK_POLL_S`, while some owned channel's alarm is latched, look
        for its acknowledgement in the register and apply it
        (:mod:`hazmon.acquisition.acknowledgements`)."""
        while not stop.is_set():
            try:
                for runner in list(self.runners.values()):
                    if self.runners.get(runner.partition) is runner:  # not given up since
                        await self.apply_acknowledgements(runner)
                self.stats.acknowledgement_checks += 1
            except Exception as error:  # the register away: asked again, a second later
                log.warning("acknowledgements: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ACK_POLL_S)

    async def run(self, stop: asyncio.Event) -> None:
        """Hold leases and run partitions until ``stop``."""
        kv = await ensure_streams(self.js, self.options.replicas, self.options.lease_ttl)
        self.leases = LeaseTable(
            kv, self.options.worker, self.options.partitions, self.options.lease_ttl
        )
        self.writer.start()
        period = self.options.lease_ttl / 3
        renewing = asyncio.create_task(self._renew(stop), name="lease-renewal")
        watching = asyncio.create_task(self._watch_acknowledgements(stop), name="acknowledgements")
        try:
            while not stop.is_set():
                try:
                    taken, lost = await self.leases.balance()
                except Exception as error:  # the cluster is the one failing: retried
                    log.warning("lease balancing failed: %s", error)
                    taken, lost = [], []
                for partition in lost:
                    await self._stop_runner(partition)
                for partition in list(self.runners):
                    task = self.runners[partition].task
                    if task is not None and task.done():  # lapsed lease or a failure
                        if not task.cancelled() and task.exception() is not None:
                            log.warning("partition %d: %r", partition, task.exception())
                        await self._stop_runner(partition)
                        if partition in self.leases.held:
                            taken.append(partition)  # still ours: start it again
                for partition in taken:
                    self.stats.takeovers += 1
                    runner = PartitionRunner(self, partition)
                    runner.task = asyncio.create_task(runner.run(), name=f"partition-{partition}")
                    self.runners[partition] = runner
                self.write_status()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), period)
        finally:
            for task in (renewing, watching):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.acks.close()
            for partition in list(self.runners):
                await self._stop_runner(partition)
            with contextlib.suppress(Exception):
                await self.leases.release_all()
            self.write_status()
            await self.writer.close(5.0)
            if self._log is not None:
                self._log.close()


async def _any_server_answers(servers: list[str], timeout: float = 5.0) -> None:
    """Return once one server accepts a TCP connection.

    Raises
    ------
    OSError
        None did within ``timeout`` [s] each (the client would retry for ever).
    """
    from urllib.parse import urlsplit

    errors: list[str] = []
    for server in servers:
        address = urlsplit(server if "://" in server else f"nats://{server}")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(address.hostname, address.port or 4222), timeout
            )
        except (OSError, TimeoutError) as error:
            errors.append(f"{address.hostname}:{address.port or 4222}: {error or 'timeout'}")
            continue
        writer.close()
        return
    raise OSError(f"no NATS server answers ({'; '.join(errors)})")


async def run_worker(options: CentralOptions) -> CentralStats:
    """Run one worker until ``duration`` [s], SIGINT/SIGTERM or ``options.stop``."""
    from hazmon.acquisition.commands.common import wait_for_stop

    stop = options.stop or asyncio.Event()
    await _any_server_answers(options.servers)

    async def quiet(error: Exception) -> None:
        # The client retries for ever; one line per failure, not a traceback.
        log.warning("NATS: %s", error or type(error).__name__)

    nc = await nats.connect(
        options.servers,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=quiet,
    )
    try:
        worker = CentralWorker(options, nc, nc.jetstream(timeout=10.0))
        async with asyncio.TaskGroup() as group:
            # The routes and the ticker outlive judging: what the last batch and the
            # shutdown (a register alert) raised still goes out, then they stop.
            delivering = [
                group.create_task(route.run(), name=f"alert route {route.name}")
                for route in options.routes
            ]
            delivering.append(group.create_task(worker.deliver_alerts(), name="alert ticker"))
            group.create_task(wait_for_stop(stop, options.duration))
            async with asyncio.TaskGroup() as judging:
                judging.create_task(worker.run(stop))
            await worker.drain_alerts()
            worker.write_status()  # the routes' last deliveries counted
            for task in delivering:
                task.cancel()
    finally:
        await nc.close()
    return worker.stats


async def dead_letters(servers: list[str], limit: int = 100) -> list[dict[str, str]]:
    """The newest ``limit`` dead letters: subject, reason, worker, payload (text)."""
    await _any_server_answers(servers)

    async def quiet(error: Exception) -> None:
        log.debug("NATS: %s", error)

    nc = await nats.connect(servers, connect_timeout=5, allow_reconnect=False, error_cb=quiet)
    try:
        js = nc.jetstream()
        info = await js.stream_info(DEAD_STREAM)
        last = info.state.last_seq
        found: list[dict[str, str]] = []
        for seq in range(max(info.state.first_seq, last - limit + 1), last + 1):
            with contextlib.suppress(NotFoundError):
                raw = await js.get_msg(DEAD_STREAM, seq)
                headers = raw.headers or {}
                found.append(
                    {
                        "seq": str(seq),
                        "subject": headers.get("Hazmon-Subject", ""),
                        "reason": headers.get("Hazmon-Reason", ""),
                        "worker": headers.get("Hazmon-Worker", ""),
                        "payload": (raw.data or b"")[:300].decode("utf-8", "replace"),
                    }
                )
        return found
    finally:
        await nc.close()


def ceil_share(partitions: int, workers: int) -> int:
    """Partitions each worker aims at."""
    return math.ceil(partitions / max(1, workers))
