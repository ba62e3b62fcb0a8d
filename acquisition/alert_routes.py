"""Alerts from the pipeline to people: deduplication, rate limits, state, acks, routes.

:class:`AlertManager` is the pipeline's alert sink. Per alert key (a channel, a
device's link, a channel's sensor) it keeps the current state, drops exact repeats
within the dedupe window, rate-limits what is left with a token bucket, and hands
every notice to each route's own bounded queue without waiting: a route that is slow
or down (a webhook timing out, a broker restarting) backs up its own queue only, and
when that overflows the oldest notice is dropped and counted. Acquisition never waits
on a route.

A suppressed alert is never lost from the state: the retained MQTT state topic always
carries the newest state of every key, and when the last *delivered* event of a key
disagrees with its state (a clear was rate-limited away) the state is delivered again
as soon as the key's bucket allows (:meth:`AlertManager.tick`).

Payloads (JSON, UTF-8) are described in the README section "Alert routes and payloads".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from rich.console import Console
from rich.text import Text

from hazmon.acquisition.alerts import Alert, AlertWords, format_alert, head_word
from hazmon.config.errors import ConfigError
from hazmon.config.secrets import secret_from_env
from hazmon.config.site import AlertsConfig
from hazmon.drivers.mqtt_adapter import MqttConnection
from hazmon.retry import Backoff

log = logging.getLogger(__name__)

ALERT_SCHEMA = "hazmon.alert/1"
STATE_SCHEMA = "hazmon.alert-state/1"
SIGNATURE_HEADER = "X-Hazmon-Signature"
#: Notices a route may hold while it cannot deliver; beyond it the oldest is dropped.
ROUTE_QUEUE_SIZE = 1000
#: Alerts the manager remembers for display and summaries.
HISTORY_SIZE = 10_000

NoticeEvent = Literal["alert", "ack", "state"]


@dataclass(slots=True)
class AlertState:
    """The current alert state of one key (``device/quantity`` and the like)."""

    key: str
    last: Alert
    alert_id: int
    active: bool
    since_ns: int
    """[ns UTC] when the condition started (of the last alert when inactive)."""
    acknowledged_by: str = ""
    acknowledged_ns: int | None = None
    delivered_active: bool | None = None
    """Active-ness of the last event delivered for this key (None: none yet)."""
    suppressed: int = 0
    """Alerts of this key suppressed since the last delivered one."""
    tokens: float = 0.0
    refilled_at: float = 0.0
    last_sent: dict[tuple[str, int], float] = field(default_factory=dict)

    def as_dict(self, site: str) -> dict[str, object]:
        """The retained state payload."""
        return {
            "schema": STATE_SCHEMA,
            "site": site,
            "key": self.key,
            "id": self.alert_id,
            "active": self.active,
            "since_ns": self.since_ns,
            "level": self.last.level,
            "kind": self.last.kind,
            "acknowledged": self.acknowledged_ns is not None,
            "acknowledged_by": self.acknowledged_by,
            "last": self.last.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Notice:
    """What a route receives: an alert (or an ack, or a state re-delivery) and the state."""

    event: NoticeEvent
    alert: Alert
    alert_id: int
    site: str
    key: str
    state: dict[str, object]
    deliver: bool
    """False: update state only (MQTT retains it); the event itself was suppressed."""
    suppressed: int = 0
    acknowledged_by: str = ""

    def payload(self) -> dict[str, object]:
        """The event's JSON body."""
        return {
            "schema": ALERT_SCHEMA,
            "site": self.site,
            "id": self.alert_id,
            "event": self.event,
            "key": self.key,
            "active": self.state["active"],
            "acknowledged_by": self.acknowledged_by or self.state["acknowledged_by"],
            "suppressed_before": self.suppressed,
            **self.alert.as_dict(),
        }


class Route(Protocol):
    """Where notices go. ``offer`` never blocks; ``run`` delivers until cancelled."""

    name: str
    delivered: int
    failed: int
    dropped: int

    def offer(self, notice: Notice) -> None: ...

    async def run(self) -> None: ...

    async def drain(self, timeout: float) -> None: ...


