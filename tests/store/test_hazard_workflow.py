"""The rectification workflow, referrals, inspections and the audit chain of the register.

Runs on SQLite under tmp_path always and on PostgreSQL when ``HAZMON_TEST_PG_URL`` is set.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select, update

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import (
    HazardContext,
    HazardNotFound,
    HazardRegister,
    IllegalTransition,
    Inspection,
    Instrument,
    RectificationPlan,
    audit_table,
    evidence_table,
    hazards_table,
)
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

RULES = rules_by_quantity(("gbt50493-2019",))
SECOND = 1_000_000_000  # [ns]
T0 = 1_700_000_000 * SECOND  # [ns UTC]
LEL = Channel("plant-a", "gas-1", "lel", "%LEL", "methane")
SUPERVISION = HazardContext(enterprise="Luohe Chemical Co.", location="tank farm")
SELF_INSPECTION = HazardContext(
    enterprise="Luohe Chemical Co.", location="loading bay", source="self_inspection"
)
EVENT = Event(
    channel=0,
    start_ts=T0 + 2 * SECOND,
    end_ts=T0 + 5 * SECOND,
    peak=62.5,
    peak_ts=T0 + 3 * SECOND,
    max_level=2,
    side=1,
    samples=4,
)
FULL_PLAN = RectificationPlan(
    responsible_unit="maintenance workshop",
    responsible_person="Li Ming",
    measures="replace the pump seal; add a fixed detector",
    funds="8,000 CNY from the safety budget",
    deadline=dt.datetime(2030, 1, 31, tzinfo=dt.UTC),
    contingency="evacuate the bund and isolate the pump on A2",
)
ALL_FIVE = (
    "responsibility (responsible unit and person), measures, funds, deadline, contingency plan"
)


def new_hazard(register: HazardRegister, context: HazardContext = SUPERVISION) -> int:
    _event_id, hazard_id = register.record_event(
        EVENT, LEL, RULES["lel"], context, create_hazard=True, evidence_margin_ns=2 * SECOND
    )
    assert hazard_id is not None
    return hazard_id


def actions(register: HazardRegister, hazard_id: int) -> list[str]:
    return [entry.action for entry in register.history(hazard_id)]


def test_major_hazard_needs_the_five_items_and_a_named_expert(
    workflow_register: HazardRegister,
) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    register.confirm(hazard_id, "major", actor="Zhang Wei (leader)")

    with pytest.raises(IllegalTransition, match=re.escape(f"its plan lacks {ALL_FIVE}")):
        register.start_rectification(hazard_id, actor="Zhang Wei")
    with pytest.raises(IllegalTransition, match="has not entered rectifying"):
        register.mark_rectified(hazard_id, "done", actor="Zhang Wei")
    with pytest.raises(IllegalTransition, match="cannot be closed on the spot"):
        register.close_on_spot(hazard_id, "fixed", actor="Zhang Wei")

    record, missing = register.set_plan(
        hazard_id, RectificationPlan(measures="replace the seal", funds="8,000 CNY"), actor="Li"
    )
    assert record["status"] == "confirmed"
    assert missing == [
        "responsibility (responsible unit and person)",
        "deadline",
        "contingency plan",
    ]
    record, missing = register.set_plan(hazard_id, FULL_PLAN, actor="Li")
    assert (record["status"], missing) == ("rectifying", [])

    with pytest.raises(IllegalTransition, match="still rectifying"):
        register.verify(hazard_id, "Wang (expert)", actor="Wang")
    register.mark_rectified(hazard_id, "seal replaced, detector fitted", actor="Li")
    with pytest.raises(IllegalTransition, match="name of the expert"):
        register.verify(hazard_id, "  ", actor="Wang")
    record = register.verify(hazard_id, "Wang Qiang", actor="Wang", note="tested at 0 %LEL")
    assert record["status"] == "verified"

    stored = register.hazard(hazard_id)
    assert stored["verified_by"] == "Wang Qiang"
    assert stored["deadline"] == FULL_PLAN.deadline
    assert stored["closed_at"] is not None
    assert actions(register, hazard_id) == [
        "created",
        "confirmed",
        "plan",
        "plan",
        "rectified",
        "verified",
    ]
    assert register.verify_audit().ok


def test_refused_steps_change_nothing_and_leave_no_audit_entry(
    workflow_register: HazardRegister,
) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    before = register.hazard(hazard_id)
    for attempt in (
        lambda: register.verify(hazard_id, "Wang", actor="Wang"),
        lambda: register.mark_rectified(hazard_id, "done", actor="Li"),
        lambda: register.set_plan(hazard_id, FULL_PLAN, actor="Li"),
        lambda: register.refer(hazard_id, "case_filed", "Emergency Bureau", actor="Zhang"),
        lambda: register.confirm(hazard_id, "severe", actor="Zhang"),
    ):
        with pytest.raises(IllegalTransition):
            attempt()
    assert register.hazard(hazard_id) == before
    assert actions(register, hazard_id) == ["created"]
    with pytest.raises(IllegalTransition, match=r"cannot verify hazard \d+: it is pending_review"):
        register.verify(hazard_id, "Wang", actor="Wang")
    with pytest.raises(HazardNotFound, match="no hazard 999"):
        register.confirm(999, "general", actor="Zhang")


def test_general_hazard_is_fixed_and_closed_on_the_spot(workflow_register: HazardRegister) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    register.confirm(hazard_id, "general", actor="Zhang")
    with pytest.raises(IllegalTransition, match="note"):
        register.close_on_spot(hazard_id, "", actor="Zhang")
    record = register.close_on_spot(hazard_id, "valve packing tightened", actor="Zhang")
    assert (record["status"], record["closed_on_spot"]) == ("verified", True)
    assert register.hazard(hazard_id)["rectification_note"] == "valve packing tightened"
    assert actions(register, hazard_id) == ["created", "confirmed", "closed_on_spot"]


def test_general_hazard_rectified_by_a_deadline_without_a_plan(
    workflow_register: HazardRegister,
) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    register.confirm(hazard_id, "general", actor="Zhang", deadline=dt.datetime(2030, 1, 1))
    record = register.mark_rectified(hazard_id, "cable tray covered", actor="Li")
    assert record["status"] == "rectified"
    register.verify(hazard_id, "Wang Qiang", actor="Wang")
    assert register.hazard(hazard_id)["status"] == "verified"


def test_dismissal_needs_a_reason_and_is_final(workflow_register: HazardRegister) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    with pytest.raises(IllegalTransition, match="reason"):
        register.dismiss(hazard_id, " ", actor="Wang")
    register.dismiss(hazard_id, "detector in warm-up; bump test passed", actor="Wang")
    record = register.hazard(hazard_id)
    assert record["status"] == "dismissed"
    assert record["dismissed_reason"] == "detector in warm-up; bump test passed"
    with pytest.raises(IllegalTransition, match="it is dismissed"):
        register.confirm(hazard_id, "major", actor="Zhang")


def test_self_inspection_is_never_a_penalty_basis(workflow_register: HazardRegister) -> None:
    register = workflow_register
    own = new_hazard(register, SELF_INSPECTION)
    official = new_hazard(register)
    for hazard_id in (own, official):
        register.confirm(hazard_id, "general", actor="Zhang")
    with pytest.raises(IllegalTransition, match="not a basis for administrative penalty"):
        register.mark_penalty_basis(own, actor="Zhang")
    assert register.hazard(own)["penalty_basis"] is False
    assert register.hazard(own)["source"] == "self_inspection"
    register.mark_penalty_basis(official, actor="Zhang")
    assert register.hazard(official)["penalty_basis"] is True


def test_overdue_is_computed_from_the_deadline(workflow_register: HazardRegister) -> None:
    register = workflow_register
    late = new_hazard(register)
    on_time = new_hazard(register)
    done = new_hazard(register)
    deadline = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    for hazard_id in (late, done):
        register.confirm(hazard_id, "general", actor="Zhang", deadline=deadline)
    register.confirm(on_time, "general", actor="Zhang", deadline=deadline + dt.timedelta(days=30))
    register.mark_rectified(done, "fixed before the deadline", actor="Li")
    after = deadline + dt.timedelta(days=1)
    assert [record["id"] for record in register.hazards(overdue=True, now=after)] == [late]
    assert register.hazard(late, now=after)["overdue"] is True
    assert register.hazard(late, now=deadline - dt.timedelta(days=1))["overdue"] is False
    assert [record["id"] for record in register.hazards(status="rectified")] == [done]
    assert len(register.hazards(grade="general")) == 3
    assert register.hazards(grade="major") == []


def test_referral_of_illegal_conduct_is_recorded(workflow_register: HazardRegister) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    register.confirm(hazard_id, "major", actor="Zhang")
    register.refer(
        hazard_id,
        "transferred",
        "Municipal Market Supervision Bureau",
        actor="Zhang",
        reference="LH-2026-017",
    )
    register.refer(hazard_id, "case_filed", "Emergency Management Bureau", actor="Zhang")
    with pytest.raises(IllegalTransition, match="case_filed or transferred"):
        register.refer(hazard_id, "warned", "Police", actor="Zhang")
    referrals = register.hazard(hazard_id)["referrals"]
    assert [(item["kind"], item["department"], item["reference"]) for item in referrals] == [
        ("transferred", "Municipal Market Supervision Bureau", "LH-2026-017"),
        ("case_filed", "Emergency Management Bureau", ""),
    ]
    assert actions(register, hazard_id)[-2:] == ["referred", "referred"]
    assert register.verify_audit().ok


def test_inspection_groups_hazards_and_flags_instruments_past_calibration(
    workflow_register: HazardRegister,
) -> None:
    register = workflow_register
    inspection = Inspection(
        date=dt.date(2026, 5, 12),
        enterprise="Luohe Chemical Co.",
        leader="Zhang Wei",
        experts=("Wang Qiang", "Zhao Min"),
        instruments=(
            Instrument("gas-1", "GD-100", "A123", dt.date(2026, 12, 31)),
            Instrument("noise-1", "AWA5688", "N9", dt.date(2026, 4, 30)),
        ),
    )
    inspection_id = register.add_inspection(inspection, actor="Zhang")
    assert register.inspection(inspection_id) == inspection
    assert [item.serial for item in inspection.instruments_past_calibration()] == ["N9"]
    found = new_hazard(
        register, HazardContext("Luohe Chemical Co.", "tank farm", inspection_id=inspection_id)
    )
    later = new_hazard(register)
    register.assign_inspection(later, inspection_id, actor="Zhang")
    assert register.hazard(found)["inspection_id"] == inspection_id
    assert register.hazard(later)["inspection_id"] == inspection_id
    with pytest.raises(HazardNotFound, match="no inspection 999"):
        register.assign_inspection(later, 999, actor="Zhang")
    assert register.verify_audit().ok


def _tamper(register: HazardRegister, statement: object) -> None:
    with register.engine.begin() as connection:
        connection.execute(statement)  # type: ignore[call-overload]


def test_verify_audit_finds_an_edited_entry(workflow_register: HazardRegister) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    register.dismiss(hazard_id, "sensor fault", actor="Wang")
    _tamper(
        register,
        update(audit_table).where(audit_table.c.seq == 1).values(actor="somebody else"),
    )
    report = register.verify_audit()
    assert not report.ok
    assert report.problems == ["entry 1 was edited: its content no longer matches its hash"]


def test_verify_audit_finds_a_deleted_entry(workflow_register: HazardRegister) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    register.confirm(hazard_id, "general", actor="Zhang")
    register.mark_rectified(hazard_id, "fixed", actor="Li")
    _tamper(register, delete(audit_table).where(audit_table.c.seq == 2))
    problems = register.verify_audit().problems
    assert "entries 2..2 are missing (deleted)" in problems
    assert any("entry 3 does not link" in problem for problem in problems)


def test_verify_audit_finds_the_newest_entry_deleted(workflow_register: HazardRegister) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    register.confirm(hazard_id, "general", actor="Zhang")
    _tamper(register, delete(audit_table).where(audit_table.c.seq == 2))
    problems = register.verify_audit().problems
    assert any("the audit head points at entry 2" in problem for problem in problems)
    assert any(f"hazard {hazard_id} differs from the state" in problem for problem in problems)


def test_verify_audit_finds_records_edited_behind_its_back(
    workflow_register: HazardRegister,
) -> None:
    register = workflow_register
    first = new_hazard(register)
    second = new_hazard(register)
    assert register.verify_audit().ok
    _tamper(
        register, update(hazards_table).where(hazards_table.c.id == first).values(status="verified")
    )
    _tamper(
        register,
        update(evidence_table)
        .where(evidence_table.c.hazard_id == second)
        .values(end_ts=T0 + 3 * SECOND),
    )
    problems = register.verify_audit().problems
    assert [problem.split(" differs")[0] for problem in problems] == [
        f"hazard {first}",
        f"hazard {second}",
    ]
    with register.engine.connect() as connection:
        entries = connection.execute(select(audit_table.c.seq)).scalars().all()
    assert len(entries) == 2  # tampering added no entry of its own


def test_evidence_summary_comes_from_the_time_series_store(
    workflow_register: HazardRegister, tmp_path: Path
) -> None:
    register = workflow_register
    hazard_id = new_hazard(register)
    ts = T0 + np.arange(8, dtype=np.int64) * SECOND
    value = np.array([10.0, 30.0, 52.0, 62.5, 58.0, 51.0, 20.0, 5.0])
    level = np.array([0, 1, 2, 2, 2, 2, 1, 0], dtype=np.uint8)
    with SqliteTimeSeries(tmp_path / "readings.db") as store:
        store.write(
            Readings.from_columns(ts, np.zeros(8), value, [0, 0, 0, 0, 0, 0, 4, 0]),
            level,
            ChannelTable([LEL]),
        )
        [summary] = register.evidence_summary(hazard_id, store)
    assert summary.channel == LEL
    assert (summary.start_ts, summary.end_ts) == (T0, T0 + 7 * SECOND)
    assert (summary.readings, summary.flagged) == (8, 1)
    assert (summary.peak, summary.peak_ts) == (62.5, T0 + 3 * SECOND)
    assert summary.duration_s == 3.0
    assert (summary.limit, summary.level) == (50.0, 2)
    assert (summary.standard, summary.clause) == ("GB/T 50493-2019", "5.5.2(2)")
