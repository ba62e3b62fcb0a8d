"""``hazmon run``: the acquisition service of one site.

One TaskGroup holds everything::

    pollers (one task per device, its own interval) ──await put──▶ bounded queue
    health recorder (every health_interval)        ──await put──▶      │
                                                                       ▼
    consumer: Pipeline.process (evaluate → store → alerts → hazard records)
              └─▶ ReadingPublisher (MQTT, through its spool)
    AlertManager ──offer──▶ each route's own queue ──▶ console │ MQTT │ webhook
    MQTT listener (acks) · alert ticker · live view · signal watcher

The queue is the backpressure: when the pipeline falls behind (a slow disk), pollers
wait on ``put`` and skip the polls they could not make in time, so memory stays
bounded. Routes never hold anything up: they have their own queues.

Shutdown (SIGINT, SIGTERM, ``duration``): pollers stop after their current poll;
the consumer empties the queue; open events are recorded; the publisher spools and
tries to publish the rest; routes deliver what they hold; the line-protocol outbox
tries to send its spool. Everything not sent within ``[service] shutdown_timeout``
stays in its durable spool for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.live import Live

from hazmon.acquisition.acknowledgements import (
    ACK_POLL_S,
    RegisterAcknowledgements,
    acknowledged_latches,
    apply_acknowledgement,
)
from hazmon.acquisition.alert_routes import AlertManager, alert_topic, build_routes
from hazmon.acquisition.alerts import AlertWords
from hazmon.acquisition.commands.common import wait_for_stop
from hazmon.acquisition.health import HealthRecorder
from hazmon.acquisition.live import LiveState, channel_resolutions, render_view
from hazmon.acquisition.pipeline import Pipeline, PipelineStats, replay_start
from hazmon.acquisition.poller import DeviceState, ResultQueue, build_devices, run_pollers
from hazmon.acquisition.publish import MessageSpool, ReadingPublisher
from hazmon.acquisition.register_writer import RegisterWriter, register_spool_path
from hazmon.analysis.evaluate import EvaluationSettings
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.errors import ConfigError
from hazmon.config.i18n import cli_translator
from hazmon.config.secrets import secret_from_env
from hazmon.config.site import MqttBrokerConfig, SiteConfig
from hazmon.config.standards import effective_limit_rows, rules_by_quantity
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings, login_settings
from hazmon.drivers.stream import DeadLetter
from hazmon.store.hazards import HazardContext
from hazmon.store.timeseries import Aggregates, TimeSeriesStore, Window
from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries
from hazmon.store.timeseries.sqlite import Outage, SqliteTimeSeries

log = logging.getLogger(__name__)

#: Results the consumer joins into one pipeline batch (one SQLite transaction).
MAX_BATCH_ITEMS = 256
#: Dead letters of one device kept in memory while the store refuses them.
DEAD_LETTERS_WAITING = 1000


def resolve_path(base: Path | None, text: str) -> Path:
    """``text`` taken from the site file's folder ``base`` unless absolute."""
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path


def check_writable_file(path: Path, key: str, source: str) -> None:
    """Refuse, before anything starts, a database or spool file that cannot be written.

    Raises
    ------
    ConfigError
        Naming ``key`` (``--db``, ``[stores] sqlite`` …), the path, why and what to do.
    """
    problem = ""
    folder = path.parent
    read_only = folder.is_dir() and bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    if path.is_dir():
        problem = "is a folder; give a file name inside it"
    elif not path.parent.is_dir():
        problem = f"its folder {path.parent} does not exist; create it or give another path"
    elif read_only:
        problem = "is on a read-only filesystem; remount it writable or give another path"
    elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
        problem = "cannot be read and written by this user; fix its permissions"
    elif not path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        problem = f"cannot be created: {path.parent} is not writable by this user"
    if problem:
        raise ConfigError(source, [f"{key} = {str(path)!r}: {problem}"])


