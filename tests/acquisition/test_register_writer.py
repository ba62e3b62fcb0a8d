"""The register writer on a SQLite register: spooled first, copied in order, once.

The outage scenarios against a real PostgreSQL behind a proxy are in
``test_register_outage.py``; these check what needs no network.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np

from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.register_writer import RegisterWriter
from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.evidence import ReadingsFile
from hazmon.store.hazards import EventRecord, HazardContext, HazardRegister, events_table
from hazmon.store.spool import Spool
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SECOND = 1_000_000_000
RULE = rules_by_quantity(("gbt50493-2019",))["lel"]
LEL = Channel("plant-a", "gd-1", "lel", "%LEL", "methane", name="lel")
CONTEXT = HazardContext(enterprise="Luohe Chemical Co.", location="pump 3")


def _record(number: int) -> EventRecord:
    start = (1_700_000_000 + 10 * number) * SECOND
    event = Event(0, start, start + 2 * SECOND, 60.0 + number, start + SECOND, 2, 1, 3)
    return EventRecord.of(event, LEL, RULE, CONTEXT, key=f"key{number:04d}", attach_to_open=True)


def test_a_copy_interrupted_before_its_removal_is_stored_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'register.db'}"
    spool_path = tmp_path / "kit.register-spool.db"
    alerts: list[Alert] = []
    records = [_record(number) for number in range(4)]

    async def main() -> tuple[list[int | None], int]:
        writer = RegisterWriter(url, spool_path, alerts.append)
        for record in records:
            writer.record(record)  # spooled; the writer is not even started
        # A writer killed after the register committed the first two, before the spool
        # forgot them: they are in the register *and* still in the spool.
        with HazardRegister(url) as register:
            for record in records[:2]:
                register.record(record)
        hazard_ids: list[int | None] = []
        writer.on_recorded.append(lambda _event, hazard: hazard_ids.append(hazard))
        writer.start()
        assert await writer.close(60)
        return hazard_ids, writer.copied

    hazard_ids, copied = asyncio.run(main())
    assert copied == 4  # two found already there, two new: all four leave the spool
    with HazardRegister(url) as register:
        events = register.count(events_table)
        hazards = register.hazards()
    assert events == 4
    assert len(hazards) == 1  # one hazard per condition, decided in order in the register
    assert set(hazard_ids) == {hazards[0]["id"]}
    with Spool(spool_path) as spool:
        assert spool.pending() == (0, 0)
    assert [alert.kind for alert in alerts] == []  # the register was up throughout


def test_a_register_in_another_database_vouches_for_the_kits_readings(tmp_path: Path) -> None:
    """The service's register on PostgreSQL (here: another SQLite file, the same code
    path) reads the evidence readings from the kit's store file, so verify-audit can
    re-read them and see an edit."""
    kit = tmp_path / "kit.db"
    url = f"sqlite:///{tmp_path / 'register.db'}"
    record = _record(0)  # A2 from 1_700_000_000 s to +2 s, peak 60.0 at +1 s
    start = 1_700_000_000 * SECOND
    values = [55.0, 60.0, 52.0]
    with SqliteTimeSeries(kit) as store:
        store.write(
            Readings.from_columns(
                start + np.arange(3, dtype=np.int64) * SECOND, np.zeros(3), values
            ),
            np.asarray([2, 2, 2], np.uint8),
            ChannelTable([LEL]),
        )

    async def main() -> None:
        alerts: list[Alert] = []
        writer = RegisterWriter(
            url, tmp_path / "kit.register-spool.db", alerts.append, readings=kit
        )
        writer.record(record)
        writer.start()
        assert await writer.close(60)

    asyncio.run(main())
    with HazardRegister(url, readings=ReadingsFile(kit)) as register:
        report = register.verify_audit()
        assert report.ok, report.problems
        assert (report.evidence_checked, report.readings_unchecked) == (1, 0)
    with sqlite3.connect(kit) as connection:
        connection.execute("UPDATE readings SET value = 6.0 WHERE value = 60.0")
    with HazardRegister(url, readings=ReadingsFile(kit)) as register:
        problems = register.verify_audit().problems
    assert any("evidence readings changed" in problem for problem in problems), problems
