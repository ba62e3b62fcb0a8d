"""The register writer on a SQLite register: spooled first, copied in order, once.

The outage scenarios against a real PostgreSQL behind a proxy are in
``test_register_outage.py``; these check what needs no network.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.register_writer import RegisterWriter
from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import EventRecord, HazardContext, HazardRegister, events_table
from hazmon.store.spool import Spool

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