def mqtt_settings(config: MqttBrokerConfig, client_id: str = "") -> MqttSettings:
    """Broker settings with the credentials read from the environment."""
    return login_settings(
        config,
        "[mqtt]",
        config.host,
        config.port,
        tls=config.tls,
        client_id=client_id or config.client_id,
    )


class TeeTimeSeries:
    """Writes to the local SQLite store and to a line-protocol store (via its outbox);
    reads from SQLite, which always has everything."""

    def __init__(self, local: SqliteTimeSeries, remote: LineProtocolTimeSeries) -> None:
        self.local = local
        self.remote = remote

    @property
    def path(self) -> Path:
        """The local file (what messages about the store name)."""
        return self.local.path

    def write(self, readings: Readings, level: NDArray[np.uint8], channels: ChannelTable) -> int:
        written = self.local.write(readings, level, channels)
        self.remote.write(readings, level, channels)
        return written

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        return self.local.read_window(channel, start_ns, end_ns)

    def aggregate(
        self, channel: Channel, start_ns: int, end_ns: int, interval_ns: int
    ) -> Aggregates:
        return self.local.aggregate(channel, start_ns, end_ns, interval_ns)

    def list_channels(self) -> list[Channel]:
        return self.local.list_channels()

    def close(self) -> None:
        self.local.close()


@dataclass(slots=True)
class ServiceSummary:
    """What a run did."""

    stats: PipelineStats
    alerts: int
    alerts_delivered: int
    database: Path
    devices: list[DeviceState]
    routes: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    """Route name → (delivered, failed, dropped)."""
    readings_published: int = 0
    messages_resent: int = 0
    """MQTT messages sent again for want of the centre's confirmation (``confirm``)."""
    spooled_messages: int = 0
    spooled_store_batches: int = 0
    health_readings: int = 0
    register_copied: int = 0
    """Events the register writer copied to the register this run."""
    spooled_register_events: int = 0
    """Events left in the register spool for the next start."""
    register_max_copy_s: float = 0.0
    """The slowest copy of one event to the register [s]."""
    dead_letters: int = 0
    """Malformed meter messages kept in the store (``hazmon dead-letters``)."""

    @property
    def devices_in_fault(self) -> tuple[str, ...]:
        return tuple(state.config.id for state in self.devices if state.in_fault)


@dataclass(slots=True)
class ServiceOptions:
    """How to run a site beyond its config (tests and ``hazmon demo`` use these)."""

    duration: float | None = None
    addresses: Mapping[str, str] | None = None
    live: bool = True
    base: Path | None = None
    """Folder relative paths of the site file are taken from."""
    database: Path | None = None
    """Overrides ``[stores] sqlite``."""
    stop: asyncio.Event | None = None
    """Set it to stop the service (as SIGTERM would)."""
    manager_ready: asyncio.Event | None = None
    """Set once every connection is up and polling starts (tests wait on it)."""
    inspection_id: int | None = None
    """The desk's inspection the hazards of this run belong to (``run --inspection``)."""


def site_database(site: SiteConfig, options: ServiceOptions) -> Path:
    """The local store's file: ``--db``, else ``[stores] sqlite`` from the site's folder."""
    return options.database or resolve_path(options.base, site.stores.sqlite)


def site_register_url(site: SiteConfig, database: Path) -> str:
    """The hazard register's URL: the variable ``[stores] hazard_register_env`` names,
    else ``[stores] hazard_register``, else the local store's file.

    Raises
    ------
    ConfigError
        The variable the site names is not set.
    """
    stores = site.stores
    return (
        secret_from_env(stores.hazard_register_env, "[stores]", "hazard_register_env")
        or stores.hazard_register
        or f"sqlite:///{database}"
    )


