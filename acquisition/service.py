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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.live import Live

from hazmon.acquisition.alert_routes import (
    AlertManager,
    ConsoleRoute,
    MqttRoute,
    QueuedRoute,
    WebhookRoute,
    alert_topic,
)
from hazmon.acquisition.commands.common import wait_for_stop
from hazmon.acquisition.health import HealthRecorder
from hazmon.acquisition.live import ExposureSoFar, LiveState, render_view
from hazmon.acquisition.pipeline import Pipeline, PipelineStats
from hazmon.acquisition.poller import DeviceState, ResultQueue, build_devices, run_pollers_queued
from hazmon.acquisition.publish import MessageSpool, ReadingPublisher
from hazmon.acquisition.register_writer import RegisterWriter, register_spool_path
from hazmon.analysis.evaluate import EvaluationSettings
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.errors import ConfigError
from hazmon.config.site import MqttBrokerConfig, SiteConfig
from hazmon.config.standards import effective_limit_rows, rules_by_quantity
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings
from hazmon.store.hazards import HazardContext
from hazmon.store.timeseries import Aggregates, TimeSeriesStore, Window
from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

log = logging.getLogger(__name__)

#: Results the consumer joins into one pipeline batch (one SQLite transaction).
MAX_BATCH_ITEMS = 256


def resolve_path(base: Path | None, text: str) -> Path:
    """``text`` taken from the site file's folder ``base`` unless absolute."""
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path


def secret_from_env(variable: str | None, source: str, key: str) -> str | None:
    """The value of environment ``variable`` (None when unset or no variable named).

    Secrets live in the environment only; this never logs or prints the value.
    """
    if not variable:
        return None
    value = os.environ.get(variable)
    if value is None:
        log.debug("%s: %s names %s, which is not set", source, key, variable)
    return value


def mqtt_settings(config: MqttBrokerConfig, client_id: str = "") -> MqttSettings:
    """Broker settings with the credentials read from the environment."""
    username = secret_from_env(config.username_env, "[mqtt]", "username_env")
    password = secret_from_env(config.password_env, "[mqtt]", "password_env")
    return MqttSettings(
        host=config.host,
        port=config.port,
        client_id=client_id or config.client_id,
        username=username,
        password=password if username is not None else None,
        tls=config.tls,
        ca_file=config.ca_file,
    )


class TeeTimeSeries:
    """Writes to the local SQLite store and to a line-protocol store (via its outbox);
    reads from SQLite, which always has everything."""

    def __init__(self, local: SqliteTimeSeries, remote: LineProtocolTimeSeries) -> None:
        self.local = local
        self.remote = remote

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
    spooled_messages: int = 0
    spooled_store_batches: int = 0
    health_readings: int = 0
    register_copied: int = 0
    """Events the register writer copied to the register this run."""
    spooled_register_events: int = 0
    """Events left in the register spool for the next start."""
    register_max_copy_s: float = 0.0
    """The slowest copy of one event to the register [s]."""

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


def build_routes(
    site: SiteConfig, console: Console, connection: MqttConnection | None
) -> list[QueuedRoute]:
    """The alert routes of ``site``.

    Raises
    ------
    ConfigError
        A webhook whose secret variable is unset (no unsigned webhooks).
    """
    routes: list[QueuedRoute] = []
    for number, route in enumerate(site.alerts.routes):
        if route.kind == "console":
            routes.append(ConsoleRoute(console, route.min_level))
        elif route.kind == "mqtt":
            assert connection is not None  # validated: mqtt routes need [mqtt]
            routes.append(MqttRoute(connection, route.min_level))
        else:
            assert route.url is not None
            secret = secret_from_env(route.secret_env, "[alerts]", "secret_env")
            if not secret:
                raise ConfigError(
                    f"site {site.name}",
                    [
                        f"alerts.routes[{number}].secret_env = {route.secret_env!r}: the "
                        "variable is not set; export it with the webhook's HMAC secret"
                    ],
                )
            routes.append(
                WebhookRoute(
                    route.url,
                    secret.encode(),
                    timeout=route.timeout,
                    retries=route.retries,
                    min_level=route.min_level,
                )
            )
    return routes


