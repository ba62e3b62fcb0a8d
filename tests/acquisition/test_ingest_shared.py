"""Central ingest: a field kit publishes readings, two ingest clients share them
through an MQTT 5 shared subscription, across a broker restart.

Asserted: the two central stores together hold exactly the readings the kit stored
(none lost, none twice across the two), each client took a share, and a malformed
message is counted and does not stop ingest.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from conftest import Broker
from hazmon.acquisition.ingest import IngestOptions, IngestStats, run_ingest
from hazmon.acquisition.publish import decode_readings, encode_readings
from hazmon.acquisition.service import ServiceOptions, ServiceSummary, run_service
from hazmon.analysis.readings import Channel
from hazmon.config.site import SiteConfig
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings
from hazmon.simulators.site import SimulatedSite


class PersistentBroker(Broker):
    """Mosquitto that saves sessions and queued messages when stopped (SIGTERM), so a
    restart loses nothing queued for a persistent session, as a production broker."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {directory}/\nlog_dest none\n",
            encoding="utf-8",
        )


@pytest.fixture
def persistent_broker(tmp_path: Path) -> Iterator[PersistentBroker]:
    broker = PersistentBroker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _site(port: int, tmp_path: Path) -> SiteConfig:
    quiet = {"lel": {"baseline": 1.0, "noise": 0.1}, "o2": {"baseline": 20.9, "noise": 0.02}}
    return SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": "kit-a",
            "enterprise": "Ingest Test Co.",
            "devices": [
                {
                    "id": f"gd-{n}",
                    "profile": "generic-4gas",
                    "address": f"127.0.0.1:{1600 + n}",
                    "poll_interval": 0.05,
                    "simulation": {"seed": n, "channels": quiet},
                }
                for n in range(4)
            ],
            "stores": {"sqlite": str(tmp_path / "kit.db")},
            "mqtt": {
                "host": "127.0.0.1",
                "port": port,
                "publish_readings": True,
                "publish_interval": 0.1,
                "spool": str(tmp_path / "kit-spool.db"),
            },
            "service": {"health_interval": 0.5},
        }
    )


def _keys(path: Path) -> list[tuple[str, str, int]]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT c.device, c.quantity, r.ts FROM readings r "
            "JOIN channels c ON c.id = r.channel_id"
        ).fetchall()


def _stored(path: Path) -> int:
    """Readings in a store that may not exist yet or be busy being written."""
    try:
        return len(_keys(path)) if path.exists() else 0
    except sqlite3.Error:
        return 0


async def _until(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


def test_two_ingest_clients_split_the_kit_readings_through_a_broker_restart(
    tmp_path: Path, persistent_broker: PersistentBroker
) -> None:
    port = persistent_broker.port
    site = _site(port, tmp_path)

    def ingest_options(number: int, stop: asyncio.Event, ready: asyncio.Event) -> IngestOptions:
        return IngestOptions(
            settings=MqttSettings(
                "127.0.0.1",
                port,
                client_id=f"ingest-{number}",
                clean_start=False,
                session_expiry=600,
            ),
            database=tmp_path / f"central-{number}.db",
            stop=stop,
            ready=ready,
        )

    async def main() -> tuple[ServiceSummary, list[IngestStats]]:
        ingest_stop = asyncio.Event()
        readies = [asyncio.Event(), asyncio.Event()]
        ingests = [
            asyncio.create_task(run_ingest(ingest_options(n, ingest_stop, readies[n])))
            for n in range(2)
        ]
        for ready in readies:
            await ready.wait()
        kit_stop, kit_ready = asyncio.Event(), asyncio.Event()
        async with SimulatedSite(site, free_ports=True) as simulated:
            kit = asyncio.create_task(
                run_service(
                    site,
                    Console(record=True),
                    ServiceOptions(
                        addresses=simulated.addresses,
                        live=False,
                        stop=kit_stop,
                        manager_ready=kit_ready,
                    ),
                )
            )
            await kit_ready.wait()
            # A malformed message among the good ones: counted, not fatal.
            async with MqttConnection(MqttSettings("127.0.0.1", port)) as rogue:
                await rogue.publish("hazmon/kit-a/gd-0/lel", b"{not json")
            await _until(
                lambda: all(_stored(tmp_path / f"central-{n}.db") > 0 for n in range(2)),
                "both ingest clients storing the kit's readings",
            )
            persistent_broker.stop()
            await asyncio.sleep(0.3)  # the broker stays down a while: the kit spools
            persistent_broker.start()
            before = sum(_stored(tmp_path / f"central-{n}.db") for n in range(2))
            await _until(
                lambda: sum(_stored(tmp_path / f"central-{n}.db") for n in range(2)) > before,
                "readings reaching the central stores again after the restart",
            )
            kit_stop.set()
            summary = await kit
        kit_rows = len(_keys(tmp_path / "kit.db"))

        def central_rows() -> int:
            return sum(
                len(_keys(tmp_path / f"central-{n}.db"))
                for n in range(2)
                if (tmp_path / f"central-{n}.db").exists()
            )

        await _until(lambda: central_rows() >= kit_rows, "the central stores catching up")
        ingest_stop.set()
        stats = [await task for task in ingests]
        return summary, stats

    summary, stats = asyncio.run(main())
    kit = _keys(tmp_path / "kit.db")
    central = [_keys(tmp_path / f"central-{n}.db") for n in range(2)]
    assert summary.spooled_messages == 0
    assert all(len(rows) > 0 for rows in central)  # the load was shared
    together = central[0] + central[1]
    assert sorted(together) == sorted(kit)  # every reading once, none lost, none twice
    assert sum(s.rejected for s in stats) == 1


def test_payload_round_trip_keeps_missing_values_and_flags() -> None:
    channel = Channel(site="s", device="d", quantity="co", unit="ppm")
    payload = encode_readings(
        channel,
        np.array([1, 2], dtype=np.int64),
        np.array([1.5, np.nan]),
        np.array([0, 1], dtype=np.uint16),
        np.array([0, 0], dtype=np.uint8),
    )
    decoded = decode_readings(payload)
    assert decoded.channel == channel
    assert decoded.ts.tolist() == [1, 2]
    assert decoded.value[0] == 1.5
    assert np.isnan(decoded.value[1])
    assert decoded.quality.tolist() == [0, 1]