class SiteService:
    """The acquisition service of one site: build once, then :meth:`run`.

    The constructor only reads the config (no I/O). :meth:`run` enters every resource —
    stores, register, spool, broker connection, meters' links, the live display —
    through one :class:`contextlib.AsyncExitStack`, so whatever was opened is closed,
    in reverse order, however the run ends.

    Raises
    ------
    ConfigError
        A secret the config names is missing from the environment.
    """

    def __init__(self, site: SiteConfig, console: Console, options: ServiceOptions) -> None:
        self.site = site
        self.console = console
        self.options = options
        stores = site.stores
        self.database = site_database(site, options)
        check_writable_file(
            self.database, "--db" if options.database else "[stores] sqlite", f"site {site.name}"
        )
        if stores.line_protocol_url:
            spool = resolve_path(options.base, stores.spool)
            check_writable_file(spool, "[stores] spool", f"site {site.name}")
        if site.mqtt is not None and site.mqtt.publish_readings:
            spool = resolve_path(options.base, site.mqtt.spool)
            check_writable_file(spool, "[mqtt] spool", f"site {site.name}")
        self.channels = ChannelTable()
        self.states, self.meters = build_devices(site, self.channels, options.addresses)
        self.health = HealthRecorder(
            site.name, self.states, self.channels, service=self._service_health
        )
        self.connection: MqttConnection | None = None
        if site.mqtt is not None:
            self.connection = MqttConnection(mqtt_settings(site.mqtt))
        resolutions = channel_resolutions(self.states, self.channels)
        words = AlertWords(
            zone=site.time_zone,
            resolutions={self.channels[number].label: step for number, step in resolutions.items()},
        )
        self.routes = build_routes(
            site.alerts, console, self.connection, f"site {site.name}", words
        )
        self.manager = AlertManager(site.name, site.alerts, self.routes)
        self.register_url = site_register_url(site, self.database)
        self.stop = options.stop or asyncio.Event()
        self.queue: ResultQueue = asyncio.Queue(site.service.queue_size)
        self.health_readings = 0
        self.pipeline: Pipeline | None = None
        self.local_store: SqliteTimeSeries | None = None
        self._waiting_letters: dict[str, list[DeadLetter]] = {}
        self.dead_letters = 0
        """Malformed meter messages kept in the store this run."""
        self.writer: RegisterWriter
        self.remote: LineProtocolTimeSeries | None = None
        self.publisher: ReadingPublisher | None = None
        self.message_spool: MessageSpool | None = None
        self.spooled_messages = 0
        self.outage: Outage | None = None
        """The service's own gap before this start (recorded in ``service_outages``)."""

    # -- resources -------------------------------------------------------------------

    def _remote_store(self) -> LineProtocolTimeSeries | None:
        stores = self.site.stores
        if not stores.line_protocol_url:
            return None
        spool = resolve_path(self.options.base, stores.spool)
        if stores.line_protocol_kind == "victoria_metrics":
            return LineProtocolTimeSeries.victoria_metrics(stores.line_protocol_url, spool)
        token = secret_from_env(stores.influx_token_env, "[stores]", "influx_token_env")
        return LineProtocolTimeSeries.influxdb(
            stores.line_protocol_url, token or "", stores.influx_org, stores.influx_bucket, spool
        )

    def _service_health(self) -> tuple[float, float, float]:
        """(store up, register up, readings dropped) for the ``hazmon`` health channels."""
        pipeline = self.pipeline
        store_up = 1.0 if pipeline is None or pipeline.store_state == "up" else 0.0
        writer = getattr(self, "writer", None)
        register_up = 0.0 if writer is not None and writer.state == "down" else 1.0
        dropped = 0.0 if pipeline is None else float(pipeline.stats.dropped)
        return store_up, register_up, dropped

    def _unwritable(self, path: Path, error: BaseException) -> ConfigError:
        """The start-up refusal for a store file the disk will not take (full, read-only)."""
        key = "--db" if self.options.database else "[stores] sqlite"
        return ConfigError(
            f"site {self.site.name}",
            [
                f"{key} = {str(path)!r}: cannot be written ({error}); free disk space, "
                "remount the disk writable or give a path on another disk"
            ],
        )

    def _open_local(self, stack: contextlib.AsyncExitStack) -> SqliteTimeSeries:
        """Open the readings file and note this run in it (the outage since the last).

        Raises
        ------
        ConfigError
            The disk refuses the file (full, read-only): exit 2 before any poll.
        """
        try:
            local = stack.enter_context(SqliteTimeSeries(self.database))
            self.outage = local.begin_run(self.site.name, time.time_ns(), self.channels)
        except (sqlite3.Error, OSError) as error:
            raise self._unwritable(self.database, error) from None
        stack.callback(self._end_run, local)
        self.local_store = local
        if self.outage is not None:
            # A crash is news (the operator may not know the kit went down); a stop is not.
            log.log(
                logging.WARNING if self.outage.cause == "crash" else logging.INFO,
                "site %s: no readings for %.1f s before this start (%s); recorded in "
                "service_outages",
                self.site.name,
                self.outage.seconds,
                "the previous run did not stop" if self.outage.cause == "crash" else "stopped",
            )
        return local

    def _end_run(self, local: SqliteTimeSeries) -> None:
        try:
            local.end_run(self.site.name, time.time_ns())
        except (sqlite3.Error, OSError) as error:  # the next start counts it as a crash
            log.warning("could not note the clean stop in %s: %s", self.database, error)

    def _record_outages(self, local: SqliteTimeSeries, outages: list[Outage]) -> None:
        try:
            for outage in outages:
                local.record_outage(self.site.name, outage)
        except (sqlite3.Error, OSError) as error:  # refused again: the alert said so
            log.warning("could not record %d outages in %s: %s", len(outages), local.path, error)

    async def _open(self, stack: contextlib.AsyncExitStack) -> Pipeline:
        """Open stores, register, spool and broker; return the pipeline."""
        site = self.site
        stack.push_async_callback(self.meters.close)
        local = self._open_local(stack)
        self.remote = self._remote_store()
        timeseries: TimeSeriesStore = local
        if self.remote is not None:
            remote = self.remote
            remote.open()
            stack.callback(remote.close, timeout=site.service.shutdown_timeout)
            timeseries = TeeTimeSeries(local, remote)
        # Events go to a durable spool beside the readings and reach the register in the
        # background: a register down, slow or unreachable never holds up polling.
        writer = self.writer = RegisterWriter(
            self.register_url,
            register_spool_path(self.database),
            self.manager,
            shutdown_timeout=site.service.shutdown_timeout,
            readings=None if self.register_url == f"sqlite:///{self.database}" else self.database,
        )
        try:
            await stack.enter_async_context(writer)
        except (sqlite3.Error, OSError) as error:
            raise self._unwritable(writer.spool.path, error) from None
        pipeline = Pipeline(
            self.channels,
            rules_by_quantity(site.standards),
            timeseries,
            writer,
            {
                device.id: HazardContext(
                    enterprise=site.enterprise,
                    location=device.location or device.id,
                    source=site.source,
                    inspection_id=self.options.inspection_id,
                )
                for device in site.devices
            },
            self.manager,
            limit_rows=effective_limit_rows(site.limits),
            settings=EvaluationSettings.from_site(site.limits),
        )
        writer.on_recorded.append(pipeline.count_recorded)
        pipeline.on_store_restored.append(lambda outages: self._record_outages(local, outages))
        # The evaluation carries on where the previous run left it (a crash mid-event
        # included): replay the stored readings, file what closes, before the first poll.
        started = time.monotonic()
        since = replay_start(local.latest_ts(self.channels), time.time_ns())
        if since is not None:
            pipeline.resume(local.read_since(self.channels, since))
        if pipeline.stats.replayed:
            log.info(
                "replayed %d stored readings in %.1f s (%d events closed)",
                pipeline.stats.replayed,
                time.monotonic() - started,
                pipeline.stats.replayed_events,
            )
        # Events still open when the run ends are spooled before the writer closes.
        stack.callback(pipeline.close)
        if self.connection is not None:
            connection = self.connection
            stack.push_async_callback(connection.close)
            if site.mqtt is not None and site.mqtt.publish_readings:
                spool = MessageSpool(resolve_path(self.options.base, site.mqtt.spool))
                spool.open()
                stack.callback(self._close_spool, spool)
                self.message_spool = spool
                self.publisher = ReadingPublisher(
                    connection,
                    spool,
                    self.channels,
                    confirm=site.mqtt.confirm,
                    confirm_timeout=site.mqtt.confirm_timeout,
                )
                pipeline.observers.append(self.publisher.add)
            await self._connect(connection)
        return pipeline

    def _close_spool(self, spool: MessageSpool) -> None:
        self.spooled_messages = spool.pending()[0]
        spool.close()

    async def _connect(self, connection: MqttConnection) -> None:
        try:
            # Short: a kit without network must start polling at once.
            await connection.connect(timeout=3.0)
        except Exception as error:  # the kit works offline; paho keeps trying
            log.warning(
                "MQTT %s: %s; continuing, reconnecting in the background",
                connection.address,
                error,
            )
        await connection.subscribe(alert_topic(self.site.name, "ack", "#"), qos=1)

    # -- tasks -----------------------------------------------------------------------

    async def _record_health(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.site.service.health_interval)
            self._keep_dead_letters()
            batch = self.health.readings()
            self.health_readings += len(batch)
            await self.queue.put(batch)
        self._keep_dead_letters()

    def _keep_dead_letters(self) -> None:
        """Move the meters' malformed messages into the local store (``dead_letters``,
        listed by ``hazmon dead-letters``); a store that refuses them keeps them waiting."""
        store = self.local_store
        for state in self.states:
            take = getattr(state.meter, "take_dead_letters", None)
            if take is not None:
                self._waiting_letters.setdefault(state.config.id, []).extend(take())
        if store is None:
            return
        for device, letters in self._waiting_letters.items():
            if not letters:
                continue
            try:
                store.record_dead_letters(self.site.name, device, letters)
            except (sqlite3.Error, OSError) as error:
                log.warning("could not keep %d dead letters of %s: %s", len(letters), device, error)
                del letters[: max(0, len(letters) - DEAD_LETTERS_WAITING)]
                continue
            self.dead_letters += len(letters)
            letters.clear()

    async def _produce(self) -> None:
        async with asyncio.TaskGroup() as producers:
            producers.create_task(run_pollers(self.states, self.queue, self.manager, self.stop))
            producers.create_task(self._record_health())
        await self.queue.put(None)  # everything polled is queued: the consumer may end

    async def _consume(self, pipeline: Pipeline) -> None:
        while True:
            first = await self.queue.get()
            if first is None:
                return
            batches = [first]
            ended = False
            while len(batches) < MAX_BATCH_ITEMS and not self.queue.empty():
                item = self.queue.get_nowait()
                if item is None:
                    ended = True
                    break
                batches.append(item)
            pipeline.process(Readings.concat(batches))
            if ended:
                return
            # Let pollers run between batches even when the queue never empties.
            await asyncio.sleep(0)

    async def _listen(self, connection: MqttConnection) -> None:
        async for message in connection.messages():
            if self.publisher is not None and self.publisher.confirmed(
                message.topic, message.payload
            ):
                continue
            if not self.manager.handle_ack_message(message.topic, message.payload):
                log.info("ignored message on %s", message.topic)

    async def _tick(self) -> None:
        connection = self.connection
        connections = connection.connections if connection is not None else 0
        while True:
            await asyncio.sleep(1.0)
            self.manager.tick()
            if connection is not None and connection.connections != connections:
                # A reconnection: the broker may have lost the retained states.
                connections = connection.connections
                self.manager.republish_states()

    async def _watch_acknowledgements(self, pipeline: Pipeline) -> None:
        """Every :data:`ACK_POLL_S`, while an alarm is latched, look in the register for
        the desk's acknowledgement of its event (the live page's 确认) and apply it, as
        ``hazmon alerts ack`` over the broker is applied: the latch is released at the
        channel's next reading and the routes get the acknowledgement."""
        acknowledgements = RegisterAcknowledgements(self.register_url)
        failing = ""
        try:
            while True:
                try:
                    for item, ack in await acknowledged_latches(pipeline, acknowledgements):
                        if apply_acknowledgement(pipeline, self.manager, item, ack):
                            log.info(
                                "%s acknowledged on the desk by %s (event %d)",
                                item.channel.label,
                                ack.by,
                                ack.event_id,
                            )
                    failing = ""
                except Exception as error:  # the register away: asked again, a second later
                    if str(error) != failing:  # once an outage, not once a second
                        log.warning("the desk's acknowledgements: %s", error)
                    failing = str(error)
                await asyncio.sleep(ACK_POLL_S)
        finally:
            acknowledgements.close()

    async def _refresh(self, display: Live, state: LiveState) -> None:
        while not self.stop.is_set():
            display.update(render_view(state))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=0.25)
        display.update(render_view(state))

    # -- the run ---------------------------------------------------------------------

    async def run(self) -> ServiceSummary:
        """Run until ``options.duration`` [s] passes, SIGINT/SIGTERM or ``options.stop``.

        Shutdown order: acquisition ends and every queued result goes through the
        pipeline; open events are recorded; the publisher and the routes get
        ``[service] shutdown_timeout`` to deliver; then the stack closes what it
        opened, in reverse.
        """
        async with contextlib.AsyncExitStack() as stack:
            pipeline = self.pipeline = await self._open(stack)
            # An acknowledgement releases a latched alarm.
            self.manager.on_acknowledge.append(pipeline.acknowledged)
            live_state = LiveState(
                pipeline, self.manager, self.states, title=f"hazmon — {self.site.enterprise}"
            )
            display = Live(render_view(live_state), console=self.console, refresh_per_second=4)
            if self.options.live:
                stack.enter_context(display)
            await self._serve(pipeline, display, live_state)
        return self._summary(pipeline)

    async def _serve(self, pipeline: Pipeline, display: Live, live_state: LiveState) -> None:
        timeout = self.site.service.shutdown_timeout
        async with asyncio.TaskGroup() as group:
            background = [group.create_task(route.run()) for route in self.routes]
            background.append(group.create_task(self._tick()))
            background.append(group.create_task(self._watch_acknowledgements(pipeline)))
            if self.connection is not None:
                background.append(group.create_task(self._listen(self.connection)))
            publisher_task = None
            if self.publisher is not None and self.site.mqtt is not None:
                publisher_task = group.create_task(
                    self.publisher.run(self.site.mqtt.publish_interval)
                )
                background.append(publisher_task)
            if self.options.manager_ready is not None:
                self.options.manager_ready.set()
            async with asyncio.TaskGroup() as acquisition:
                acquisition.create_task(self._produce())
                acquisition.create_task(self._consume(pipeline))
                acquisition.create_task(wait_for_stop(self.stop, self.options.duration))
                if self.options.live:
                    acquisition.create_task(self._refresh(display, live_state))
            # Acquisition is over and every result went through the pipeline.
            pipeline.close()
            await self.writer.close(timeout)
            # The publisher's own loop must not race the flush for the spool.
            if publisher_task is not None and self.publisher is not None:
                publisher_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await publisher_task
                await self.publisher.flush(timeout)
            await self.manager.drain(timeout)
            for task in background:
                task.cancel()

    def _summary(self, pipeline: Pipeline) -> ServiceSummary:
        spooled_batches = 0
        if self.remote is not None:
            self.remote.outbox.open()
            spooled_batches = self.remote.outbox.pending()[0]
            self.remote.outbox.close()
        return ServiceSummary(
            stats=pipeline.stats,
            alerts=self.manager.received,
            alerts_delivered=self.manager.delivered,
            database=self.database,
            devices=self.states,
            routes={
                route.name: (route.delivered, route.failed, route.dropped) for route in self.routes
            },
            readings_published=(
                self.publisher.published_messages if self.publisher is not None else 0
            ),
            messages_resent=self.publisher.resent_messages if self.publisher is not None else 0,
            spooled_messages=self.spooled_messages,
            spooled_store_batches=spooled_batches,
            health_readings=self.health_readings,
            register_copied=self.writer.copied,
            spooled_register_events=self.writer.left or 0,
            register_max_copy_s=self.writer.max_copy_s,
            dead_letters=self.dead_letters,
        )


