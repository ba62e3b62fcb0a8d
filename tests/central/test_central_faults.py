"""The fault test: a 3-node NATS cluster, two central workers (then a third), kits
publishing over MQTT at a known rate; mid-run one broker node and one worker are
killed with SIGKILL and started again. Afterwards every published reading is stored
exactly once, each of the two leaks is one event and one hazard, and the ownership
logs show no partition judged by two workers at once.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
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
    stream_distinct_messages,
    stream_state,
    wait_until,
)

CHANNELS = [lel(f"kit-{k}", f"gd-{d}") for k in range(3) for d in range(2)]
LEAKS = {CHANNELS[1].key, CHANNELS[4].key}
MESSAGES = 120  # per channel, one every INTERVAL_S
PER_MESSAGE = 5  # readings, 1 s apart in reading time
INTERVAL_S = 0.1


def _values(channel_key: tuple[str, ...], first: int) -> list[float]:
    """5 %LEL, and 60 %LEL for readings 450–489 on a leaking channel (by hand: one
    A2 event of 40 readings from T0 + 450 s, peak 60 %LEL; published after the
    faults, when the cluster has recovered)."""
    leak = channel_key in LEAKS
    return [60.0 if leak and 450 <= i < 490 else 5.0 for i in range(first, first + PER_MESSAGE)]


def _spans(tmp_path: Path, killed: dict[str, int]) -> dict[int, list[tuple[int, int, str]]]:
    """Per partition, every batch a worker judged: (start, end, worker) [ns]. A batch
    a killed worker had begun and not finished ends at its kill."""
    spans: dict[int, list[tuple[int, int, str]]] = {}
    for log in tmp_path.glob("*.ownership.jsonl"):
        open_batch: dict[tuple[str, int], int] = {}
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            key = (entry["worker"], entry["partition"])
            if entry["what"] == "judge":
                if key in open_batch:  # the process was killed mid-batch, then restarted
                    spans.setdefault(key[1], []).append((open_batch[key], entry["ts"], key[0]))
                open_batch[key] = entry["ts"]
            elif entry["what"] == "judged":
                start = open_batch.pop(key)
                spans.setdefault(key[1], []).append((start, entry["ts"], key[0]))
        for (worker, partition), start in open_batch.items():
            spans.setdefault(partition, []).append((start, killed.get(worker, start), worker))
    return spans


@pytest.mark.slow
def test_node_and_worker_killed_mid_run_lose_and_double_nothing(
    nats_cluster: NatsCluster, pg_register: str, tmp_path: Path
) -> None:
    urls = nats_cluster.urls
    workers = {name: start_worker(tmp_path, name, urls, pg_register) for name in ("w1", "w2")}
    killed: dict[str, int] = {}
    try:
        wait_until(
            "the two workers hold the 8 partitions between them",
            lambda: sum(len(status(s).get("partitions", [])) for _, s in workers.values()) == 8,
        )
        kit = Kit(nats_cluster.nodes[0].mqtt, "kits")
        for number in range(MESSAGES):
            if number == 15:
                nats_cluster.kill(2)
            if number == 50:
                process = workers["w1"][0]
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
                killed["w1"] = time.time_ns()
            if number == 60:
                nats_cluster.start(2)
            if number == 70:
                workers["w3"] = start_worker(tmp_path, "w3", urls, pg_register)
            for channel in CHANNELS:
                first = number * PER_MESSAGE
                times = [T0 + (first + i) * SECOND for i in range(PER_MESSAGE)]
                kit.send(channel, times, _values(channel.key, first))
            time.sleep(INTERVAL_S)  # the kits' publishing rate, not a readiness wait
        kit.close()

        published = len(CHANNELS) * MESSAGES
        # What the broker holds: the NATS MQTT gateway acknowledges (PUBACK) a QoS 1
        # message without waiting for JetStream, so one published while the stream
        # elects a new leader is lost by the broker (docs). The workers' duty: store
        # exactly what the broker holds, and count what it lost as gaps.
        # A message the kit sent again after a lost PUBACK may be in the stream twice;
        # its readings are stored once.
        in_stream = stream_distinct_messages(urls)
        expected = in_stream * PER_MESSAGE
        database = tmp_path / "central.db"
        try:
            wait_until(
                f"{expected} readings stored",
                lambda: len(stored_readings(database)) >= expected,
                deadline_s=120,
            )
        except AssertionError as error:
            raise AssertionError(
                f"{error}\n{kit.resent} messages sent again\n{stream_state(urls)}"
            ) from None
        rows = stored_readings(database)
        assert len(rows) == expected
        assert len({(site, device, ts) for site, device, ts, _ in rows}) == expected
        lost = published - in_stream
        if lost:
            wait_until(
                "the broker's loss counted as gaps",
                lambda: (
                    sum(
                        sum(status(s).get("gaps", {}).values())
                        for name, (_, s) in workers.items()
                        if name != "w1"
                    )
                    > 0
                ),
            )
        print(f"published {published} messages, the broker kept {in_stream}")

        engine = create_engine(pg_register)
        try:

            def events() -> list[tuple[str, str, int, float]]:
                with engine.connect() as connection:
                    return [
                        tuple(row)
                        for row in connection.execute(
                            text("SELECT site, device, start_ts, peak FROM events ORDER BY site")
                        )
                    ]

            wait_until("both leaks filed", lambda: len(events()) >= 2, deadline_s=120)
            with engine.connect() as connection:
                hazards = connection.execute(text("SELECT source FROM hazards")).scalars().all()
        finally:
            engine.dispose()
        assert events() == [
            ("kit-0", "gd-1", T0 + 450 * SECOND, 60.0),
            ("kit-2", "gd-0", T0 + 450 * SECOND, 60.0),
        ]
        assert hazards == ["central", "central"]
    finally:
        for process, _ in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, _ in workers.values():
            process.wait(timeout=60)

    spans = _spans(tmp_path, killed)
    # The kill moved partitions: some were judged by two workers, one after the other.
    assert any(len({worker for *_, worker in batches}) > 1 for batches in spans.values())
    for partition, batches in spans.items():
        for start, end, worker in batches:
            for other_start, other_end, other in batches:
                assert worker == other or end <= other_start or other_end <= start, (
                    f"partition {partition} judged by {worker} and {other} at once"
                )
