"""A latched alarm judged centrally is acknowledged on the desk, and clears.

A fixed meter (no kit) reports a combustible leak to a real 3-node NATS cluster; a
central worker (``hazmon central run --alerts``) judges it and posts to a real webhook
receiver. The combustible A2 alarm latches: it stays raised after the gas is gone. The
officer acknowledges the leak's event on the desk's live page (the real desk app, its
JSON API, over the same PostgreSQL register the worker files into); the worker finds
the acknowledgement in the register, the latch releases at the meter's next reading
and the clear reaches the webhook once. An acknowledgement of an older event never
releases a newer latched alarm.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from hazmon.store.accounts import Accounts
from hazmon.store.hazards import HazardRegister, events_table
from hazmon.web.app import DeskSettings, create_app

from .cluster import NatsCluster
from .kit import SECOND, T0, Kit, lel, start_worker, status, wait_until, wait_until_holding
from .webhook import SECRET, SECRET_VARIABLE, Receiver, alerts_file

OFFICER = "王科长 (officer)"
PASSWORD = "correct-horse-1"


def _event_ids(url: str, device: str) -> list[tuple[int, int]]:
    """(event id, start [ns]) of every event of ``device`` in the register, by start."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(events_table.c.id, events_table.c.start_ts)
                .where(events_table.c.device == device)
                .order_by(events_table.c.start_ts)
            ).all()
    finally:
        engine.dispose()
    return [(int(row.id), int(row.start_ts)) for row in rows]


def _times(first: int, count: int) -> list[int]:
    return [T0 + (first + i) * SECOND for i in range(count)]