async def run_service(
    site: SiteConfig, console: Console, options: ServiceOptions
) -> ServiceSummary:
    """Run ``site`` (see :class:`SiteService`); ``hazmon run`` and ``hazmon demo``.

    Raises
    ------
    ConfigError
        A secret the config names is missing from the environment.
    """
    return await SiteService(site, console, options).run()


def summary_document(summary: ServiceSummary) -> dict[str, object]:
    """What :func:`print_summary` prints, as ``run --json`` and ``demo --json`` print it
    (keys documented in docs/getting-started.md; counts, the database path)."""
    stats = summary.stats
    return {
        "readings": stats.readings,
        "flagged": stats.flagged,
        "health_readings": summary.health_readings,
        "events": stats.events,
        "hazards": stats.hazards,
        "hazard_ids": list(stats.hazard_ids),
        "alerts": summary.alerts,
        "alerts_delivered": summary.alerts_delivered,
        "routes": {
            name: {"delivered": delivered, "failed": failed, "dropped": dropped}
            for name, (delivered, failed, dropped) in summary.routes.items()
        },
        "replayed": stats.replayed,
        "replayed_events": stats.replayed_events,
        "dropped": stats.dropped,
        "readings_published": summary.readings_published,
        "messages_resent": summary.messages_resent,
        "spooled": {
            "mqtt_messages": summary.spooled_messages,
            "store_batches": summary.spooled_store_batches,
            "register_events": summary.spooled_register_events,
        },
        "register_copied": summary.register_copied,
        "dead_letters": summary.dead_letters,
        "devices_in_fault": list(summary.devices_in_fault),
        "database": str(summary.database),
    }


