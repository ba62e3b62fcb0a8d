"""The demo pipeline end to end: simulated site → Modbus TCP → analysis → SQLite.

The demo site's scenario runs on a clock four times faster than the wall clock, so a
few seconds cover the leak (past A2 and back) and the oxygen dip.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from hazmon.acquisition.session import SessionSummary, run_session
from hazmon.analysis.readings import Channel
from hazmon.config.site import SiteConfig, load_site
from hazmon.simulators.site import SimulatedSite
from hazmon.store.hazards import HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SPEED = 4.0


def _fast_demo_site() -> SiteConfig:
    _source, site = load_site("demo")
    devices = [device.model_copy(update={"poll_interval": 0.1}) for device in site.devices]
    return site.model_copy(update={"devices": devices})


def _run(database: Path, console: Console, duration: float) -> SessionSummary:
    site = _fast_demo_site()
    origin = time.monotonic()

    def fast_clock() -> float:
        return origin + SPEED * (time.monotonic() - origin)

    async def main() -> SessionSummary:
        async with SimulatedSite(site, free_ports=True, clock=fast_clock) as simulated:
            return await run_session(
                site,
                database,
                console,
                duration=duration,
                addresses=simulated.addresses,
                live=False,
            )

    return asyncio.run(main())


def test_leak_becomes_an_a2_event_and_a_hazard_whose_evidence_is_stored(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    console = Console(record=True, width=200)
    summary = _run(database, console, duration=3.5)
    output = console.export_text()

    # Every meter was polled (3 meters × 4 channels × a few polls): the count of polls in
    # 3.5 s of wall time depends on the machine's load, so no more is asked of it.
    assert summary.stats.readings >= 3 * 4 * 3
    assert "ALARM" in output
    assert "gd-tank-farm/lel" in output
    assert "A1 → A2" in output

    with HazardRegister(f"sqlite:///{database}") as register:
        hazards = register.hazards()
    leak = [hazard for hazard in hazards if hazard["rule_id"] == "gbt50493.combustible"]
    assert len(leak) == 1
    record = leak[0]
    assert record["status"] == "pending_review"
    assert record["standard"] == "GB/T 50493-2019"
    assert record["clause"] == "5.5.2(2)"
    assert record["source"] == "supervision_inspection"
    assert "gd-tank-farm" in str(record["finding"])
    evidence = record["evidence"]
    assert isinstance(evidence, list)
    assert len(evidence) == 1
    window = evidence[0]
    assert window["name"] == "lel"  # the profile's channel name is the evidence's channel

    # The evidence points at stored readings: the window holds the leak's A2 readings.
    with SqliteTimeSeries(database) as store:
        ts, value, _quality, level = store.read_window(
            Channel(
                site="demo",
                device="gd-tank-farm",
                quantity="lel",
                unit="%LEL",
                substance="methane",
                name="lel",
            ),
            window["start_ts"],
            window["end_ts"],
        )
    assert len(ts) > 5
    assert np.nanmax(value) >= 50.0
    assert (level == 2).any()
    assert (level == 0).any()
    with sqlite3.connect(database) as connection:
        peak, event_level = connection.execute(
            "SELECT peak, level FROM events WHERE id = ?", (window["event_id"],)
        ).fetchone()
    assert event_level == 2
    assert peak == np.nanmax(value)

    # The oxygen dip below 19.5 %vol is an A2 event on the lower side.
    oxygen = [hazard for hazard in hazards if hazard["rule_id"] == "gbt50493.oxygen"]
    assert len(oxygen) == 1
    assert "below the set point 19.5 %vol" in str(oxygen[0]["finding"])


def test_a_silent_meter_is_flagged_not_dropped(tmp_path: Path) -> None:
    """A device whose address answers nothing keeps its rows, flagged COMM_ERROR."""
    _source, site = load_site("demo")
    device = site.devices[0].model_copy(
        update={
            "id": "gd-unplugged",
            "address": "127.0.0.1:9",
            "simulation": None,
            "poll_interval": 0.2,
            "timeout": 0.2,
        }
    )
    site = site.model_copy(update={"devices": [device]})
    database = tmp_path / "silent.db"
    console = Console(record=True, width=200)
    summary = asyncio.run(run_session(site, database, console, duration=1.0, live=False))
    assert summary.devices_in_fault == ("gd-unplugged",)
    assert "COMM FAULT" in console.export_text()
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT value, quality FROM readings").fetchall()
    assert len(rows) >= 4 * 3
    assert all(value is None and quality & 0b11 for value, quality in rows)