class Desk:
    """The real desk app on the test register, an officer signed in through its API."""

    def __init__(self, url: str) -> None:
        # The register first, and the officer's account in it: desk and workers share it.
        with HazardRegister(url) as register:
            Accounts(register.engine).add(
                "officer", PASSWORD, role="officer", display_name="王科长"
            )
        self.app = create_app(DeskSettings(url, None))
        self.officer = TestClient(self.app)
        signed_in = self.officer.post(
            "/api/login", json={"username": "officer", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        self.csrf = {"X-CSRF-Token": signed_in.json()["csrf_token"]}

    def acknowledge(self, event_id: int, reason: str) -> None:
        """As the live page does: the officer's acknowledgement, with a reason."""
        response = self.officer.post(
            f"/api/alerts/{event_id}/ack", json={"reason": reason}, headers=self.csrf
        )
        assert response.status_code == 200, response.text

    def close(self) -> None:
        self.app.state.desk.close()


def test_a_central_a2_stays_raised_until_the_desk_acknowledges_it_then_clears_once(
    nats_cluster: NatsCluster,
    pg_register: str,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    desk = Desk(pg_register)
    acknowledge = desk.acknowledge

    worker, status_file = start_worker(
        tmp_path,
        "w1",
        nats_cluster.urls,
        pg_register,
        extra=("--alerts", str(alerts_file(tmp_path, receiver.url))),
    )
    try:
        wait_until_holding(status_file)
        kit = Kit(nats_cluster.nodes[0].mqtt, "fixed-meters")
        m7, m8 = lel("city", "meter-7"), lel("city", "meter-8")
        # GB/T 50493-2019 §5.5.2: A1 at 25 %LEL, A2 at 50 %LEL; A2 latches until
        # acknowledged. By hand, reading i at T0 + i s:
        # meter-7: 5 (0-9) level 0; 60 (10-19) raises 0 → 2 at 10 s; 5 (20-29): the
        #   condition (and the event, 10-19 s) ends at 20 s, the alarm stays A2.
        # meter-8: 60 (10-14) raises at 10 s; 5 (15-19) ends event E (10-14 s), stays A2;
        #   60 (20-29) is a new run of the A2 condition (event F from 20 s), still A2.
        kit.send(m7, _times(0, 10), [5.0] * 10)
        kit.send(m7, _times(10, 10), [60.0] * 10)
        kit.send(m7, _times(20, 10), [5.0] * 10)
        kit.send(m8, _times(0, 10), [5.0] * 10)
        kit.send(m8, _times(10, 10), [60.0] * 5 + [5.0] * 5)
        kit.send(m8, _times(20, 10), [60.0] * 10)
        wait_until("60 readings judged", lambda: status(status_file).get("readings") == 60)
        wait_until("meter-7's event filed", lambda: len(_event_ids(pg_register, "meter-7")) == 1)
        wait_until("meter-8's event E filed", lambda: len(_event_ids(pg_register, "meter-8")) == 1)
        ((event_7, start_7),) = _event_ids(pg_register, "meter-7")
        ((event_e, start_e),) = _event_ids(pg_register, "meter-8")
        assert (start_7, start_e) == (T0 + 10 * SECOND, T0 + 10 * SECOND)
        # The gas at meter-7 is gone; its alarm is latched: nothing cleared.
        assert receiver.events("clear") == []

        # E's acknowledgement first: when meter-7's is applied, E's is in the register too.
        acknowledge(event_e, "现场确认：8号表第一次泄漏已处置")
        acknowledge(event_7, "现场确认：7号表泄漏点已关阀")
        wait_until("meter-7's ack posted", lambda: receiver.notices("ack", "meter-7/lel"))
        checked = status(status_file).get("acknowledgement_checks", 0)
        # Two more looks at the register: E's acknowledgement was seen and judged.
        wait_until(
            "two more looks at the register",
            lambda: status(status_file).get("acknowledgement_checks", 0) >= checked + 2,
        )
        # The meters' next readings: meter-7's latch releases at 30 s; meter-8's alarm
        # is the run F (from 20 s), which E's acknowledgement does not release.
        kit.send(m7, _times(30, 10), [5.0] * 10)
        kit.send(m8, _times(30, 10), [5.0] * 10)
        wait_until("80 readings judged", lambda: status(status_file).get("readings") == 80)
        wait_until("meter-7's clear posted", lambda: receiver.events("clear"))
        wait_until("meter-8's event F filed", lambda: len(_event_ids(pg_register, "meter-8")) == 2)
        assert [body["key"] for body in receiver.events("clear")] == ["meter-7/lel"]
        assert receiver.notices("ack", "meter-8/lel") == []

        (_, (event_f, start_f)) = _event_ids(pg_register, "meter-8")
        assert start_f == T0 + 20 * SECOND
        acknowledge(event_f, "现场确认：8号表第二次泄漏已处置")
        wait_until("meter-8's ack posted", lambda: receiver.notices("ack", "meter-8/lel"))
        kit.send(m8, _times(40, 5), [5.0] * 5)
        wait_until("meter-8's clear posted", lambda: len(receiver.events("clear")) == 2)
        kit.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
        desk.close()
    log = (tmp_path / "w1.log").read_text(encoding="utf-8", errors="replace")
    assert code == 0, log
    assert all(signed for signed, _ in receiver.posts), receiver.posts
    # After a clean stop (the routes drained), still once each.
    for key, cleared_at in (("meter-7/lel", 30), ("meter-8/lel", 40)):
        (raised,) = [b for b in receiver.notices("alert", key) if b["kind"] == "raise"]
        assert (raised["kind"], raised["level"], raised["value"]) == ("raise", 2, 60.0)
        assert raised["ts"] == T0 + 10 * SECOND
        (ack,) = receiver.notices("ack", key)
        assert ack["acknowledged_by"] == OFFICER
        assert ack["id"] == raised["id"]
        (cleared,) = [body for body in receiver.events("clear") if body["key"] == key]
        assert (cleared["level"], cleared["ts"]) == (0, T0 + cleared_at * SECOND)
        assert cleared["id"] == raised["id"]  # the same condition, ended
    assert status(status_file)["acknowledged"] == 2


def test_an_acknowledgement_survives_the_partition_moving_to_another_worker(
    nats_cluster: NatsCluster,
    pg_register: str,
    tmp_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    desk = Desk(pg_register)
    alerts = ("--alerts", str(alerts_file(tmp_path, receiver.url)))
    kit = Kit(nats_cluster.nodes[0].mqtt, "fixed-meters")
    m7 = lel("city", "meter-7")
    w1, status_1 = start_worker(tmp_path, "w1", nats_cluster.urls, pg_register, extra=alerts)
    try:
        wait_until_holding(status_1, who="w1")
        # As above: A2 raised at 10 s, latched once the gas is gone at 20 s.
        kit.send(m7, _times(0, 10), [5.0] * 10)
        kit.send(m7, _times(10, 10), [60.0] * 10)
        kit.send(m7, _times(20, 10), [5.0] * 10)
        wait_until("meter-7's event filed", lambda: len(_event_ids(pg_register, "meter-7")) == 1)
        wait_until("w1 posted the raise", lambda: receiver.events("raise"))
    finally:
        w1.send_signal(signal.SIGTERM)
        code = w1.wait(timeout=60)
    assert code == 0, (tmp_path / "w1.log").read_text(encoding="utf-8", errors="replace")
    # Acknowledged while no worker runs: it lives in the register only.
    ((event_7, _),) = _event_ids(pg_register, "meter-7")
    desk.acknowledge(event_7, "现场确认：7号表泄漏点已关阀")
    w2, status_2 = start_worker(tmp_path, "w2", nats_cluster.urls, pg_register, extra=alerts)
    try:
        # Sent at once, before w2 holds anything: w2 replays the partition (the latch is
        # back), applies the stored acknowledgement, and only then judges these.
        kit.send(m7, _times(30, 10), [5.0] * 10)
        wait_until("w2 judged the new readings", lambda: status(status_2).get("readings") == 10)
        kit.close()
    finally:
        w2.send_signal(signal.SIGTERM)
        code = w2.wait(timeout=60)
        desk.close()
    assert code == 0, (tmp_path / "w2.log").read_text(encoding="utf-8", errors="replace")
    assert status(status_2)["acknowledged"] == 1
    # Without the stored acknowledgement w2's first reading would raise the latched A2
    # again (w2 never raised it): the alarm, acknowledged, did not come back.
    raises = [b for b in receiver.events("raise") if b["event"] == "alert"]
    assert [(b["key"], b["level"], b["ts"]) for b in raises] == [
        ("meter-7/lel", 2, T0 + 10 * SECOND)
    ]
    # And w2 clears what w1 raised, once, at its first reading (T0 + 30 s), from the
    # A2 its replay ended in: before, nobody cleared it (w2 had not raised it).
    (cleared,) = receiver.events("clear")
    assert (cleared["key"], cleared["level"], cleared["previous_level"], cleared["ts"]) == (
        "meter-7/lel",
        0,
        2,
        T0 + 30 * SECOND,
    )
