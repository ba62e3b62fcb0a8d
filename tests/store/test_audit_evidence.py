"""The audit chain covers a hazard's evidence: the event's figures and its readings.

Every tamper case of the reliability campaign's audit script, on SQLite and (with
``HAZMON_TEST_PG_URL``) on PostgreSQL: the register on either database, the readings in
a SQLite time-series file beside it, as ``hazmon run --register-url`` keeps them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.audit import canonical_json, entry_hash
from hazmon.store.evidence import readings_digest
from hazmon.store.hazards import (
    HazardContext,
    HazardRegister,
    audit_head_table,
    audit_table,
    events_table,
    evidence_table,
)
from hazmon.store.timeseries import Window
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

RULES = rules_by_quantity(("gbt50493-2019",))
SECOND = 1_000_000_000  # [ns]
T0 = 1_700_000_000 * SECOND  # [ns UTC]
LEL = Channel("plant-a", "gas-1", "lel", "%LEL", "methane")
CONTEXT = HazardContext(enterprise="Luohe Chemical Co.", location="tank farm")
#: 8 readings 1 s apart; the event is the 4 at or above 50 %LEL (A2), peak 71.5 at T0+3 s.
VALUES = [10.0, 30.0, 52.0, 71.5, 58.0, 51.0, 20.0, 5.0]
LEVELS = [0, 1, 2, 2, 2, 2, 1, 0]
EVENT = Event(
    channel=0,
    start_ts=T0 + 2 * SECOND,
    end_ts=T0 + 5 * SECOND,
    peak=71.5,
    peak_ts=T0 + 3 * SECOND,
    max_level=2,
    side=1,
    samples=4,
)
#: A second excursion of the same condition, later: evidence on the same open hazard.
LATER = Event(
    channel=0,
    start_ts=T0 + 60 * SECOND,
    end_ts=T0 + 61 * SECOND,
    peak=55.0,
    peak_ts=T0 + 60 * SECOND,
    max_level=2,
    side=1,
    samples=2,
)


def write(store: SqliteTimeSeries, start_ns: int, values: list[float], levels: list[int]) -> None:
    ts = start_ns + np.arange(len(values), dtype=np.int64) * SECOND
    store.write(
        Readings.from_columns(ts, np.zeros(len(values)), values),
        np.asarray(levels, np.uint8),
        ChannelTable([LEL]),
    )


class Filed:
    """A register with one hazard filed from stored readings, and the readings file."""

    def __init__(self, register: HazardRegister, readings: Path, store: SqliteTimeSeries) -> None:
        self.register = register
        self.readings = readings
        self.store = store

    def file(self, event: Event = EVENT) -> tuple[int, int]:
        event_id, hazard_id = self.register.record_event(
            event,
            LEL,
            RULES["lel"],
            CONTEXT,
            create_hazard=True,
            evidence_margin_ns=2 * SECOND,
            attach_to_open=True,
        )
        assert hazard_id is not None
        return event_id, hazard_id

    def tamper(self, statement: object) -> None:
        with self.register.engine.begin() as connection:
            connection.execute(statement)  # type: ignore[call-overload]

    def tamper_readings(self, sql: str, *parameters: object) -> None:
        # Behind the store's back, as someone with the file would: its own connection.
        with sqlite3.connect(self.readings) as connection:
            changed = connection.execute(sql, parameters).rowcount
        assert changed > 0

    def problems(self) -> list[str]:
        return self.register.verify_audit(readings=self.store).problems


@pytest.fixture
def filed(any_register_url: str, tmp_path: Path) -> Iterator[Filed]:
    path = tmp_path / "readings.db"
    with SqliteTimeSeries(path) as store:
        write(store, T0, VALUES, LEVELS)
        with HazardRegister(any_register_url, readings=store) as register:
            yield Filed(register, path, store)


def test_the_readings_digest_by_hand() -> None:
    # Worked by hand from the documented layout: a header line, the count, then each
    # column little-endian: ts int64, value float64 (NaN for none), quality uint16, level.
    ts = [T0, T0 + SECOND, T0 + 2 * SECOND]
    value = [52.0, float("nan"), 71.5]
    quality = [0, 4, 0]
    level = [2, 0, 2]
    expected = hashlib.sha256(
        b"hazmon.evidence-readings/1\n3\n"
        + struct.pack("<3q", *ts)
        + struct.pack("<3d", *value)
        + struct.pack("<3H", *quality)
        + bytes(level)
    ).hexdigest()
    window = Window(
        np.array(ts, np.int64),
        np.array(value, np.float64),
        np.array(quality, np.uint16),
        np.array(level, np.uint8),
    )
    assert readings_digest(window) == {
        "count": 3,
        "until": T0 + 2 * SECOND,
        "maximum": 71.5,
        "minimum": 52.0,
        "sha256": expected,
    }
    # Another NaN payload (a driver's) hashes as the one NaN.
    other_nan = np.frombuffer(struct.pack("<Q", 0x7FF8_0000_0000_0001), np.float64)[0]
    assert np.isnan(other_nan)
    window.value[1] = other_nan
    assert readings_digest(window)["sha256"] == expected


def test_filing_enters_the_event_figures_and_the_readings_digest(filed: Filed) -> None:
    event_id, hazard_id = filed.file()
    [entry] = filed.register.history(hazard_id)
    [item] = entry.detail["evidence"]
    assert item["event_id"] == event_id
    # Floats enter the chain by repr, exactly as the database returns them.
    assert item["event"]["peak"] == "71.5"
    assert item["event"]["start_ts"] == T0 + 2 * SECOND
    assert item["event"]["duration_s"] == "3.0"
    assert item["event"]["level"] == 2
    # The window is the event ± 2 s: T0 … T0+7 s, all 8 readings.
    assert item["readings"]["count"] == 8
    assert item["readings"]["until"] == T0 + 7 * SECOND
    assert item["readings"]["maximum"] == "71.5"
    report = filed.register.verify_audit(readings=filed.store)
    assert report.ok, report.problems
    assert (report.evidence_checked, report.readings_unchecked) == (1, 0)
    assert (report.head_seq, report.head_hash) == (1, entry.hash)


def test_an_edited_event_peak_is_named(filed: Filed) -> None:
    event_id, hazard_id = filed.file()
    filed.tamper(update(events_table).where(events_table.c.id == event_id).values(peak=7.15))
    assert filed.problems() == [
        f"hazard {hazard_id}, evidence 1 (audit entry 1): event {event_id} was edited: "
        "peak 71.5 → 7.15"
    ]


def test_edited_event_times_level_and_duration_are_named(filed: Filed) -> None:
    event_id, _hazard_id = filed.file()
    filed.tamper(
        update(events_table)
        .where(events_table.c.id == event_id)
        .values(level=1, end_ts=T0 + 3 * SECOND, duration_s=1.0)
    )
    [problem] = filed.problems()
    assert problem.endswith(
        f"event {event_id} was edited: level 2 → 1; end_ts {T0 + 5 * SECOND} → "
        f"{T0 + 3 * SECOND}; duration_s 3.0 → 1.0"
    )


def test_an_edited_reading_is_found(filed: Filed) -> None:
    _event_id, hazard_id = filed.file()
    filed.tamper_readings("UPDATE readings SET value = 7.15 WHERE ts = ?", T0 + 3 * SECOND)
    assert filed.problems() == [
        f"hazard {hazard_id}, evidence 1 (audit entry 1): its evidence readings changed: "
        "readings were edited (still 8); maximum 71.5 → 58.0"
    ]


def test_an_edited_quality_flag_is_found(filed: Filed) -> None:
    filed.file()
    filed.tamper_readings("UPDATE readings SET quality = 4 WHERE ts = ?", T0 + 4 * SECOND)
    [problem] = filed.problems()
    assert problem.endswith("readings were edited (still 8)")


def test_deleted_readings_are_counted(filed: Filed) -> None:
    filed.file()
    filed.tamper_readings(
        "DELETE FROM readings WHERE ts BETWEEN ? AND ?", T0 + 2 * SECOND, T0 + 4 * SECOND
    )
    [problem] = filed.problems()
    assert problem.endswith(
        "its evidence readings changed: 3 of its 8 readings were deleted; maximum 71.5 → 51.0"
    )


def test_every_evidence_reading_deleted(filed: Filed) -> None:
    filed.file()
    filed.tamper_readings("DELETE FROM readings")
    [problem] = filed.problems()
    assert problem.endswith(
        "8 of its 8 readings were deleted; maximum 71.5 → none, minimum 5.0 → none"
    )


def test_a_reading_slipped_into_the_window_is_found(filed: Filed) -> None:
    filed.file()
    filed.tamper_readings(
        "INSERT INTO readings (channel_id, ts, value, quality, level) "
        "SELECT channel_id, ?, 99.0, 0, 3 FROM readings LIMIT 1",
        T0 + 3 * SECOND + SECOND // 2,
    )
    [problem] = filed.problems()
    assert problem.endswith("1 readings were added to its 8; maximum 71.5 → 99.0")


def test_readings_stored_after_filing_are_not_tampering(filed: Filed) -> None:
    # The window runs to T0+7 s; the digest vouches up to the newest reading stored then.
    filed.file()
    write(filed.store, T0 + 8 * SECOND, [4.0], [0])
    assert filed.register.verify_audit(readings=filed.store).ok


def test_an_attached_event_is_covered_by_its_own_entry(filed: Filed) -> None:
    _first, hazard_id = filed.file()
    write(filed.store, T0 + 58 * SECOND, [12.0, 40.0, 55.0, 50.0, 8.0], [0, 1, 2, 2, 0])
    later_id, again = filed.file(LATER)
    assert again == hazard_id
    assert filed.register.verify_audit(readings=filed.store).ok
    filed.tamper(update(events_table).where(events_table.c.id == later_id).values(peak=50.5))
    filed.tamper_readings("UPDATE readings SET value = 50.0 WHERE ts = ?", T0 + 60 * SECOND)
    assert filed.problems() == [
        f"hazard {hazard_id}, evidence 2 (audit entry 2): event {later_id} was edited: "
        "peak 55.0 → 50.5",
        f"hazard {hazard_id}, evidence 2 (audit entry 2): its evidence readings changed: "
        "readings were edited (still 5); maximum 55.0 → 50.0",
    ]


def test_a_deleted_event_and_its_evidence_link(filed: Filed) -> None:
    event_id, hazard_id = filed.file()
    # PostgreSQL keeps the link's foreign key: the evidence row goes first, as it must.
    filed.tamper(delete(evidence_table).where(evidence_table.c.event_id == event_id))
    filed.tamper(delete(events_table).where(events_table.c.id == event_id))
    problems = filed.problems()
    assert f"hazard {hazard_id}, evidence 1 (audit entry 1): the evidence window was deleted" in (
        problems
    )
    assert any(f"hazard {hazard_id} differs from the state" in problem for problem in problems)


def test_the_event_row_alone_deleted(filed: Filed, any_register_url: str) -> None:
    event_id, hazard_id = filed.file()
    removal = delete(events_table).where(events_table.c.id == event_id)
    if not any_register_url.startswith("sqlite"):
        # PostgreSQL enforces the foreign key: the evidence link protects its event.
        with pytest.raises(IntegrityError, match="foreign key"):
            filed.tamper(removal)
        assert filed.problems() == []
        return
    filed.tamper(removal)
    assert filed.problems() == [
        f"hazard {hazard_id}, evidence 1 (audit entry 1): event {event_id} was deleted"
    ]


def test_an_entry_edited_to_match_the_tampered_peak_breaks_its_hash(filed: Filed) -> None:
    event_id, _hazard_id = filed.file()
    filed.tamper(update(events_table).where(events_table.c.id == event_id).values(peak=7.15))
    with filed.register.engine.connect() as connection:
        detail = json.loads(connection.execute(select(audit_table.c.detail)).scalar_one())
    detail["evidence"][0]["event"]["peak"] = "7.15"
    filed.tamper(update(audit_table).values(detail=canonical_json(detail)))
    assert filed.problems() == ["entry 1 was edited: its content no longer matches its hash"]


def test_the_last_entry_deleted(filed: Filed) -> None:
    _event_id, hazard_id = filed.file()
    filed.register.confirm(hazard_id, "major", actor="Zhang")
    filed.tamper(delete(audit_table).where(audit_table.c.seq == 2))
    problems = filed.problems()
    assert any("the audit head points at entry 2" in problem for problem in problems)


def test_a_chain_rewritten_consistently_is_found_only_by_the_anchor(filed: Filed) -> None:
    event_id, hazard_id = filed.file()
    filed.register.confirm(hazard_id, "major", actor="Zhang")
    kept = filed.register.verify_audit(readings=filed.store)
    assert kept.ok
    anchor = (kept.head_seq, kept.head_hash or "")
    # The whole chain rewritten from its start around a lower peak, every hash recomputed.
    filed.tamper(update(events_table).where(events_table.c.id == event_id).values(peak=7.15))
    with filed.register.engine.connect() as connection:
        rows = connection.execute(select(audit_table).order_by(audit_table.c.seq)).all()
    prev = "0" * 64
    for row in rows:
        detail = json.loads(row.detail)
        if "evidence" in detail:
            detail["evidence"][0]["event"]["peak"] = "7.15"
        text = canonical_json(detail)
        digest = entry_hash(
            prev, row.seq, row.hazard_id, row.at, row.actor, row.action, text, row.state_hash
        )
        filed.tamper(
            update(audit_table)
            .where(audit_table.c.seq == row.seq)
            .values(detail=text, prev_hash=prev, hash=digest)
        )
        prev = digest
    filed.tamper(update(audit_head_table).values(hash=prev))
    assert filed.register.verify_audit(readings=filed.store).ok  # internally consistent
    report = filed.register.verify_audit(readings=filed.store, anchor=anchor)
    assert report.problems == [
        f"entry 2 hashes {prev}, not the anchor's {anchor[1]}: "
        "the history up to entry 2 was rewritten"
    ]


def test_an_anchor_past_the_end_means_entries_were_deleted(filed: Filed) -> None:
    _event_id, hazard_id = filed.file()
    filed.register.confirm(hazard_id, "major", actor="Zhang")
    kept = filed.register.verify_audit(readings=filed.store)
    # The newest entry deleted and the head moved back to the one before it.
    with filed.register.engine.connect() as connection:
        first = connection.execute(
            select(audit_table.c.hash).where(audit_table.c.seq == 1)
        ).scalar_one()
    filed.tamper(delete(audit_table).where(audit_table.c.seq == 2))
    filed.tamper(update(audit_head_table).values(seq=1, hash=first))
    report = filed.register.verify_audit(anchor=(2, kept.head_hash or ""))
    assert (
        "the anchor's entry 2 is not in the history (it ends at entry 1): entries were deleted"
        in report.problems
    )


def test_without_the_readings_the_figures_are_still_checked(filed: Filed, tmp_path: Path) -> None:
    event_id, _hazard_id = filed.file()
    bare = HazardRegister(filed.register.url)
    with bare:
        report = bare.verify_audit()
        assert report.ok
        assert (report.evidence_checked, report.readings_unchecked) == (1, 1)
        filed.tamper(update(events_table).where(events_table.c.id == event_id).values(peak=1.0))
        assert not bare.verify_audit().ok


def test_a_register_sharing_the_readings_file_digests_its_own_rows(tmp_path: Path) -> None:
    # The demo's and `hazmon run`'s one file: no reader is given, the register reads its rows.
    path = tmp_path / "kit.db"
    with SqliteTimeSeries(path) as store:
        write(store, T0, VALUES, LEVELS)
    with HazardRegister(f"sqlite:///{path}") as register:
        _event_id, hazard_id = register.record_event(
            EVENT, LEL, RULES["lel"], CONTEXT, create_hazard=True, evidence_margin_ns=2 * SECOND
        )
        assert hazard_id is not None
        [entry] = register.history(hazard_id)
        assert entry.detail["evidence"][0]["readings"]["count"] == 8
        assert register.verify_audit().ok
        with sqlite3.connect(path) as connection:
            connection.execute("DELETE FROM readings WHERE ts = ?", (T0 + 3 * SECOND,))
        [problem] = register.verify_audit().problems
        assert problem.endswith("1 of its 8 readings were deleted; maximum 71.5 → 58.0")


def test_a_manual_hazard_with_an_evidence_window_is_covered(filed: Filed) -> None:
    hazard_id = filed.register.add_hazard(
        CONTEXT,
        "gas smelt at the flange, meter confirmed",
        rule_id="lel",
        standard="GB/T 50493-2019",
        clause="5.5.2(2)",
        actor="Wang",
        evidence=[(LEL, T0, T0 + 7 * SECOND)],
    )
    [entry] = filed.register.history(hazard_id)
    assert entry.detail["evidence"][0]["event"] is None
    assert filed.register.verify_audit(readings=filed.store).ok
    filed.tamper_readings("DELETE FROM readings WHERE ts = ?", T0)
    [problem] = filed.problems()
    assert problem.endswith("1 of its 8 readings were deleted")
