"""Alert state, deduplication, rate limits, acknowledgements and the routes.

The clock of the manager is the test's own (a counter), so windows and buckets are
exercised without waiting; the webhook and MQTT routes talk to real servers.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hazmon.acquisition.alert_routes import (
    AlertManager,
    MqttRoute,
    Notice,
    QueuedRoute,
    WebhookRoute,
    alert_topic,
    sign,
    verify,
)
from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.commands.alerts import send_ack
from hazmon.config.site import AlertsConfig, SiteConfig
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings


class Recorder(QueuedRoute):
    """A route that keeps what it is offered (a test's own route, not a stand-in)."""

    def __init__(self) -> None:
        super().__init__("recorder")
        self.notices: list[Notice] = []

    def offer(self, notice: Notice) -> None:
        if self.wants(notice):
            self.notices.append(notice)


def _level(kind: str, level: int, previous: int, ts: int = 0) -> Alert:
    return Alert(ts, kind, "gd-1", "lel", level, previous, 30.0, "%LEL", "GB/T 50493")  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_exact_repeats_within_the_window_are_dropped_but_state_follows() -> None:
    clock, recorder = Clock(), Recorder()
    manager = AlertManager("s", AlertsConfig(dedupe_window=60.0), [recorder], clock=clock)
    for step in range(3):  # flapping: raise, clear, raise, clear, ...
        clock.now = step * 10.0
        manager(_level("raise", 2, 0))
        manager(_level("clear", 0, 2))
    kinds = [notice.alert.kind for notice in recorder.notices]
    assert kinds == ["raise", "clear"]
    assert manager.deduplicated == 4
    assert not manager.states["gd-1/lel"].active
    clock.now = 100.0  # past the window: the same alert is news again
    manager(_level("raise", 2, 0))
    assert [n.alert.kind for n in recorder.notices][-1] == "raise"
    assert recorder.notices[-1].suppressed == 4
    assert recorder.notices[-1].alert_id != recorder.notices[0].alert_id  # a new condition


def test_rate_limit_then_the_state_catches_up() -> None:
    clock, recorder = Clock(), Recorder()
    config = AlertsConfig(dedupe_window=0.0, rate_burst=2, rate_per_minute=6.0)
    manager = AlertManager("s", config, [recorder], clock=clock)
    manager(_level("raise", 1, 0))
    manager(_level("escalate", 2, 1))
    manager(_level("escalate", 3, 2))  # over the burst: suppressed
    manager(_level("clear", 0, 3))  # suppressed too: the last delivered says "active"
    assert [n.alert.kind for n in recorder.notices] == ["raise", "escalate"]
    assert manager.rate_limited == 2
    manager.tick()  # no token yet
    assert len(recorder.notices) == 2
    clock.now = 10.0  # one token (6 a minute)
    manager.tick()
    last = recorder.notices[-1]
    assert last.event == "state"
    assert last.alert.kind == "clear"
    assert last.state["active"] is False
    clock.now = 100.0
    manager.tick()  # consistent now: nothing more
    assert len(recorder.notices) == 3


def test_acknowledgement_holds_until_escalation_and_needs_an_active_alert() -> None:
    recorder = Recorder()
    manager = AlertManager("s", AlertsConfig(), [recorder])
    assert not manager.acknowledge("gd-1/lel", "ops")
    manager(_level("raise", 1, 0))
    assert manager.handle_ack_message("hazmon/s/alerts/ack/gd-1/lel", b'{"by": "ops"}')
    assert recorder.notices[-1].event == "ack"
    assert manager.states["gd-1/lel"].acknowledged_by == "ops"
    manager(_level("escalate", 2, 1))
    assert manager.states["gd-1/lel"].acknowledged_by == ""
    assert not manager.handle_ack_message("hazmon/other/alerts/ack/gd-1/lel", b"ops")


def test_signature_verifies_and_rejects_tampering() -> None:
    body = b'{"kind": "raise"}'
    header = sign(b"k", 1_900_000_000, body)
    assert header.startswith("t=1900000000,v1=")
    fresh = sign(b"k", int(__import__("time").time()), body)
    assert verify(b"k", fresh, body)
    assert not verify(b"k", fresh, body + b" ")
    assert not verify(b"other", fresh, body)
    assert not verify(b"k", header, body)  # too old: a replay
    assert not verify(b"k", "garbage", body)


@pytest.fixture
def failing_server() -> Iterator[tuple[str, list[int]]]:
    """Answers every POST with 503; records the attempts."""
    attempts: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            attempts.append(1)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", attempts
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_webhook_retries_gives_up_and_never_blocks_the_sink(
    failing_server: tuple[str, list[int]],
) -> None:
    url, attempts = failing_server

    async def main() -> WebhookRoute:
        route = WebhookRoute(url, b"s3cret", retries=2, backoff_initial=0.01, backoff_max=0.02)
        manager = AlertManager("s", AlertsConfig(dedupe_window=0.0), [route])
        runner = asyncio.create_task(route.run())
        # The sink returns at once however the route fares: it only queues.
        manager(_level("raise", 2, 0))
        manager(_level("clear", 0, 2))
        await route.drain(30)
        runner.cancel()
        return route

    route = asyncio.run(main())
    assert route.failed == 2
    assert route.delivered == 0
    assert len(attempts) == 6  # two notices × (1 + 2 retries)
    assert "s3cret" not in repr(route)


def test_mqtt_route_publishes_events_and_retained_state_and_cli_ack_arrives(
    mqtt_broker: Any,
) -> None:
    site = SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": "s",
            "enterprise": "E",
            "devices": [{"id": "gd-1", "profile": "generic-4gas", "address": "127.0.0.1:1"}],
            "mqtt": {"host": "127.0.0.1", "port": mqtt_broker.port},
        }
    )

    async def main() -> tuple[list[tuple[str, bool, dict[str, Any]]], AlertManager]:
        settings = MqttSettings("127.0.0.1", mqtt_broker.port)
        async with MqttConnection(settings) as service, MqttConnection(settings) as watcher:
            route = MqttRoute(service)
            manager = AlertManager("s", AlertsConfig(), [route])
            runner = asyncio.create_task(route.run())
            await service.subscribe(alert_topic("s", "ack", "#"))
            manager(_level("raise", 2, 0))
            await route.drain(10)
            # A late subscriber sees the retained state at once.
            await watcher.subscribe(alert_topic("s", "#", "").rstrip("/"))
            await send_ack(site, "gd-1/lel", "night shift", "on my way")
            ack = await anext(service.messages())
            assert manager.handle_ack_message(ack.topic, ack.payload)
            await route.drain(10)
            seen: list[tuple[str, bool, dict[str, Any]]] = []
            while len(seen) < 3:
                message = await asyncio.wait_for(anext(watcher.messages()), 10)
                seen.append((message.topic, message.retain, json.loads(message.payload)))
            runner.cancel()
            return seen, manager

    seen, manager = asyncio.run(main())
    retained_state = [s for s in seen if s[0] == "hazmon/s/alerts/state/gd-1/lel" and s[1]]
    assert retained_state
    assert retained_state[0][2]["active"] is True
    events = [s for s in seen if s[0] == "hazmon/s/alerts/event/gd-1/lel"]
    assert events
    assert events[0][2]["event"] == "ack"
    assert events[0][2]["acknowledged_by"] == "night shift"
    assert manager.states["gd-1/lel"].acknowledged_by == "night shift"