async def run_service(
    site: SiteConfig, console: Console, options: ServiceOptions
) -> ServiceSummary:
    """Run ``site`` until ``options.duration`` [s] passes, SIGINT/SIGTERM or ``options.stop``.

    Raises
    ------
    ConfigError
        A secret the config names is missing from the environment.
    """
    stores = site.stores
    database = options.database or resolve_path(options.base, stores.sqlite)
    channels = ChannelTable()
    states, meters = build_devices(site, channels, options.addresses)
    health = HealthRecorder(site.name, states, channels)
    rules = rules_by_quantity(site.standards)
    contexts = {
        device.id: HazardContext(
            enterprise=site.enterprise, location=device.location or device.id, source=site.source
        )
        for device in site.devices
    }
    connection: MqttConnection | None = None
    if site.mqtt is not None:
        connection = MqttConnection(mqtt_settings(site.mqtt))
    routes = build_routes(site, console, connection)
    manager = AlertManager(site.name, site.alerts, routes)

    local = SqliteTimeSeries(database)
    remote: LineProtocolTimeSeries | None = None
    if stores.line_protocol_url:
        spool = resolve_path(options.base, stores.spool)
        if stores.line_protocol_kind == "victoria_metrics":
            remote = LineProtocolTimeSeries.victoria_metrics(stores.line_protocol_url, spool)
        else:
            token = secret_from_env(stores.influx_token_env, "[stores]", "influx_token_env")
            remote = LineProtocolTimeSeries.influxdb(
                stores.line_protocol_url,
                token or "",
                stores.influx_org,
                stores.influx_bucket,
                spool,
            )
    timeseries: TimeSeriesStore = local if remote is None else TeeTimeSeries(local, remote)
    register_url = (
        secret_from_env(stores.hazard_register_env, "[stores]", "hazard_register_env")
        or stores.hazard_register
        or f"sqlite:///{database}"
    )
    # Events go to a spool beside the readings; the register is written in the background.
    writer = RegisterWriter(register_url, register_spool_path(database), manager)
    local.open()
    if remote is not None:
        remote.open()
    pipeline = Pipeline(
        channels,
        rules,
        timeseries,
        writer,
        contexts,
        manager,
        limit_rows=effective_limit_rows(site.limits),
        settings=EvaluationSettings.from_site(site.limits),
    )
    writer.on_recorded.append(pipeline.count_recorded)
    exposure = ExposureSoFar(channels)
    pipeline.observers.append(exposure.update)
    publisher: ReadingPublisher | None = None
    message_spool: MessageSpool | None = None
    if connection is not None and site.mqtt is not None and site.mqtt.publish_readings:
        message_spool = MessageSpool(resolve_path(options.base, site.mqtt.spool))
        message_spool.open()
        publisher = ReadingPublisher(connection, message_spool, channels)
        pipeline.observers.append(publisher.add)
    stop = options.stop or asyncio.Event()
    queue: ResultQueue = asyncio.Queue(site.service.queue_size)
    live_state = LiveState(pipeline, manager, states, exposure, title=f"hazmon — {site.enterprise}")
    health_readings = 0
    summary_routes: dict[str, tuple[int, int, int]] = {}
    try:
        writer.start()
        if connection is not None:
            try:
                # Short: a kit without network must start polling at once.
                await connection.connect(timeout=3.0)
            except Exception as error:  # the kit works offline; paho keeps trying
                log.warning(
                    "MQTT %s: %s; continuing, reconnecting in the background",
                    connection.address,
                    error,
                )
            await connection.subscribe(alert_topic(site.name, "ack", "#"), qos=1)

        async def produce() -> None:
            nonlocal health_readings

            async def record_health() -> None:
                nonlocal health_readings
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), site.service.health_interval)
                    batch = health.readings()
                    health_readings += len(batch)
                    await queue.put(batch)

            async with asyncio.TaskGroup() as producers:
                producers.create_task(run_pollers_queued(states, queue, manager, stop))
                producers.create_task(record_health())
            await queue.put(None)  # everything polled is queued: the consumer may end

        async def consume() -> None:
            while True:
                first = await queue.get()
                if first is None:
                    return
                batches = [first]
                ended = False
                while len(batches) < MAX_BATCH_ITEMS and not queue.empty():
                    item = queue.get_nowait()
                    if item is None:
                        ended = True
                        break
                    batches.append(item)
                readings = Readings.concat(batches)
                pipeline.process(readings)
                if ended:
                    return
                # Let pollers run between batches even when the queue never empties.
                await asyncio.sleep(0)

        async def listen() -> None:
            assert connection is not None
            async for message in connection.messages():
                if not manager.handle_ack_message(message.topic, message.payload):
                    log.info("ignored message on %s", message.topic)

        async def tick() -> None:
            connections = connection.connections if connection is not None else 0
            while True:
                await asyncio.sleep(1.0)
                manager.tick()
                if connection is not None and connection.connections != connections:
                    # A reconnection: the broker may have lost the retained states.
                    connections = connection.connections
                    manager.republish_states()

        display = Live(
            render_view(live_state), console=console, refresh_per_second=4, transient=False
        )
        with display if options.live else contextlib.nullcontext():

            async def refresh() -> None:
                while not stop.is_set():
                    display.update(render_view(live_state))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=0.25)
                display.update(render_view(live_state))

            async with asyncio.TaskGroup() as group:
                background = [group.create_task(route.run()) for route in routes]
                background.append(group.create_task(tick()))
                if connection is not None:
                    background.append(group.create_task(listen()))
                publisher_task = None
                if publisher is not None and site.mqtt is not None:
                    publisher_task = group.create_task(publisher.run(site.mqtt.publish_interval))
                    background.append(publisher_task)
                if options.manager_ready is not None:
                    options.manager_ready.set()
                async with asyncio.TaskGroup() as acquisition:
                    acquisition.create_task(produce())
                    acquisition.create_task(consume())
                    acquisition.create_task(wait_for_stop(stop, options.duration))
                    if options.live:
                        acquisition.create_task(refresh())
                # Acquisition is over and every result went through the pipeline.
                pipeline.close()
                timeout = site.service.shutdown_timeout
                await writer.close(timeout)
                # The publisher's own loop must not race the flush for the spool.
                if publisher_task is not None and publisher is not None:
                    publisher_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await publisher_task
                    await publisher.flush(timeout)
                await manager.drain(timeout)
                for task in background:
                    task.cancel()
    finally:
        pipeline.close()
        await writer.close(0.0)
        await meters.close()
        if remote is not None:
            remote.close(timeout=site.service.shutdown_timeout)
        local.close()
        summary_routes = {
            route.name: (route.delivered, route.failed, route.dropped) for route in routes
        }
        spooled_messages = message_spool.pending()[0] if message_spool is not None else 0
        if message_spool is not None:
            message_spool.close()
        if connection is not None:
            await connection.close()
    spooled_batches = 0
    if remote is not None:
        remote.outbox.open()
        spooled_batches = remote.outbox.pending()[0]
        remote.outbox.close()
    return ServiceSummary(
        stats=pipeline.stats,
        alerts=manager.received,
        alerts_delivered=manager.delivered,
        database=database,
        devices=states,
        routes=summary_routes,
        readings_published=publisher.published_messages if publisher is not None else 0,
        spooled_messages=spooled_messages,
        spooled_store_batches=spooled_batches,
        health_readings=health_readings,
        register_copied=writer.copied,
        spooled_register_events=writer.left or 0,
        register_max_copy_s=writer.max_copy_s,
    )