class QueuedRoute:
    """A route with its own bounded queue and delivery task (subclasses deliver).

    Parameters
    ----------
    name
        For logs and summaries.
    min_level
        Level alerts below this level (and ``clear`` of such) are not sent; faults
        and acks always are.
    """

    def __init__(self, name: str, min_level: int = 0) -> None:
        self.name = name
        self.min_level = min_level
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(ROUTE_QUEUE_SIZE)
        self._busy = False

    def wants(self, notice: Notice) -> bool:
        """Whether this route sends ``notice`` (events only; state is MQTT's business)."""
        if not notice.deliver:
            return False
        alert = notice.alert
        if alert.kind in ("raise", "escalate", "de-escalate", "clear") and notice.event == "alert":
            return max(alert.level, alert.previous_level) >= self.min_level
        return True

    def offer(self, notice: Notice) -> None:
        """Queue ``notice`` without waiting; drop the oldest when the queue is full."""
        if not self.wants(notice):
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
                self._queue.task_done()
                self.dropped += 1
                log.warning("alert route %s: queue full, oldest notice dropped", self.name)
        self._queue.put_nowait(notice)

    async def deliver(self, notice: Notice) -> None:
        """Send one notice; raise to count it as failed."""
        raise NotImplementedError

    async def run(self) -> None:
        """Deliver queued notices in order until cancelled."""
        while True:
            notice = await self._queue.get()
            self._busy = True
            try:
                await self.deliver(notice)
                self.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a failing route must never stop the others
                self.failed += 1
                log.warning("alert route %s: %s", self.name, error)
            finally:
                self._busy = False
                self._queue.task_done()

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` [s] until everything queued was delivered (or failed)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)


class ConsoleRoute(QueuedRoute):
    """Coloured lines on the terminal (above the live table)."""

    def __init__(
        self, console: Console, min_level: int = 0, words: AlertWords | None = None
    ) -> None:
        super().__init__("console", min_level)
        self.console = console
        self.words = words or AlertWords()
        self.alerts: list[Alert] = []

    def offer(self, notice: Notice) -> None:
        # Printing is quick and must keep the alert order with the table: do it now.
        if not self.wants(notice):
            return
        self.alerts.append(notice.alert)
        _ = self.words.gettext
        if notice.event == "ack":
            self.console.print(
                Text(
                    f"{notice.alert.time_text(self.words.zone)} {head_word('ACK', _)}"
                    + _("{key} by {who}").format(key=notice.key, who=notice.acknowledged_by),
                    style="cyan",
                )
            )
        else:
            line = format_alert(notice.alert, self.words)
            if notice.suppressed:
                line.append(
                    _(" (+{count} suppressed)").format(count=notice.suppressed), style="dim"
                )
            self.console.print(line)
        self.delivered += 1


def alert_topic(site: str, part: str, key: str) -> str:
    """``hazmon/<site>/alerts/<part>/<device>/<quantity>`` (part: event, state, ack)."""
    return f"hazmon/{site}/alerts/{part}/{key}"


class MqttRoute(QueuedRoute):
    """Events at QoS 1 on ``hazmon/<site>/alerts/event/<key>``, and the retained state
    of every key on ``hazmon/<site>/alerts/state/<key>``.

    A publish waits for the broker's acknowledgement; while the broker is away paho
    keeps the message and sends it on reconnection, so a timeout is counted but the
    message is not published twice.
    """

    def __init__(self, connection: MqttConnection, min_level: int = 0, timeout: float = 30.0):
        super().__init__("mqtt", min_level)
        self.connection = connection
        self.timeout = timeout

    def wants(self, notice: Notice) -> bool:
        return True  # the retained state is published even for a suppressed event

    async def deliver(self, notice: Notice) -> None:
        if notice.deliver and super().wants(notice):
            await self.connection.publish(
                alert_topic(notice.site, "event", notice.key),
                json.dumps(notice.payload()).encode(),
                qos=1,
                timeout=self.timeout,
            )
        await self.connection.publish(
            alert_topic(notice.site, "state", notice.key),
            json.dumps(notice.state).encode(),
            qos=1,
            retain=True,
            timeout=self.timeout,
        )


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Hazmon-Signature`` value: ``t=<unix s>,v1=<hex HMAC-SHA256>``.

    The MAC covers ``"<timestamp>." + body`` so that a captured request cannot be
    replayed later with a new timestamp.
    """
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, *, tolerance: float = 300.0) -> bool:
    """Check a signature header against ``body``; reject it when older than ``tolerance`` [s]."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class WebhookError(Exception):
    """A webhook attempt failed; ``retry`` says whether trying again may help."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class WebhookRoute(QueuedRoute):
    """POST each event as JSON with an HMAC-SHA256 signature, retrying with backoff.

    Parameters
    ----------
    url
        The receiver.
    secret
        The HMAC key (read from the environment by the caller; never logged).
    timeout : [s]
        Per attempt.
    retries
        Attempts after the first, for network errors, 5xx and 429 answers.
    backoff_initial, backoff_max : [s]
        Retry waits double from ``backoff_initial`` up to ``backoff_max``, jittered
        (:class:`hazmon.retry.Backoff`, the one backoff).
    """

    def __init__(
        self,
        url: str,
        secret: bytes,
        *,
        timeout: float = 5.0,
        retries: int = 5,
        min_level: int = 0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        super().__init__(f"webhook {url}", min_level)
        self.url = url
        self._secret = secret
        self.timeout = timeout
        self.retries = retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.attempts = 0

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookRoute(url={self.url!r}, secret=***)"

    def _post(self, body: bytes) -> None:
        timestamp = int(time.time())
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "hazmon",
                SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read()
        except urllib.error.HTTPError as error:
            retry = error.code >= 500 or error.code == 429
            raise WebhookError(f"{self.url} answered {error.code}", retry=retry) from error
        except (urllib.error.URLError, OSError) as error:
            raise WebhookError(f"{self.url}: {error}", retry=True) from error

    async def deliver(self, notice: Notice) -> None:
        body = json.dumps(notice.payload()).encode()
        backoff = Backoff(self.backoff_initial, self.backoff_max)
        for attempt in range(self.retries + 1):
            self.attempts += 1
            try:
                # urllib blocks: a thread keeps the event loop (and acquisition) running.
                await asyncio.to_thread(self._post, body)
                return
            except WebhookError as error:
                if not error.retry or attempt == self.retries:
                    raise
                delay = backoff.failure()
                log.info("alert route %s: %s; retrying in %.1f s", self.name, error, delay)
            await asyncio.sleep(delay)


class AlertManager:
    """The pipeline's alert sink: state, dedupe, rate limits, acks, fan-out to routes.

    Parameters
    ----------
    site
        Site name, for topics and payloads.
    config
        Dedupe window and rate limits.
    routes
        Where notices go.
    clock : [s]
        Monotonic clock (for windows and buckets).
    """

    def __init__(
        self,
        site: str,
        config: AlertsConfig,
        routes: Sequence[Route],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.site = site
        self.config = config
        self.routes = list(routes)
        self.clock = clock
        self.states: dict[str, AlertState] = {}
        self.next_id = 1
        self.received = 0
        self.delivered = 0
        self.deduplicated = 0
        self.rate_limited = 0
        self.history: deque[Alert] = deque(maxlen=HISTORY_SIZE)
        """The latest alerts received, in order (bounded: a service runs for months)."""
        self.on_acknowledge: list[Callable[[Alert], None]] = []
        """Called with each new acknowledgement (the pipeline releases latched alarms)."""

    def active(self) -> list[AlertState]:
        """Active states, most severe first, for the banner."""
        states = [state for state in self.states.values() if state.active]
        return sorted(states, key=lambda state: (-state.last.level, state.since_ns))

    def _take_token(self, state: AlertState, now: float) -> bool:
        rate = self.config.rate_per_minute / 60.0
        state.tokens = min(
            float(self.config.rate_burst), state.tokens + (now - state.refilled_at) * rate
        )
        state.refilled_at = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            return True
        return False

    def __call__(self, alert: Alert) -> None:
        """Take one alert from the pipeline or the poller (never blocks)."""
        self.received += 1
        self.history.append(alert)
        now = self.clock()
        key = alert.key
        state = self.states.get(key)
        if state is None:
            state = AlertState(
                key=key,
                last=alert,
                alert_id=self.next_id,
                active=alert.active,
                since_ns=alert.ts,
                tokens=float(self.config.rate_burst),
                refilled_at=now,
            )
            self.states[key] = state
            self.next_id += 1
        else:
            if alert.active and not state.active:
                # A new condition: a new id, and the old acknowledgement no longer holds.
                state.alert_id = self.next_id
                self.next_id += 1
                state.since_ns = alert.ts
                state.acknowledged_by = ""
                state.acknowledged_ns = None
            elif alert.active and alert.level > state.last.level:
                state.acknowledged_by = ""  # an escalation needs a fresh acknowledgement
                state.acknowledged_ns = None
            state.last = alert
            state.active = alert.active
        signature = (alert.kind, alert.level)
        sent_at = state.last_sent.get(signature)
        if sent_at is not None and now - sent_at < self.config.dedupe_window:
            self.deduplicated += 1
            deliver = False
        elif not self._take_token(state, now):
            self.rate_limited += 1
            deliver = False
        else:
            deliver = True
        self._fan_out("alert", state, alert, deliver)

    def _fan_out(self, event: NoticeEvent, state: AlertState, alert: Alert, deliver: bool) -> None:
        suppressed = 0
        if deliver:
            suppressed, state.suppressed = state.suppressed, 0
            state.delivered_active = state.active
            state.last_sent[(alert.kind, alert.level)] = self.clock()
            self.delivered += 1
        else:
            state.suppressed += 1
        notice = Notice(
            event=event,
            alert=alert,
            alert_id=state.alert_id,
            site=self.site,
            key=state.key,
            state=state.as_dict(self.site),
            deliver=deliver,
            suppressed=suppressed,
            acknowledged_by=state.acknowledged_by,
        )
        for route in self.routes:
            route.offer(notice)

    def tick(self) -> None:
        """Deliver the state of keys whose last delivered event disagrees with it.

        Called about once a second: a clear that was rate-limited away goes out as
        soon as its key's bucket has a token again.
        """
        now = self.clock()
        for state in self.states.values():
            if state.delivered_active is None or state.delivered_active == state.active:
                continue
            if self._take_token(state, now):
                self._fan_out("state", state, state.last, True)

    def republish_states(self) -> None:
        """Offer every key's state again (not as events): after a broker restart that
        lost its retained messages, the state topics are whole again."""
        for state in self.states.values():
            notice = Notice(
                event="state",
                alert=state.last,
                alert_id=state.alert_id,
                site=self.site,
                key=state.key,
                state=state.as_dict(self.site),
                deliver=False,
                acknowledged_by=state.acknowledged_by,
            )
            for route in self.routes:
                route.offer(notice)

    def acknowledge(self, key: str, by: str, note: str = "") -> bool:
        """Acknowledge the active alert of ``key``; False when none is active."""
        state = self.states.get(key)
        if state is None or not state.active:
            return False
        if state.acknowledged_ns is not None:
            return True
        state.acknowledged_by = by or "unknown"
        state.acknowledged_ns = time.time_ns()
        ack = Alert(
            ts=state.acknowledged_ns,
            kind=state.last.kind,
            device=state.last.device,
            channel=state.last.channel,
            quantity=state.last.quantity,
            level=state.last.level,
            previous_level=state.last.previous_level,
            value=state.last.value,
            unit=state.last.unit,
            citation=state.last.citation,
            message=note or f"acknowledged by {state.acknowledged_by}",
        )
        notice = Notice(
            event="ack",
            alert=ack,
            alert_id=state.alert_id,
            site=self.site,
            key=key,
            state=state.as_dict(self.site),
            deliver=True,
            acknowledged_by=state.acknowledged_by,
        )
        for route in self.routes:
            route.offer(notice)
        for listener in self.on_acknowledge:
            listener(ack)
        return True

    def handle_ack_message(self, topic: str, payload: bytes) -> bool:
        """An ack from ``hazmon/<site>/alerts/ack/<key>``; payload JSON ``{"by": ...}``
        or the plain name of who acknowledged."""
        prefix = f"hazmon/{self.site}/alerts/ack/"
        if not topic.startswith(prefix):
            return False
        key = topic.removeprefix(prefix)
        by, note = "", ""
        try:
            data = json.loads(payload.decode() or "{}")
            if isinstance(data, dict):
                by, note = str(data.get("by", "")), str(data.get("note", ""))
            else:
                by = str(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            by = payload.decode(errors="replace")
        return self.acknowledge(key, by, note)

    async def drain(self, timeout: float) -> None:
        """Give every route up to ``timeout`` [s] to deliver what it holds."""
        await asyncio.gather(*(route.drain(timeout) for route in self.routes))


def build_routes(
    alerts: AlertsConfig,
    console: Console,
    connection: MqttConnection | None,
    source: str,
    words: AlertWords | None = None,
) -> list[QueuedRoute]:
    """The alert routes of an ``[alerts]`` table (a kit's site file, the centre's
    ``--alerts`` file).

    Parameters
    ----------
    alerts
        The table.
    console
        Where ``console`` routes print.
    connection
        The broker ``mqtt`` routes publish to; None where there is none (the centre).
    source
        The table's file, for messages.
    words
        How ``console`` routes speak (language, the site's zone, meters' steps).

    Raises
    ------
    ConfigError
        A webhook whose secret variable is unset (no unsigned webhooks), or an ``mqtt``
        route without a broker connection.
    """
    routes: list[QueuedRoute] = []
    for number, route in enumerate(alerts.routes):
        if route.kind == "console":
            routes.append(ConsoleRoute(console, route.min_level, words))
        elif route.kind == "mqtt":
            if connection is None:
                raise ConfigError(
                    source,
                    [
                        f'alerts.routes[{number}].kind = "mqtt": there is no MQTT broker '
                        "here to publish to (the centre has no kit broker); use kind = "
                        '"webhook" or "console"'
                    ],
                )
            routes.append(MqttRoute(connection, route.min_level))
        else:
            assert route.url is not None  # validated: a webhook has a URL
            secret = secret_from_env(route.secret_env, "[alerts]", "secret_env")
            if not secret:
                raise ConfigError(
                    source,
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


__all__ = [
    "ALERT_SCHEMA",
    "SIGNATURE_HEADER",
    "STATE_SCHEMA",
    "AlertManager",
    "AlertState",
    "ConsoleRoute",
    "MqttRoute",
    "Notice",
    "QueuedRoute",
    "Route",
    "WebhookError",
    "WebhookRoute",
    "alert_topic",
    "build_routes",
    "sign",
    "verify",
]
