"""An event filed at a stop and continued after the restart is extended, not ignored.

The same channel and start give the same event key, so the register already holds the
shorter copy when the longer one arrives; :meth:`HazardRegister.extend` brings it to the
longer one's figures, moves the evidence window and audits the change. SQLite always,
PostgreSQL when ``HAZMON_TEST_PG_URL`` is set (its tables dropped and recreated).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import (
    EventRecord,
    HazardContext,
    HazardRegister,
    events_table,
    evidence_table,
    metadata,
)

SECOND = 1_000_000_000  # [ns]
T0 = 1_700_000_000 * SECOND  # [ns UTC]
MARGIN = 5 * SECOND  # [ns] the pipeline's evidence margin
LEL = Channel("plant-a", "gas-1", "lel", "%LEL", "methane", name="lel")
RULE = rules_by_quantity(("gbt50493-2019",))["lel"]
assert RULE is not None

#: Filed at the stop: 1 Hz readings at T0 .. T0+4 s at or above 25 %LEL (5 samples),
#: peak 62.5 %LEL at T0+2 s.
AT_STOP = Event(0, T0, T0 + 4 * SECOND, 62.5, T0 + 2 * SECOND, 2, 1, 5)
#: The same event after the restart: it went on to T0+10 s (11 samples at 1 Hz) and
#: peaked at 70.0 %LEL at T0+8 s.
WHOLE = Event(0, T0, T0 + 10 * SECOND, 70.0, T0 + 8 * SECOND, 2, 1, 11)


def _record(event: Event) -> EventRecord:
    return EventRecord.of(
        event,
        LEL,
        RULE,
        HazardContext("E", "tank farm"),
        key="same-channel-same-start",
        evidence_margin_ns=MARGIN,
        attach_to_open=True,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def register(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HazardRegister]:
    url = f"sqlite:///{tmp_path / 'hazards.db'}"
    if request.param == "postgresql":
        url = os.environ.get("HAZMON_TEST_PG_URL", "")
        if not url:
            pytest.skip("HAZMON_TEST_PG_URL is not set: the register runs on SQLite only")
        engine = create_engine(url)
        metadata.drop_all(engine)
        engine.dispose()
    with HazardRegister(url) as opened:
        yield opened
    if request.param == "postgresql":
        engine = create_engine(url)
        metadata.drop_all(engine)
        engine.dispose()


def test_the_longer_copy_of_a_filed_event_extends_it(register: HazardRegister) -> None:
    event_id, hazard_id = register.record(_record(AT_STOP))
    assert hazard_id is not None
    assert register.record(_record(WHOLE)) == (event_id, hazard_id)  # the key: no new row
    assert register.extend(_record(WHOLE))
    with register.engine.connect() as connection:
        event = connection.execute(select(events_table)).one()
        evidence = connection.execute(select(evidence_table)).one()
    assert (event.start_ts, event.end_ts, event.samples) == (T0, T0 + 10 * SECOND, 11)
    assert (event.peak, event.peak_ts) == (70.0, T0 + 8 * SECOND)
    assert event.duration_s == pytest.approx(10.0)
    assert (evidence.start_ts, evidence.end_ts) == (T0 - MARGIN, T0 + 10 * SECOND + MARGIN)
    assert [entry.action for entry in register.history(hazard_id)] == [
        "created",
        "event_extended",
    ]
    assert register.verify_audit().ok


def test_the_same_or_a_shorter_copy_changes_nothing(register: HazardRegister) -> None:
    _event_id, hazard_id = register.record(_record(WHOLE))
    assert hazard_id is not None
    assert not register.extend(_record(WHOLE))
    assert not register.extend(_record(AT_STOP))
    assert not register.extend(replace(_record(WHOLE), key=""))  # no key, nothing to match
    assert [entry.action for entry in register.history(hazard_id)] == ["created"]
    assert register.verify_audit().ok
