"""One central worker on a real 3-node NATS cluster: a fixed meter with no kit beside
it publishing a leak becomes a hazard filed centrally; a spoofed and a malformed
message become dead letters without stopping the worker; a missing message number is
a counted gap; a message that comes after the ones behind it is judged in its place;
a numbered message set aside is confirmed and waited for by none.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from .cluster import NatsCluster
from .kit import (
    SECOND,
    T0,
    Kit,
    lel,
    start_worker,
    status,
    stored_readings,
    wait_until,
    wait_until_holding,
)


def test_fixed_meter_leak_becomes_a_central_hazard(
    nats_cluster: NatsCluster, pg_register: str, tmp_path: Path
) -> None:
    worker, status_file = start_worker(tmp_path, "w1", nats_cluster.urls, pg_register)
    try:
        wait_until_holding(status_file)
        kit = Kit(nats_cluster.nodes[1].mqtt, "meter-9")
        meter = lel("city", "meter-9")
        # 40 readings 1 s apart in 4 messages: 10 × 5 %LEL, 10 × 60 %LEL, 20 × 5 %LEL.
        # GB/T 50493-2019: the second set point (A2) of a combustible gas is 50 %LEL, so
        # by hand the A2 event starts at reading 10 (T0 + 10 s), peaks at 60 %LEL and
        # ends with reading 19; one event, one hazard.
        values = [5.0] * 10 + [60.0] * 10 + [5.0] * 20
        times = [T0 + i * SECOND for i in range(40)]
        kit.send(meter, times[0:10], values[0:10])
        kit.send(meter, times[10:20], values[10:20])
        kit.send(meter, times[20:30], values[20:30])
        kit.send(meter, times[30:40], values[30:40], skip=1)  # message 4 "lost": seq 5
        # A payload naming another site than its topic, and a 2-D value.
        spoofed = json.loads(kit_payload := _payload(lel("site-b", "gd-1"), T0, 99.0))
        kit.raw("hazmon/site-a/gd-1/lel", kit_payload)
        spoofed["value"] = [[1.0, 2.0]]
        kit.raw("hazmon/site-b/gd-1/lel", json.dumps(spoofed).encode())
        kit.close()

        wait_until(
            "40 readings stored", lambda: len(stored_readings(tmp_path / "central.db")) == 40
        )
        wait_until("two dead letters", lambda: status(status_file).get("dead_letters") == 2)
        engine = create_engine(pg_register)
        try:

            def hazards() -> list[tuple[str, int]]:
                with engine.connect() as connection:
                    return list(connection.execute(text("SELECT source, id FROM hazards")).tuples())

            wait_until("the hazard filed", lambda: len(hazards()) == 1)
            with engine.connect() as connection:
                events = connection.execute(
                    text("SELECT site, device, level, start_ts, peak FROM events")
                ).all()
        finally:
            engine.dispose()
        assert hazards()[0][0] == "central"
        assert [tuple(e) for e in events] == [("city", "meter-9", 2, T0 + 10 * SECOND, 60.0)]
        # Message 5 waited its 10 s for 4, then was judged without it: one gap.
        wait_until("the gap counted", lambda: status(status_file).get("gaps") == {"city": 1})
        health = status(status_file)
        assert health["rejected"] == 1
        assert (health["waited"], health["late"]) == (1, 0)
        assert health["readings"] == 40

        listing = subprocess.run(
            [
                str(Path(sys.executable).parent / "hazmon"),
                "central",
                "dead-letters",
                "--nats",
                ",".join(nats_cluster.urls),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listing.returncode == 0, listing.stderr
        assert "2 dead letter(s)" in listing.stdout
        assert "its topic site-a/gd-1/lel" in listing.stdout
        assert "'value' holds something other than numbers" in listing.stdout
        as_json = subprocess.run(
            [
                str(Path(sys.executable).parent / "hazmon"),
                "central",
                "dead-letters",
                "--json",
                "--nats",
                ",".join(nats_cluster.urls),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert as_json.returncode == 0, as_json.stderr
        letters = json.loads(as_json.stdout)
        assert len(letters) == 2
        assert set(letters[0]) == {"seq", "subject", "reason", "worker", "payload"}
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def test_a_leak_sent_again_after_the_messages_behind_it_is_judged_in_its_place(
    nats_cluster: NatsCluster, pg_register: str, tmp_path: Path
) -> None:
    """The leak's message is lost on the way (the NATS gateway acknowledged it and
    JetStream never stored it) and the kit sends it again after two later ones came.

    Readings as in the test above, by hand: 5 %LEL at T0 + 0..9 s, 60 %LEL at
    T0 + 10..19 s (message 2), 5 %LEL after. GB/T 50493-2019's second set point (A2)
    for a combustible gas is 50 %LEL, so one A2 event from T0 + 10 s, peak 60 %LEL.
    Judged in arrival order the leak's readings would be older than the channel's
    newest, stored and never judged: no event at all.
    """
    worker, status_file = start_worker(
        tmp_path, "w1", nats_cluster.urls, pg_register, extra=("--reorder-wait", "120")
    )
    try:
        wait_until_holding(status_file)
        kit = Kit(nats_cluster.nodes[2].mqtt, "meter-7")
        meter = lel("city", "meter-7")
        values = [5.0] * 10 + [60.0] * 10 + [5.0] * 20
        times = [T0 + i * SECOND for i in range(40)]
        kit.send(meter, times[0:10], values[0:10], seq=1)
        kit.send(meter, times[20:30], values[20:30], seq=3)
        kit.send(meter, times[30:40], values[30:40], seq=4)
        # The worker has 3 and 4 before 2 comes (a 120 s wait: it cannot pass first).
        wait_until("messages 3 and 4 wait", lambda: status(status_file).get("waited") == 2)
        kit.send(meter, times[10:20], values[10:20], seq=2)
        kit.close()

        wait_until(
            "40 readings stored", lambda: len(stored_readings(tmp_path / "central.db")) == 40
        )
        engine = create_engine(pg_register)
        try:

            def events() -> list[tuple[str, str, int, int, float]]:
                with engine.connect() as connection:
                    return [
                        tuple(row)
                        for row in connection.execute(
                            text("SELECT site, device, level, start_ts, peak FROM events")
                        )
                    ]

            wait_until("the event filed", lambda: len(events()) == 1)
        finally:
            engine.dispose()
        assert events() == [("city", "meter-7", 2, T0 + 10 * SECOND, 60.0)]
        health = status(status_file)
        assert (health["gaps"], health["late"], health["duplicates"]) == ({}, 0, 0)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def test_a_numbered_message_set_aside_is_confirmed_and_the_ones_after_it_do_not_wait(
    nats_cluster: NatsCluster, pg_register: str, tmp_path: Path
) -> None:
    """Messages 1 and 3 of a run are good; 2 carries a 2-D value (a dead letter) and is
    sent again. Waited for, 2 would hold 3 for the whole reorder wait (120 s here) and
    be named missing in every confirmation, so the kit would send it, and the centre
    set it aside, for as long as the kit runs. Read for its number, 2 is kept once and
    confirmed: the run is confirmed up to 3, nothing missing, nothing waited."""
    worker, status_file = start_worker(
        tmp_path, "w1", nats_cluster.urls, pg_register, extra=("--reorder-wait", "120")
    )
    try:
        wait_until_holding(status_file)
        kit = Kit(nats_cluster.nodes[1].mqtt, "meter-5")
        meter = lel("city", "meter-5")
        kit.listen_for_confirmations(meter)
        times = [T0 + i * SECOND for i in range(30)]
        kit.send(meter, times[0:10], [5.0] * 10)
        bad = json.loads(_payload(meter, times[10], 5.0))
        bad.update(value=[[1.0, 2.0]], boot=kit.boot, seq=2)
        kit.raw("hazmon/city/meter-5/lel", json.dumps(bad).encode())
        kit.send(meter, times[20:30], [5.0] * 10, skip=1)  # seq 3
        wait_until(
            "20 readings stored", lambda: len(stored_readings(tmp_path / "central.db")) == 20
        )
        wait_until(
            "the run confirmed up to 3",
            lambda: any(confirmed.seq == 3 for confirmed in kit.confirmations),
        )
        kit.raw("hazmon/city/meter-5/lel", json.dumps(bad).encode())  # 2 again
        wait_until("the repeat counted", lambda: status(status_file).get("duplicates") == 1)
        kit.close()
        confirmed = next(c for c in kit.confirmations if c.seq == 3)
        assert (confirmed.boot, confirmed.missing) == (kit.boot, ())
        health = status(status_file)
        assert (health["dead_letters"], health["waited"], health["gaps"]) == (1, 0, {})
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def _payload(channel: object, ts: int, value: float) -> bytes:
    import numpy as np

    from hazmon.acquisition.publish import encode_readings

    return encode_readings(
        channel,  # type: ignore[arg-type]
        np.asarray([ts], dtype=np.int64),
        np.asarray([value]),
        np.zeros(1, dtype=np.uint16),
        np.zeros(1, dtype=np.uint8),
    )
