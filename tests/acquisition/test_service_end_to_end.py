"""``hazmon run`` end to end: simulated meters on two transports, a real broker that
restarts, a real VictoriaMetrics that goes away and comes back, a meter that falls
silent, and a webhook receiver of the test's own.

Asserted: every reading polled is stored (SQLite, and VictoriaMetrics after its
outage), the silent meter's readings are there flagged COMM_TIMEOUT, health readings
are stored, alerts are raised and cleared in order on every route, webhook signatures
verify, and an acknowledgement sent over MQTT reaches the alert's state.
No timing is asserted: the scenario runs on a clock four times faster than the wall
clock, and the test waits for conditions, not for durations.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from hazmon.acquisition.alert_routes import SIGNATURE_HEADER, alert_topic, verify
from hazmon.acquisition.service import ServiceOptions, ServiceSummary, run_service
from hazmon.config.quality import Quality
from hazmon.config.site import SiteConfig
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings
from hazmon.simulators.site import SimulatedSite
from store.victoria_metrics import VictoriaMetrics  # tests/ is on sys.path (its conftest)

SPEED = 4.0
SECRET = "test-webhook-secret"
SITE_NAME = "e2e"


class WebhookReceiver:
    """An HTTP server on a free port that records POSTs; the first ``fail_first``
    requests are answered 500 (so the route must retry)."""

    def __init__(self, fail_first: int = 2) -> None:
        self.requests: list[tuple[str, bytes]] = []
        self.failures_left = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.requests.append((self.headers[SIGNATURE_HEADER], body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def own_vm(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A VictoriaMetrics of the test's own, which it stops and restarts."""
    binary = os.environ.get("HAZMON_VICTORIA_METRICS") or shutil.which("victoria-metrics")
    if not binary:
        pytest.skip("victoria-metrics is not installed (apt-get install victoria-metrics)")
    server = VictoriaMetrics(binary, tmp_path / "vm-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _site(broker_port: int, vm_url: str, webhook_url: str, tmp_path: Path) -> SiteConfig:
    quiet: dict[str, dict[str, Any]] = {
        "lel": {"baseline": 1.0, "noise": 0.1},
        "o2": {"baseline": 20.9, "noise": 0.02},
        "co": {"baseline": 1.0, "noise": 0.2},
        "h2s": {"baseline": 0.1, "noise": 0.02},
    }
    leak: dict[str, dict[str, Any]] = dict(quiet)
    leak["lel"] = {
        "baseline": 1.0,
        "noise": 0.1,
        "events": [
            {
                "kind": "leak",
                "start": 4.0,
                "rise": 2.0,
                "hold": 10.0,
                "decay": 1.0,
                "amplitude": 70.0,
            }
        ],
    }
    common = {"profile": "generic-4gas", "poll_interval": 0.1, "calibration_due": "2099-01-01"}
    return SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": SITE_NAME,
            "enterprise": "E2E Test Co.",
            "devices": [
                {
                    **common,
                    "id": "gd-leak",
                    "address": "127.0.0.1:1502",
                    "simulation": {"seed": 1, "period": 1000.0, "channels": leak},
                },
                {
                    **common,
                    "id": "gd-quiet",
                    "address": "127.0.0.1:1503",
                    "simulation": {"seed": 2, "period": 1000.0, "channels": quiet},
                },
                {
                    **common,
                    "id": "gd-rtu",
                    "address": "rtu+tcp://127.0.0.1:1504",
                    "timeout": 0.2,
                    "backoff_initial": 0.2,
                    "backoff_max": 0.4,
                    "simulation": {
                        "seed": 3,
                        "period": 1000.0,
                        "channels": quiet,
                        "faults": [{"kind": "no_reply", "start": 6.0, "duration": 6.0}],
                    },
                },
            ],
            "stores": {
                "sqlite": str(tmp_path / "kit.db"),
                "line_protocol_url": vm_url,
                "spool": str(tmp_path / "vm-spool.db"),
            },
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker_port,
                "publish_readings": True,
                "publish_interval": 0.2,
                "spool": str(tmp_path / "mqtt-spool.db"),
            },
            "alerts": {
                "routes": [
                    {"kind": "console"},
                    {"kind": "mqtt"},
                    {
                        "kind": "webhook",
                        "url": webhook_url,
                        "secret_env": "E2E_WEBHOOK_SECRET",
                        "retries": 5,
                    },
                ],
                "dedupe_window": 0.0,
            },
            "service": {"queue_size": 50, "health_interval": 0.5, "shutdown_timeout": 15.0},
        }
    )


