"""The hazard register: events, the hazard records they raise, and their evidence.

Runs on SQLite under tmp_path always, and on PostgreSQL when ``HAZMON_TEST_PG_URL``
points to one (e.g. ``postgresql+psycopg://user@127.0.0.1:5432/hazmon_test``; the
tests drop and recreate the register's own tables there).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel
from hazmon.config.standards import LimitRule, rules_by_quantity
from hazmon.store.hazards import (
    PENDING_REVIEW,
    EventRecord,
    HazardContext,
    HazardRegister,
    events_table,
    evidence_table,
    hazards_table,
    metadata,
)

PG_URL_VARIABLE = "HAZMON_TEST_PG_URL"

RULES = rules_by_quantity(("gbt50493-2019",))
SECOND = 1_000_000_000  # [ns]
T0 = 1_700_000_000 * SECOND  # [ns UTC]
MINUTE = 60 * SECOND

LEL = Channel("plant-a", "gas-1", "lel", "%LEL", "methane")
O2 = Channel("plant-a", "gas-1", "o2", "%vol")
H2S = Channel("plant-a", "gas-2", "h2s", "ppm")
CONTEXT = HazardContext(enterprise="Luohe Chemical Co.", location="tank farm, pump 3")

#: An A2 combustible-gas event: 4 s at or above 50 %LEL, peak 62.5 %LEL.
LEL_EVENT = Event(
    channel=0,
    start_ts=T0,
    end_ts=T0 + 4 * SECOND,
    peak=62.5,
    peak_ts=T0 + 2 * SECOND,
    max_level=2,
    side=1,
    samples=5,
)
#: An oxygen-deficiency event: 10 s below 19.5 %vol, lowest 17.2 %vol.
O2_EVENT = Event(
    channel=1,
    start_ts=T0 + MINUTE,
    end_ts=T0 + MINUTE + 10 * SECOND,
    peak=17.2,
    peak_ts=T0 + MINUTE + 3 * SECOND,
    max_level=2,
    side=-1,
    samples=11,
)


def _pg_url() -> str:
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{PG_URL_VARIABLE} is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://user@127.0.0.1:5432/hazmon_test to run the register on it"
        )
    try:
        engine = create_engine(url)
    except ModuleNotFoundError as error:  # the dialect's DB-API driver is missing
        pytest.skip(
            f"{PG_URL_VARIABLE} is set but its driver is not importable ({error}); "
            "install psycopg[binary]"
        )
    try:
        # The register's own tables only; they are recreated by HazardRegister.open().
        metadata.drop_all(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def register_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hazards.db'}"
        return
    url = _pg_url()
    yield url
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture
def register(register_url: str) -> Iterator[HazardRegister]:
    with HazardRegister(register_url) as opened:
        yield opened


def rows(register: HazardRegister, table: Any) -> list[dict[str, Any]]:
    with register.engine.connect() as connection:
        return [
            dict(row._mapping) for row in connection.execute(select(table).order_by(table.c.id))
        ]


def counts(register: HazardRegister) -> tuple[int, int, int]:
    return (
        register.count(events_table),
        register.count(hazards_table),
        register.count(evidence_table),
    )


def test_rules_are_the_expected_ones() -> None:
    lel, o2 = RULES["lel"], RULES["o2"]
    assert isinstance(lel, LimitRule)
    assert (lel.id, lel.standard, lel.clause) == (
        "gbt50493.combustible",
        "GB/T 50493-2019",
        "5.5.2(2)",
    )
    assert (o2.id, o2.clause) == ("gbt50493.oxygen", "5.5.2(4)")


def test_a_keyed_record_is_stored_once_however_often_it_is_replayed(
    register: HazardRegister,
) -> None:
    record = EventRecord.of(
        LEL_EVENT,
        LEL,
        RULES["lel"],
        CONTEXT,
        key="6f1c0ffee",
        evidence_margin_ns=MINUTE,
        attach_to_open=True,
    )
    # The spool's JSON gives back the same record (what a restart replays).
    assert EventRecord.from_json(record.to_json()) == record
    first = register.record(record)
    assert register.record(EventRecord.from_json(record.to_json())) == first
    assert counts(register) == (1, 1, 1)
    [event] = rows(register, events_table)
    assert event["record_key"] == "6f1c0ffee"
    assert [entry.action for entry in register.history(first[1] or 0)] == ["created"]


def test_record_event_with_hazard(register: HazardRegister) -> None:
    before = dt.datetime.now(dt.UTC)
    event_id, hazard_id = register.record_event(
        LEL_EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=True, evidence_margin_ns=MINUTE
    )
    assert isinstance(event_id, int)
    assert isinstance(hazard_id, int)
    assert counts(register) == (1, 1, 1)

    [event] = rows(register, events_table)
    assert event == {
        "id": event_id,
        "site": "plant-a",
        "device": "gas-1",
        "name": "",
        "quantity": "lel",
        "substance": "methane",
        "unit": "%LEL",
        "rule_id": "gbt50493.combustible",
        "level": 2,
        "side": 1,
        "start_ts": T0,
        "end_ts": T0 + 4 * SECOND,
        "peak": 62.5,
        "peak_ts": T0 + 2 * SECOND,
        "duration_s": 4.0,
        "samples": 5,
        "limit_value": 50.0,  # the highest set point the event reached (A2)
        "record_key": None,  # recorded directly, not from a spool
    }

    [hazard] = rows(register, hazards_table)
    assert hazard["id"] == hazard_id
    assert hazard["status"] == PENDING_REVIEW == "pending_review"
    assert hazard["source"] == "supervision_inspection"
    assert hazard["enterprise"] == "Luohe Chemical Co."
    assert hazard["location"] == "tank farm, pump 3"
    assert hazard["rule_id"] == "gbt50493.combustible"
    assert hazard["standard"] == "GB/T 50493-2019"
    assert hazard["clause"] == "5.5.2(2)"
    assert hazard["finding"] == (
        "lel on gas-1 reached level A2: at or above the set point 50 %LEL for 4.0 s, peak 62.5 %LEL"
    )
    assert "62.5" in hazard["finding"]
    for unset in ("grade", "deadline", "responsible_unit", "responsible_person"):
        assert hazard[unset] is None, unset
    created = hazard["created_at"]
    assert isinstance(created, dt.datetime)
    if created.tzinfo is None:  # SQLite keeps no zone; the value was written in UTC
        created = created.replace(tzinfo=dt.UTC)
    assert before - dt.timedelta(seconds=1) <= created <= dt.datetime.now(dt.UTC)

    [evidence] = rows(register, evidence_table)
    assert evidence == {
        "id": evidence["id"],
        "hazard_id": hazard_id,
        "event_id": event_id,
        "site": "plant-a",
        "device": "gas-1",
        "name": "",
        "quantity": "lel",
        "substance": "methane",
        "start_ts": T0 - MINUTE,
        "end_ts": T0 + 4 * SECOND + MINUTE,
    }


def test_evidence_window_without_margin_is_the_event(register: HazardRegister) -> None:
    register.record_event(LEL_EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=True)
    [evidence] = rows(register, evidence_table)
    assert (evidence["start_ts"], evidence["end_ts"]) == (LEL_EVENT.start_ts, LEL_EVENT.end_ts)


def test_lower_side_event_says_below(register: HazardRegister) -> None:
    _, hazard_id = register.record_event(
        O2_EVENT, O2, RULES["o2"], CONTEXT, create_hazard=True, evidence_margin_ns=5 * SECOND
    )
    [event] = rows(register, events_table)
    assert event["limit_value"] == 19.5  # the deficiency set point, not 23.5
    assert event["side"] == -1
    assert event["substance"] == ""
    assert event["rule_id"] == "gbt50493.oxygen"
    [hazard] = rows(register, hazards_table)
    assert hazard["id"] == hazard_id
    assert hazard["finding"] == (
        "o2 on gas-1 reached level A2: below the set point 19.5 %vol for 10.0 s, lowest 17.2 %vol"
    )
    assert "at or above" not in hazard["finding"]
    assert hazard["clause"] == "5.5.2(4)"
    [evidence] = rows(register, evidence_table)
    assert (evidence["start_ts"], evidence["end_ts"]) == (
        T0 + MINUTE - 5 * SECOND,
        T0 + MINUTE + 15 * SECOND,
    )


def test_level_one_event_cites_the_level_one_set_point(register: HazardRegister) -> None:
    event = Event(
        channel=0,
        start_ts=T0,
        end_ts=T0 + 2 * SECOND,
        peak=31.0,
        peak_ts=T0 + SECOND,
        max_level=1,
        side=1,
        samples=3,
    )
    register.record_event(event, LEL, RULES["lel"], CONTEXT, create_hazard=True)
    [stored] = rows(register, events_table)
    assert stored["limit_value"] == 25.0
    [hazard] = rows(register, hazards_table)
    assert hazard["finding"] == (
        "lel on gas-1 reached level A1: at or above the set point 25 %LEL for 2.0 s, peak 31 %LEL"
    )


def test_toxic_set_point_resolved_from_the_oel(register: HazardRegister) -> None:
    # H2S: MAC 10 mg/m³ at 20 °C, 101.325 kPa = 10 × 24.055 / 34.081 = 7.058 ppm; A2 = 2×.
    event = Event(
        channel=2,
        start_ts=T0,
        end_ts=T0 + 30 * SECOND,
        peak=25.0,
        peak_ts=T0 + 10 * SECOND,
        max_level=2,
        side=1,
        samples=31,
    )
    register.record_event(event, H2S, RULES["h2s"], CONTEXT, create_hazard=True)
    [stored] = rows(register, events_table)
    assert stored["limit_value"] == pytest.approx(14.116, abs=1e-3)
    [hazard] = rows(register, hazards_table)
    assert hazard["finding"] == (
        "h2s on gas-2 reached level A2: at or above the set point 14.1 ppm for 30.0 s, peak 25 ppm"
    )


def test_record_event_without_hazard(register: HazardRegister) -> None:
    event_id, hazard_id = register.record_event(
        LEL_EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=False, evidence_margin_ns=MINUTE
    )
    assert hazard_id is None
    assert isinstance(event_id, int)
    assert counts(register) == (1, 0, 0)
    assert register.hazards() == []
    [event] = rows(register, events_table)
    assert event["id"] == event_id
    assert event["limit_value"] == 50.0


def test_hazards_returns_records_with_their_evidence(register: HazardRegister) -> None:
    self_inspection = HazardContext(
        enterprise="Luohe Chemical Co.", location="loading bay", source="self_inspection"
    )
    lel_event_id, first = register.record_event(
        LEL_EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=True, evidence_margin_ns=MINUTE
    )
    register.record_event(LEL_EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=False)
    o2_event_id, second = register.record_event(
        O2_EVENT, O2, RULES["o2"], self_inspection, create_hazard=True
    )
    assert counts(register) == (3, 2, 2)
    assert len({lel_event_id, o2_event_id}) == 2

    records = register.hazards()
    assert [record["id"] for record in records] == [first, second]  # oldest first
    lel_record, o2_record = records
    assert lel_record["status"] == o2_record["status"] == PENDING_REVIEW
    assert lel_record["source"] == "supervision_inspection"
    assert o2_record["source"] == "self_inspection"  # kept: no basis for a penalty
    assert o2_record["location"] == "loading bay"

    lel_evidence = lel_record["evidence"]
    assert isinstance(lel_evidence, list)
    [lel_link] = lel_evidence
    assert lel_link["hazard_id"] == first
    assert lel_link["event_id"] == lel_event_id
    assert (lel_link["site"], lel_link["device"], lel_link["quantity"]) == (
        "plant-a",
        "gas-1",
        "lel",
    )
    assert (lel_link["start_ts"], lel_link["end_ts"]) == (
        T0 - MINUTE,
        T0 + 4 * SECOND + MINUTE,
    )
    o2_evidence = o2_record["evidence"]
    assert isinstance(o2_evidence, list)
    [o2_link] = o2_evidence
    assert o2_link["event_id"] == o2_event_id
    assert (o2_link["quantity"], o2_link["substance"]) == ("o2", "")
    assert (o2_link["start_ts"], o2_link["end_ts"]) == (O2_EVENT.start_ts, O2_EVENT.end_ts)


def test_records_survive_reopen(register_url: str) -> None:
    with HazardRegister(register_url) as first:
        first.open()  # a second open is a no-op
        _, hazard_id = first.record_event(LEL_EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=True)
    with HazardRegister(register_url) as second:
        records = second.hazards()
    assert [record["id"] for record in records] == [hazard_id]


def test_unopened_register_raises_a_helpful_error(register_url: str) -> None:
    register = HazardRegister(register_url)
    message = re.escape(f"hazard register {register_url} is not open; call open() first")
    with pytest.raises(RuntimeError, match=message):
        register.hazards()
    with pytest.raises(RuntimeError, match=message):
        register.record_event(LEL_EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=True)
    register.open()
    register.close()
    register.close()  # idempotent
    with pytest.raises(RuntimeError, match="not open"):
        register.count(events_table)


def test_excursions_of_one_condition_add_up_on_its_hazard(register: HazardRegister) -> None:
    """A hovering leak: three excursions, one hazard; its figures are worked by hand.

    Peaks 62.5, 71.0, 55.0 %LEL → worst 71.0 %LEL; durations 4 s, 6 s, 2.5 s →
    12.5 s past the limit in all. Oxygen deficiency: lowest 17.2 and 18.1 %vol → the
    worst is the lower, 17.2 %vol; 10 s + 5 s = 15 s.
    """
    lel_events = [
        LEL_EVENT,
        Event(0, T0 + MINUTE, T0 + MINUTE + 6 * SECOND, 71.0, T0 + MINUTE, 2, 1, 7),
        Event(
            0, T0 + 2 * MINUTE, T0 + 2 * MINUTE + 5 * SECOND // 2, 55.0, T0 + 2 * MINUTE, 2, 1, 3
        ),
    ]
    o2_events = [
        O2_EVENT,
        Event(1, T0 + 3 * MINUTE, T0 + 3 * MINUTE + 5 * SECOND, 18.1, T0 + 3 * MINUTE, 2, -1, 6),
    ]
    for channel, rule, events in ((LEL, RULES["lel"], lel_events), (O2, RULES["o2"], o2_events)):
        for event in events:
            register.record_event(
                event,
                channel,
                rule,
                CONTEXT,
                create_hazard=True,
                evidence_margin_ns=MINUTE,
                attach_to_open=True,
            )
    lel, o2 = register.hazards()
    assert lel["excursions"] == {
        "count": 3,
        "worst": 71.0,
        "unit": "%LEL",
        "time_past_limit_s": 12.5,
    }
    assert o2["excursions"] == {
        "count": 2,
        "worst": 17.2,
        "unit": "%vol",
        "time_past_limit_s": 15.0,
    }
