"""The demo pipeline end to end: simulated site → Modbus TCP → analysis → SQLite.

``hazmon demo`` is ``hazmon run`` on the simulated site: these tests run the one
service (:func:`hazmon.acquisition.service.run_service`) as the demo does.

The demo site's scenario runs on a clock four times faster than the wall clock, so a
few seconds cover the leak (past A2 and back) and the oxygen dip.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from hazmon.acquisition.service import ServiceOptions, ServiceSummary, run_service
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


#: The hazards that end the run: the leak's and the oxygen dip's events have closed and
#: been filed (the leak's alarm itself latches until acknowledged, so its alert stays).
UNTIL = ("gbt50493.combustible", "gbt50493.oxygen")
#: Longest wait for them [s of wall time]; the scenario repeats every 7.5 s at SPEED.
DEADLINE_S = 120.0


def _filed_rules(database: Path) -> set[str]:
    """Rules with a hazard in the demo's register so far (read while the service runs)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            return {rule for (rule,) in db.execute("SELECT DISTINCT rule_id FROM hazards")}
    except sqlite3.Error:  # not created yet
        return set()


def _run(database: Path, console: Console) -> ServiceSummary:
    """Run the demo site until both hazards are filed (a signal, not a fixed time: on
    a loaded machine polls come late, and the scenario repeats until they catch it)."""
    site = _fast_demo_site()
    origin = time.monotonic()

    def fast_clock() -> float:
        return origin + SPEED * (time.monotonic() - origin)

    async def main() -> ServiceSummary:
        stop = asyncio.Event()

        async def watch() -> None:
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                if set(UNTIL) <= _filed_rules(database):
                    break
                await asyncio.sleep(0.1)
            stop.set()

        async with SimulatedSite(site, free_ports=True, clock=fast_clock) as simulated:
            options = ServiceOptions(
                addresses=simulated.addresses, live=False, database=database, stop=stop
            )
            watcher = asyncio.create_task(watch())
            summary = await run_service(site, console, options)
            await watcher
            return summary

    return asyncio.run(main())


def test_leak_becomes_an_a2_event_and_a_hazard_whose_evidence_is_stored(
    chinese: None, tmp_path: Path
) -> None:
    database = tmp_path / "demo.db"
    console = Console(record=True, width=200)
    summary = _run(database, console)
    output = console.export_text()

    # Every meter was polled (3 meters × 4 channels × a few polls): the count of polls
    # depends on the machine's load, so no more is asked of it.
    assert summary.stats.readings >= 3 * 4 * 3
    # The alert lines in the command line's Chinese: GB/T 50493's 一级/二级报警.
    assert " 报警 " in output
    assert "gd-tank-farm/lel 正常 → " in output
    assert "gd-pump-house/o2 正常 → 二级报警" in output

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
    # One excursion, or more when a loaded machine needed a second cycle of the scenario
    # to see the oxygen dip: they attach to the one hazard of the condition.
    assert len(evidence) >= 1
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

    # The demo is the service: each meter's health is stored beside its readings.
    with sqlite3.connect(database) as connection:
        health_devices = {
            device
            for (device,) in connection.execute(
                "SELECT DISTINCT device FROM channels WHERE quantity LIKE 'health.%'"
            )
        }
    assert "gd-tank-farm" in health_devices

    # The oxygen dip below 19.5 %vol is an A2 event on the lower side.
    oxygen = [hazard for hazard in hazards if hazard["rule_id"] == "gbt50493.oxygen"]
    assert len(oxygen) == 1
    assert "below the set point 19.5 %vol" in str(oxygen[0]["finding"])


def test_a_silent_meter_is_flagged_not_dropped(chinese: None, tmp_path: Path) -> None:
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
    options = ServiceOptions(duration=1.0, live=False, database=database)
    summary = asyncio.run(run_service(site, console, options))
    assert summary.devices_in_fault == ("gd-unplugged",)
    assert "通信故障" in console.export_text()
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT value, quality FROM readings JOIN channels ON channels.id = channel_id "
            "WHERE quantity NOT LIKE 'health.%'"
        ).fetchall()
    assert len(rows) >= 4 * 3
    assert all(value is None and quality & 0b11 for value, quality in rows)
