"""Central alerts over real routes: a fixed meter's leak published over MQTT to a real
3-node NATS cluster is judged by a central worker (``hazmon central run --alerts``),
and a real HTTP receiver gets the raise and the clear once each, signed, plus the
worker's health alerts (a message gap, a dead letter) for the site they concern.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from .cluster import NatsCluster
from .kit import SECOND, T0, Kit, lel, start_worker, status, wait_until, wait_until_holding
from .test_central_worker import _payload
from .webhook import SECRET, SECRET_VARIABLE, Receiver, alerts_file


def test_a_central_leak_raise_and_clear_reach_the_webhook_once(
    english: None,
    nats_cluster: NatsCluster,
    pg_register: str,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    alerts = alerts_file(tmp_path, receiver.url)
    worker, status_file = start_worker(
        tmp_path, "w1", nats_cluster.urls, pg_register, extra=("--alerts", str(alerts))
    )
    try:
        wait_until_holding(status_file)
        kit = Kit(nats_cluster.nodes[0].mqtt, "meter-9")
        meter = lel("city", "meter-9")
        # GB/T 50493-2019 §5.5.2: a combustible gas's first set point (A1) is 25 %LEL,
        # its second (A2, which latches until acknowledged) 50 %LEL. By hand: 5 %LEL is
        # level 0, 30 %LEL level 1; so reading 10 (the first 30) raises 0 → 1 and
        # reading 20 (the first 5 after) clears 1 → 0: one raise, one clear.
        values = [5.0] * 10 + [30.0] * 10 + [5.0] * 20
        times = [T0 + i * SECOND for i in range(40)]
        kit.send(meter, times[0:10], values[0:10])
        kit.send(meter, times[10:20], values[10:20])
        kit.send(meter, times[20:30], values[20:30], skip=1)  # message 3 "lost": seq 4
        kit.send(meter, times[30:40], values[30:40])
        # A payload naming another site than its topic: a dead letter of site-a.
        kit.raw("hazmon/site-a/gd-1/lel", _payload(lel("site-b", "gd-1"), T0, 99.0))
        kit.close()

        wait_until("40 readings judged", lambda: status(status_file).get("readings") == 40)
        wait_until("one dead letter", lambda: status(status_file).get("dead_letters") == 1)
        wait_until(
            "raise, clear, gap and dead letter posted",
            lambda: all(
                receiver.events(kind) for kind in ("raise", "clear", "message_gap", "dead_letter")
            ),
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    log = (tmp_path / "w1.log").read_text(encoding="utf-8", errors="replace")
    assert code == 0, log
    # After a clean stop (the routes drained), still once each: nothing twice.
    assert all(signed for signed, _ in receiver.posts), receiver.posts
    (raised,) = receiver.events("raise")
    (cleared,) = receiver.events("clear")
    assert (raised["site"], raised["key"], raised["level"], raised["value"]) == (
        "city",
        "meter-9/lel",
        1,
        30.0,
    )
    assert raised["ts"] == T0 + 10 * SECOND
    # The rule's citation, as a kit's alert carries it.
    assert raised["citation"].startswith("GB/T 50493-2019 §5.5.2")
    assert (cleared["site"], cleared["key"], cleared["level"]) == ("city", "meter-9/lel", 0)
    assert cleared["ts"] == T0 + 20 * SECOND
    assert cleared["id"] == raised["id"]  # the same condition, ended
    (gap,) = receiver.events("message_gap")
    assert (gap["site"], gap["key"]) == ("city", "meter-9/lel")
    assert "1 message(s) of city never arrived" in gap["message"]
    (dead,) = receiver.events("dead_letter")
    assert (dead["site"], dead["key"]) == ("site-a", "gd-1/lel")
    assert "its topic site-a/gd-1/lel" in dead["message"]
    assert len(receiver.posts) == 4
    routes = {route["name"]: route for route in status(status_file)["alert_routes"]}
    assert routes[f"webhook {receiver.url}"]["delivered"] == 4
    assert routes[f"webhook {receiver.url}"]["failed"] == 0
    # The console route printed the alarm in the worker's output too.
    assert "ALARM       meter-9/lel normal → A1 at 30 %LEL" in log