async def _until(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Wait for ``condition``; fail naming ``what`` if it never holds (not a timing test)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


def test_service_through_broker_restart_store_outage_and_silent_meter(
    chinese: None,
    tmp_path: Path,
    mqtt_broker: Any,
    own_vm: VictoriaMetrics,
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("E2E_WEBHOOK_SECRET", SECRET)
    site = _site(mqtt_broker.port, own_vm.url, webhook.url, tmp_path)
    console = Console(record=True, width=200)
    origin = time.monotonic()

    def fast_clock() -> float:
        return origin + SPEED * (time.monotonic() - origin)

    events_seen: list[dict[str, Any]] = []

    async def main() -> ServiceSummary:
        stop, ready = asyncio.Event(), asyncio.Event()
        watcher = MqttConnection(MqttSettings("127.0.0.1", mqtt_broker.port))
        async with SimulatedSite(site, free_ports=True, clock=fast_clock) as simulated:
            options = ServiceOptions(
                addresses=simulated.addresses, live=False, stop=stop, manager_ready=ready
            )
            service = asyncio.create_task(run_service(site, console, options))
            await ready.wait()
            await watcher.connect()
            await watcher.subscribe(alert_topic(SITE_NAME, "event", "#"))

            async def watch() -> None:
                async for message in watcher.messages():
                    events_seen.append(json.loads(message.payload))

            watching = asyncio.create_task(watch())
            # The leak is raised (A2 and beyond) before anything is broken.
            await _until(
                lambda: any(
                    e["key"] == "gd-leak/lel" and e["kind"] == "raise" for e in events_seen
                ),
                "the leak's raise alert on MQTT",
            )
            # Broker restart while the leak is active; the service's MQTT route and
            # publisher must come back by themselves.
            mqtt_broker.stop()
            await asyncio.sleep(0.3)
            mqtt_broker.start()
            await watcher.wait_connected(60)
            # Store outage: VictoriaMetrics goes away; the outbox keeps the batches.
            own_vm.stop()
            # Acknowledge the leak over MQTT, as `hazmon alerts ack` does.
            await watcher.publish(
                alert_topic(SITE_NAME, "ack", "gd-leak/lel"),
                json.dumps({"by": "tester"}).encode(),
            )
            await _until(
                lambda: any(e["event"] == "ack" for e in events_seen), "the ack event on MQTT"
            )
            # The silent meter goes silent and answers again; the leak clears.
            await _until(
                lambda: any(e["kind"] == "comm_restored" for e in events_seen),
                "the RTU meter answering again",
            )
            await _until(
                lambda: any(
                    e["key"] == "gd-leak/lel" and e["kind"] == "clear" for e in events_seen
                ),
                "the leak's clear alert",
            )
            own_vm.start()
            stop.set()
            summary = await service
            watching.cancel()
            await watcher.close()
            return summary

    summary = asyncio.run(main())

    # -- every reading accounted for --------------------------------------------------
    polls = sum(state.polls for state in summary.devices)
    with sqlite3.connect(tmp_path / "kit.db") as db:
        rows = db.execute(
            "SELECT c.device, c.quantity, r.quality, r.value FROM readings r "
            "JOIN channels c ON c.id = r.channel_id"
        ).fetchall()
    meter_rows = [row for row in rows if not row[1].startswith("health.")]
    health_rows = [row for row in rows if row[1].startswith("health.")]
    assert len(meter_rows) == 4 * polls
    assert len(health_rows) == summary.health_readings > 0
    silent = [row for row in meter_rows if row[0] == "gd-rtu" and row[2] & Quality.COMM_TIMEOUT]
    assert silent
    assert all(row[3] is None for row in silent)
    assert any(row[1] == "health.online" and row[3] == 0.0 for row in health_rows)
    assert summary.spooled_store_batches == 0
    points = own_vm.wait_for_points(f'hazmon_quality{{site="{SITE_NAME}"}}', len(rows))
    assert len(points) == len(rows)

    # -- alerts raised and cleared in order, on every route -----------------------------
    leak_kinds = [
        e["kind"] for e in events_seen if e["key"] == "gd-leak/lel" and e["event"] == "alert"
    ]
    assert leak_kinds[0] == "raise"
    assert leak_kinds[-1] == "clear"
    comm = [e["kind"] for e in events_seen if e["key"] == "gd-rtu/_comm"]
    assert comm[:2] == ["comm_fault", "comm_restored"]
    bodies = []
    for signature, body in webhook.requests:
        assert verify(SECRET.encode(), signature, body)
        bodies.append(json.loads(body))
    hook_leak = [b["kind"] for b in bodies if b["key"] == "gd-leak/lel" and b["event"] == "alert"]
    assert hook_leak[0] == "raise"
    assert hook_leak[-1] == "clear"
    assert any(b["event"] == "ack" and b["acknowledged_by"] == "tester" for b in bodies)
    assert summary.routes[f"webhook {webhook.url}"][1] == 0  # retried, never given up
    output = console.export_text()
    assert " 报警 " in output
    assert " 解除 " in output
    assert "通信故障" in output
    assert SECRET not in output