def print_summary(console: Console, summary: ServiceSummary) -> None:
    """The closing lines of a run, as ``hazmon run`` and ``hazmon demo`` print them (in
    the command line's language; ``--json`` prints :func:`summary_document`)."""
    _ = cli_translator()
    stats = summary.stats
    # The numbers of the JSON summary: what a person reads and a script reads agree.
    numbers = summary_document(summary)
    console.print(
        "\n[bold]"
        + _("Summary")
        + "[/]"
        + _(": ")
        + _(
            "{readings} readings stored ({flagged} flagged, {health_readings} health), "
            "{events} events, {hazards} hazards, {alerts} alerts ({alerts_delivered} delivered)."
        ).format(**numbers)
    )
    lines: list[str] = []
    if stats.replayed:
        lines.append(
            _(
                "resumed from {replayed} stored readings ({events} events closed by the replay)"
            ).format(replayed=stats.replayed, events=stats.replayed_events)
        )
    if stats.dropped:
        lines.append(
            "[bold red]"
            + _("{dropped} readings dropped").format(dropped=stats.dropped)
            + "[/]"
            + _(": ")
            + _("the store refused writes longer than memory could hold them (see service_outages)")
        )
    lines.extend(
        _("route {name}: {delivered} delivered, {failed} failed, {dropped} dropped").format(
            name=name, delivered=delivered, failed=failed, dropped=dropped
        )
        for name, (delivered, failed, dropped) in summary.routes.items()
    )
    if summary.dead_letters:
        lines.append(
            _(
                "{count} meter messages could not be read: kept, see "
                "hazmon dead-letters --db {database}"
            ).format(count=summary.dead_letters, database=summary.database)
        )
    spooled = numbers["spooled"]
    assert isinstance(spooled, dict)
    if any(spooled.values()):
        lines.append(
            _(
                "still spooled for the next start: {mqtt_messages} MQTT messages, "
                "{store_batches} store batches, {register_events} events for the hazard register"
            ).format(**spooled)
        )
    for line in lines:
        console.print("  " + line)
    console.print(_("Database") + _(": ") + str(summary.database))
