"""``hazmon run --inspection ID``: the instruments the desk recorded for an inspection
flag the readings of the site devices they are, and the run's hazards belong to it
(issue #14: "an instrument past its date is shown and its readings flagged").

A real ``hazmon run`` process polls simulated meters over Modbus TCP; the inspection
is written into the register first, as the desk does.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazmon.config.quality import Quality
from hazmon.config.site import load_site
from hazmon.simulators.site import SimulatedSite
from hazmon.store.hazards import HazardRegister, Inspection, Instrument

HAZMON = [sys.executable, "-m", "hazmon.acquisition.cli"]
ENTERPRISE = "联合化工有限公司"


def _site_text(addresses: dict[str, str], *, enterprise: str = ENTERPRISE) -> str:
    """Two four-gas detectors; the tank farm's methane passes A2 (50 %LEL) within a
    second and stays there, so the run files one hazard for it."""
    lines = [
        'schema = "hazmon.site/1"',
        'name = "inspected"',
        f'enterprise = "{enterprise}"',
        "",
        "[stores]",
        'sqlite = "run.db"',
    ]
    placeholders = {"gd-tank": "127.0.0.1:1", "gd-pump": "127.0.0.1:2"}
    for device, due, lel in (("gd-tank", "2099-01-01", 66.0), ("gd-pump", None, 0.0)):
        lines += [
            "",
            "[[devices]]",
            f'id = "{device}"',
            'profile = "generic-4gas"',
            f'address = "{addresses.get(device, placeholders[device])}"',
            "poll_interval = 0.2",
            "warmup_seconds = 0",
        ]
        if due is not None:
            lines.append(f"calibration_due = {due}")
        lines += ["[devices.simulation]", "seed = 3", "[devices.simulation.channels.lel]"]
        lines.append("baseline = 1.0")
        if lel:
            lines.append(
                "events = [ { kind = 'leak', start = 0.0, rise = 0.2, hold = 3600.0, "
                f"decay = 1.0, amplitude = {lel} }} ]"
            )
    return "\n".join(lines) + "\n"


@pytest.fixture
def site_file(tmp_path: Path) -> Iterator[Path]:
    """The site file, its meters served from a thread on free ports."""
    draft = tmp_path / "draft.toml"
    draft.write_text(_site_text({}), encoding="utf-8")
    _source, site = load_site(str(draft))
    loop = asyncio.new_event_loop()
    simulated = SimulatedSite(site, free_ports=True)
    loop.run_until_complete(simulated.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    path = tmp_path / "site.toml"
    path.write_text(_site_text(dict(simulated.addresses)), encoding="utf-8")
    try:
        yield path
    finally:
        asyncio.run_coroutine_threadsafe(simulated.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _inspection(database: Path, enterprise: str = ENTERPRISE) -> int:
    """The desk's record: the tank-farm detector ran out of calibration in 2020 (the
    site file says 2099: the earlier date wins); the pump-house detector is valid; a
    third instrument is not on this site."""
    with HazardRegister(f"sqlite:///{database}") as register:
        return register.add_inspection(
            Inspection(
                date=dt.date(2026, 12, 1),
                enterprise=enterprise,
                leader="王组长",
                experts=("李专家",),
                instruments=(
                    Instrument("gd-tank", "GT-4", "SN-0001", dt.date(2020, 6, 30)),
                    Instrument("gd-pump", "GT-4", "SN-0002", dt.date(2099, 6, 30)),
                    Instrument("noise-1", "AWA5688", "SN-0003", dt.date(2099, 6, 30)),
                ),
            ),
            actor="officer",
        )


def _run(site: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HAZMON, "run", str(site), "--duration", "4", "--json", *extra],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_a_past_due_instrument_flags_its_device_and_the_hazards_join_the_inspection(
    site_file: Path,
) -> None:
    database = site_file.parent / "run.db"
    inspection_id = _inspection(database)

    answer = _run(site_file, "--inspection", str(inspection_id))

    assert answer.returncode == 0, answer.stderr
    assert "Traceback" not in answer.stderr
    said = " ".join(answer.stderr.split())  # the console wraps long lines
    assert "gd-tank (GT-4 No. SN-0001): calibration ran out on 2020-06-30" in said
    assert "site file, 2020-06-30 on the inspection; 2020-06-30 (the earlier) applies" in said
    assert "which the site file does not have" in said  # noise-1
    summary = json.loads(answer.stdout.strip().splitlines()[-1])
    assert summary["hazards"] >= 1
    due = int(Quality.CALIBRATION_DUE)
    with sqlite3.connect(database) as db:
        flagged = dict(
            db.execute(
                "SELECT c.device, sum((r.quality & ?) != 0) * 1.0 / count(*) "
                "FROM readings r JOIN channels c ON c.id = r.channel_id "
                "WHERE c.device IN ('gd-tank', 'gd-pump') AND c.quantity NOT LIKE 'health.%' "
                "GROUP BY c.device",
                (due,),
            ).fetchall()
        )
        linked = db.execute("SELECT id, inspection_id FROM hazards").fetchall()
    assert flagged == {"gd-tank": 1.0, "gd-pump": 0.0}
    assert linked
    assert {row[1] for row in linked} == {inspection_id}


def test_an_unknown_inspection_is_refused_before_polling(site_file: Path) -> None:
    database = site_file.parent / "run.db"
    _inspection(database)
    answer = _run(site_file, "--inspection", "7")
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr
    assert "--inspection 7" in answer.stderr
    assert "no such inspection" in answer.stderr
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "readings" in tables:
            assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 0


def test_an_inspection_of_another_enterprise_is_refused(site_file: Path) -> None:
    inspection_id = _inspection(site_file.parent / "run.db", enterprise="另一家公司")
    answer = _run(site_file, "--inspection", str(inspection_id))
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr
    assert "is of '另一家公司', the site file of '联合化工有限公司'" in answer.stderr
