"""The hazard register: events, hazard records with evidence, their workflow and audit.

Written with SQLAlchemy Core so that the same code runs on the embedded SQLite
default and on a department's PostgreSQL. The workflow is the one the 漯河
"leader + expert" notice lays down (DESIGN.md, "Rules from the source document")::

    pending_review ──confirm(general|major)──▶ confirmed ──plan──▶ rectifying
          │                                       │                   │
          └──dismiss(reason)──▶ dismissed         │ (general only:    ▼
                                                  │  on the spot)  rectified
                                                  ▼                   │
                                               verified ◀──verify(named expert)

- A major hazard enters ``rectifying`` only when its plan has the "five in place":
  responsibility (unit and person), measures, funds, deadline and contingency plan;
  it closes only when a named expert verifies the rectification.
- A general hazard may be fixed and closed on the spot with a note, or rectified by a
  deadline like a major one (its plan needs no items).
- ``overdue`` is not a stored status: a confirmed or rectifying hazard whose deadline
  has passed is overdue, computed when asked, so it is never stale.
- A hazard found in an enterprise's self-inspection with experts it hired keeps that
  source and refuses being marked as a basis for administrative penalty.
- Referral of illegal conduct (a case filed, or transferred to the competent
  department) is recorded against the hazard.

Every change is appended to the hash-chained audit history of :mod:`hazmon.store.audit`
in the same transaction as the change itself.

Evidence is stored by channel identity (site, device, quantity, substance) and time
window rather than by a row id of the time-series store, so the register can live in
another database than the readings.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel
from hazmon.config.numbers import format_number
from hazmon.config.standards import LimitRule
from hazmon.store.audit import GENESIS, canonical_json, entry_hash, state_hash, utc
from hazmon.store.evidence import (
    RegisterReadings,
    changed_figures,
    changed_readings,
    event_figures,
    readings_digest,
)
from hazmon.store.lifecycle import Closable
from hazmon.store.timeseries import WindowReader

metadata = MetaData()

events_table = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(200), nullable=False),
    Column("device", String(200), nullable=False),
    Column("name", String(200), nullable=False, default="", server_default=""),
    Column("quantity", String(64), nullable=False),
    Column("substance", String(64), nullable=False, default=""),
    Column("unit", String(32), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("level", Integer, nullable=False),
    Column("side", Integer, nullable=False),
    Column("start_ts", BigInteger, nullable=False, comment="ns UTC"),
    Column("end_ts", BigInteger, nullable=False, comment="ns UTC"),
    Column("peak", Float, nullable=False, comment="canonical unit"),
    Column("peak_ts", BigInteger, nullable=False, comment="ns UTC"),
    Column("duration_s", Float, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("limit_value", Float, nullable=True, comment="set point broken, canonical unit"),
    Column(
        "record_key",
        String(32),
        nullable=True,
        comment="idempotency key of a spooled event: a replayed copy is not stored twice",
    ),
    Index("ix_events_record_key", "record_key", unique=True),
)

inspections_table = Table(
    "inspections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("date", Date, nullable=False),
    Column("enterprise", String(200), nullable=False),
    Column("leader", String(200), nullable=False, comment="the department's leader"),
    Column("experts", Text, nullable=False, comment="JSON list of expert names"),
    Column("source", String(32), nullable=False),
)

instruments_table = Table(
    "inspection_instruments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("inspection_id", Integer, ForeignKey("inspections.id"), nullable=False),
    Column("device", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("serial", String(200), nullable=False),
    Column("calibration_due", Date, nullable=False),
)

hazards_table = Table(
    "hazards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(32), nullable=False),
    Column("source", String(32), nullable=False),
    Column("enterprise", String(200), nullable=False),
    Column("location", String(200), nullable=False),
    Column("finding", Text, nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("standard", String(100), nullable=False),
    Column("clause", String(100), nullable=False),
    Column("grade", String(16), nullable=True, comment="general | major, set on review"),
    Column("deadline", DateTime(timezone=True), nullable=True),
    Column("responsible_unit", String(200), nullable=True),
    Column("responsible_person", String(200), nullable=True),
    Column("inspection_id", Integer, ForeignKey("inspections.id"), nullable=True),
    Column("penalty_basis", Boolean, nullable=False, default=False),
    Column("dismissed_reason", Text, nullable=True),
    Column("plan_measures", Text, nullable=True),
    Column("plan_funds", Text, nullable=True),
    Column("plan_contingency", Text, nullable=True),
    Column("rectification_note", Text, nullable=True),
    Column("closed_on_spot", Boolean, nullable=False, default=False),
    Column("verified_by", String(200), nullable=True),
    Column("verification_note", Text, nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("audit_head", String(64), nullable=True, comment="hash of the newest audit entry"),
)

evidence_table = Table(
    "hazard_evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=True),
    Column("site", String(200), nullable=False),
    Column("device", String(200), nullable=False),
    Column("name", String(200), nullable=False, default="", server_default=""),
    Column("quantity", String(64), nullable=False),
    Column("substance", String(64), nullable=False, default=""),
    Column("start_ts", BigInteger, nullable=False, comment="ns UTC, window start"),
    Column("end_ts", BigInteger, nullable=False, comment="ns UTC, window end"),
)

referrals_table = Table(
    "hazard_referrals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
    Column("kind", String(32), nullable=False, comment="case_filed | transferred"),
    Column("department", String(200), nullable=False),
    Column("reference", String(200), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
)

audit_table = Table(
    "hazard_audit",
    metadata,
    # Numbered by the register, not the database, so that a gap is a deleted entry.
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("hazard_id", Integer, nullable=True),
    Column("at", String(40), nullable=False, comment="ISO 8601 UTC, hashed as written"),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False, comment="canonical JSON"),
    Column("state_hash", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head_table = Table(
    "hazard_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

Status = Literal["pending_review", "confirmed", "dismissed", "rectifying", "rectified", "verified"]
Grade = Literal["general", "major"]
# "central": filed by a central worker judging a kit's or fixed meter's readings.
Source = Literal["supervision_inspection", "self_inspection", "central"]
ReferralKind = Literal["case_filed", "transferred"]

PENDING_REVIEW: Status = "pending_review"
CONFIRMED: Status = "confirmed"
DISMISSED: Status = "dismissed"
RECTIFYING: Status = "rectifying"
RECTIFIED: Status = "rectified"
VERIFIED: Status = "verified"
STATUSES: tuple[str, ...] = get_args(Status)
GRADES: tuple[str, ...] = get_args(Grade)
SOURCES: tuple[str, ...] = get_args(Source)
REFERRAL_KINDS: tuple[str, ...] = get_args(ReferralKind)
#: Statuses in which a passed deadline makes a hazard overdue.
OPEN_FOR_RECTIFICATION: tuple[str, ...] = (CONFIRMED, RECTIFYING)


class Action(str):
    """A workflow step named in a refusal; translated as ``action|<step>`` (a step's
    name, "plan", is also a noun with a translation of its own)."""


class OneOf(tuple[str, ...]):
    """Alternatives named in a refusal: "a or b" in English, "a或b" in Chinese."""


class HazardError(Exception):
    """A register operation that cannot be done; the message says why.

    ``template`` is the English message with ``%(name)s`` fields for ``params``, so the
    desk can show it in the user's language (:meth:`translated`) from the catalogs;
    ``str()`` is the English text the command line prints.
    """

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(self._format(template, lambda text: text, ", ", " or "))

    def _format(
        self, template: str, gettext: Callable[[str], str], comma: str, alternative: str
    ) -> str:
        if not self.params:
            return template
        shown: dict[str, Any] = {}
        for name, value in self.params.items():
            if isinstance(value, Action):
                translated = gettext(f"action|{value}")
                shown[name] = str(value) if translated == f"action|{value}" else translated
            elif isinstance(value, OneOf):
                shown[name] = alternative.join(gettext(item) for item in value)
            elif isinstance(value, list | tuple):
                shown[name] = comma.join(gettext(str(item)) for item in value)
            elif isinstance(value, str):
                shown[name] = gettext(value)
            else:
                shown[name] = value
        return template % shown

    def translated(self, gettext: Callable[[str], str], *, chinese: bool = True) -> str:
        """The message in the language of ``gettext`` (terms and plan items too)."""
        comma, alternative = ("、", "或") if chinese else (", ", " or ")
        return self._format(gettext(self.template), gettext, comma, alternative)


class HazardNotFound(HazardError):
    """No hazard (or inspection) with the given id."""


class IllegalTransition(HazardError):
    """A workflow step the hazard's status, grade, source or plan does not allow."""


@dataclass(frozen=True, slots=True)
class HazardContext:
    """Who and where a hazard is recorded for."""

    enterprise: str
    location: str
    source: str = "supervision_inspection"
    inspection_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A closed event as the register files it: everything :meth:`HazardRegister.record`
    needs, with no reference to a live pipeline, so it can wait in a spool across a
    restart (:meth:`to_json`, :meth:`from_json`).

    Attributes
    ----------
    key
        Idempotency key (stored with the event, unique): recording a record whose key
        is already in the register changes nothing. Empty: no key.
    start_ts, end_ts, peak_ts : [ns UTC]
    peak, limit_value : [canonical unit]
        The extreme value and the set point broken (None when no set point was).
    evidence_margin_ns : [ns]
        Added before the start and after the end of the event to form the evidence
        window, so the record shows the readings leading up to it.
    attach_to_open
        One hazard per condition: while the channel's rule has an open hazard in the
        same context, the event is further evidence on it rather than a new record.
    """

    key: str
    channel: Channel
    context: HazardContext
    rule_id: str
    standard: str
    clause: str
    level: int
    side: int
    start_ts: int
    end_ts: int
    peak: float
    peak_ts: int
    samples: int
    limit_value: float | None
    create_hazard: bool = True
    evidence_margin_ns: int = 0
    attach_to_open: bool = False
    actor: str = "hazmon"

    @classmethod
    def of(
        cls,
        event: Event,
        channel: Channel,
        rule: LimitRule,
        context: HazardContext,
        *,
        key: str = "",
        create_hazard: bool = True,
        evidence_margin_ns: int = 0,
        attach_to_open: bool = False,
        actor: str = "hazmon",
    ) -> EventRecord:
        """The record of ``event`` on ``channel`` against ``rule``."""
        broken = [
            point.value
            for point in rule.set_points
            if point.level <= event.max_level
            and (1 if point.direction == "above" else -1) == event.side
        ]
        limit_value = (max(broken) if event.side > 0 else min(broken)) if broken else None
        return cls(
            key=key,
            channel=channel,
            context=context,
            rule_id=rule.id,
            standard=rule.standard,
            clause=rule.clause,
            level=event.max_level,
            side=event.side,
            start_ts=event.start_ts,
            end_ts=event.end_ts,
            peak=event.peak,
            peak_ts=event.peak_ts,
            samples=event.samples,
            limit_value=limit_value,
            create_hazard=create_hazard,
            evidence_margin_ns=evidence_margin_ns,
            attach_to_open=attach_to_open,
            actor=actor,
        )

    @property
    def duration_s(self) -> float:
        """From the first to the last reading at or past the level [s]."""
        return (self.end_ts - self.start_ts) / 1e9

    def to_json(self) -> bytes:
        """The record as JSON (what a spool keeps; floats round-trip exactly)."""
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> EventRecord:
        """The record :meth:`to_json` wrote."""
        data = json.loads(payload)
        data["channel"] = Channel(**data["channel"])
        data["context"] = HazardContext(**data["context"])
        return cls(**data)


@dataclass(frozen=True, slots=True)
class RectificationPlan:
    """The "five in place" of a major hazard's rectification plan.

    ``None`` leaves an item as it was when the plan is updated.
    """

    responsible_unit: str | None = None
    responsible_person: str | None = None
    measures: str | None = None
    funds: str | None = None
    deadline: dt.datetime | None = None
    contingency: str | None = None


#: Plan item → the hazard columns that must be filled for it to be in place.
PLAN_ITEMS: dict[str, tuple[str, ...]] = {
    "responsibility (responsible unit and person)": ("responsible_unit", "responsible_person"),
    "measures": ("plan_measures",),
    "funds": ("plan_funds",),
    "deadline": ("deadline",),
    "contingency plan": ("plan_contingency",),
}


def missing_plan_items(record: Mapping[str, Any]) -> list[str]:
    """The plan items of the five not yet in place in ``record``."""
    return [
        item
        for item, columns in PLAN_ITEMS.items()
        if any(record.get(column) in (None, "") for column in columns)
    ]


@dataclass(frozen=True, slots=True)
class Instrument:
    """A meter taken on an inspection, with the date its calibration runs out."""

    device: str
    model: str
    serial: str
    calibration_due: dt.date


@dataclass(frozen=True, slots=True)
class Inspection:
    """One "leader + expert" inspection, which groups the hazards found on it."""

    date: dt.date
    enterprise: str
    leader: str
    experts: tuple[str, ...]
    instruments: tuple[Instrument, ...] = ()
    source: str = "supervision_inspection"

    def instruments_past_calibration(self) -> list[Instrument]:
        """Instruments whose calibration ran out before the inspection date."""
        return [item for item in self.instruments if item.calibration_due < self.date]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One change in a hazard's history."""

    seq: int
    hazard_id: int | None
    at: str
    actor: str
    action: str
    detail: dict[str, Any]
    hash: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What :meth:`HazardRegister.verify_audit` found; ``ok`` when nothing.

    Attributes
    ----------
    head_seq, head_hash
        The newest entry (0 and None for an empty chain): what to keep elsewhere (on
        the inspection report) and give back as ``anchor`` later.
    evidence_checked
        Evidence windows whose event figures or readings were re-read against the chain.
    readings_unchecked
        Evidence windows with a readings digest that could not be re-read (no store).
    """

    entries: int
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str | None = None
    evidence_checked: int = 0
    readings_unchecked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class EvidenceSummary:
    """A hazard's evidence window summarised from the stored readings.

    Attributes
    ----------
    peak : [canonical unit]
        The most extreme stored value on the broken side of the limit (max for an upper
        limit, min for a lower one); None when the window holds no value.
    duration_s : [s]
        From the first to the last stored reading at or above the event's level.
    limit : [canonical unit]
        The set point broken, from the event.
    """

    channel: Channel
    start_ts: int
    end_ts: int
    event_id: int | None
    readings: int
    flagged: int
    peak: float | None
    peak_ts: int | None
    duration_s: float
    limit: float | None
    level: int | None
    standard: str
    clause: str


#: The site's time zone when the site names none: dates people give are local dates.
DEFAULT_TIME_ZONE = "Asia/Shanghai"


def end_of_local_day(day: dt.date, zone: str = DEFAULT_TIME_ZONE) -> dt.datetime:
    """The last minute of ``day`` in ``zone`` (23:59 local), as UTC.

    A date-only deadline ends when the local day does: 23:59 Asia/Shanghai is 15:59 UTC,
    not 23:59 UTC eight hours later.
    """
    from zoneinfo import ZoneInfo

    local = dt.datetime.combine(day, dt.time(23, 59), tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.UTC)


def _format_value(value: float) -> str:
    # Plain digits in a finding: "5000 ppm", never "5e+03 ppm".
    return format_number(value, digits=3)


def _row_dict(row: Any) -> dict[str, Any]:
    record = dict(row._mapping)
    for key, value in record.items():
        if isinstance(value, dt.datetime):
            record[key] = utc(value)
    return record


def _require_text(value: str, template: str, **params: Any) -> str:
    """``value`` stripped; refused with ``template`` ("give …: it may not be empty") when blank."""
    if not value or not value.strip():
        raise IllegalTransition(template, **params)
    return value.strip()


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "hazmon.store:migrations")
    config.attributes["connection"] = connection
    return config


#: Alembic keeps its migration context in module globals: two threads of one process
#: migrating at once (a central worker's register writer and its acknowledgement
#: reader) broke each other (``KeyError: 'script'``).
_MIGRATING = threading.Lock()


def migrate(engine: Engine) -> None:
    """Bring the register's schema to the newest revision.

    A database without the register's tables gets today's tables and is stamped with
    the newest revision; one made by release 0.1.0 (its tables, no ``alembic_version``)
    is stamped with the initial revision, then upgraded.
    """
    with _MIGRATING:
        _migrate(engine)


def _migrate(engine: Engine) -> None:
    from alembic import command
    from sqlalchemy import inspect

    # The desk's tables and the list's indexes share the register's metadata; imported
    # here (they import this module) so that a new register has them all.
    from hazmon.store import accounts, attachments, hazard_list, inspections  # noqa: F401

    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        config = _alembic_config(connection)
        # The register may share a file with other tables (the demo's readings): only
        # its own tables say whether an old register is there.
        if not tables & set(metadata.tables):
            metadata.create_all(connection)
            command.stamp(config, "head")
            return
        if "alembic_version" not in tables:
            command.stamp(config, "0001")
        command.upgrade(config, "head")


class HazardRegister(Closable):
    """Events, hazard records, inspections and their audit history, by SQLAlchemy URL.

    Parameters
    ----------
    url
        ``sqlite:///path.db`` (the default store) or ``postgresql+psycopg://...``.
    timeout : [s]
        With a value, no call waits longer than about this on the database: connecting,
        a lock (SQLite), or a PostgreSQL link that stopped answering (TCP user timeout
        and keepalives); a dead pooled connection is noticed before it is used. The
        background register writer needs this so that a cut link is an error it retries,
        not a thread blocked for the kernel's TCP timeout. Without one, the drivers'
        defaults hold.
    readings
        Where the evidence readings are, for the digest a filed hazard's audit entry
        keeps of them. Without one, the readings a SQLite register file holds beside it
        are used (the demo's and ``hazmon run``'s one file); with neither, an entry
        vouches for the event figures only.
    """

    def __init__(
        self, url: str, *, timeout: float | None = None, readings: WindowReader | None = None
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.readings = readings
        self._engine: Engine | None = None

    def _engine_options(self) -> dict[str, Any]:
        if self.timeout is None:
            return {}
        if self.url.startswith("sqlite"):
            return {"connect_args": {"timeout": self.timeout}, "pool_pre_ping": True}
        milliseconds = max(1, round(self.timeout * 1000))
        connect_args = {
            "connect_timeout": max(1, round(self.timeout)),
            "tcp_user_timeout": milliseconds,
            "keepalives": 1,
            "keepalives_idle": max(1, round(self.timeout / 2)),
            "keepalives_interval": 1,
            "keepalives_count": 3,
        }
        return {"connect_args": connect_args, "pool_pre_ping": True}

    def open(self) -> None:
        """Connect, and create or upgrade the tables (Alembic, :mod:`hazmon.store.migrations`)."""
        if self._engine is None:
            engine = create_engine(self.url, **self._engine_options())
            try:
                migrate(engine)
            except BaseException:
                engine.dispose()
                raise
            self._engine = engine

    def close(self) -> None:
        """Release the connections (idempotent)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(f"hazard register {self.url} is not open; call open() first")
        return self._engine

    # ---------------------------------------------------------------- audit chain

    def _state(self, connection: Connection, hazard_id: int) -> dict[str, Any]:
        """Everything a hazard's audit entries vouch for: its row, evidence and referrals."""
        row = connection.execute(select(hazards_table).where(hazards_table.c.id == hazard_id)).one()
        record = _row_dict(row)
        record.pop("audit_head")
        record["evidence"] = [
            _row_dict(item)
            for item in connection.execute(
                select(evidence_table)
                .where(evidence_table.c.hazard_id == hazard_id)
                .order_by(evidence_table.c.id)
            )
        ]
        record["referrals"] = [
            _row_dict(item)
            for item in connection.execute(
                select(referrals_table)
                .where(referrals_table.c.hazard_id == hazard_id)
                .order_by(referrals_table.c.id)
            )
        ]
        return record

    def _append_audit(
        self,
        connection: Connection,
        hazard_id: int | None,
        actor: str,
        action: str,
        detail: Mapping[str, Any],
    ) -> str:
        # FOR UPDATE serialises appenders on PostgreSQL; on SQLite the write lock does,
        # and the seq primary key refuses a fork either way.
        head = connection.execute(
            select(audit_head_table.c.seq, audit_head_table.c.hash)
            .where(audit_head_table.c.id == 1)
            .with_for_update()
        ).first()
        seq, prev_hash = (1, GENESIS) if head is None else (head.seq + 1, head.hash)
        at = dt.datetime.now(dt.UTC).isoformat()
        detail_json = canonical_json(detail)
        state = state_hash(self._state(connection, hazard_id)) if hazard_id is not None else None
        digest = entry_hash(prev_hash, seq, hazard_id, at, actor, action, detail_json, state)
        connection.execute(
            audit_table.insert().values(
                seq=seq,
                hazard_id=hazard_id,
                at=at,
                actor=actor,
                action=action,
                detail=detail_json,
                state_hash=state,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        if head is None:
            connection.execute(audit_head_table.insert().values(id=1, seq=seq, hash=digest))
        else:
            connection.execute(
                audit_head_table.update()
                .where(audit_head_table.c.id == 1)
                .values(seq=seq, hash=digest)
            )
        if hazard_id is not None:
            connection.execute(
                hazards_table.update()
                .where(hazards_table.c.id == hazard_id)
                .values(audit_head=digest)
            )
        return digest

    def _readings_for(
        self, connection: Connection, readings: WindowReader | None
    ) -> WindowReader | None:
        if readings is not None:
            return readings
        if self.readings is not None:
            return self.readings
        return RegisterReadings(connection) if RegisterReadings.present(connection) else None

    @staticmethod
    def _evidence_channel(link: Any, event: Any) -> Channel:
        return Channel(
            site=link.site,
            device=link.device,
            quantity=link.quantity,
            unit=event.unit if event is not None else "",
            substance=link.substance,
            name=link.name,
        )

    def _evidence_detail(
        self, connection: Connection, evidence_ids: Sequence[int]
    ) -> list[dict[str, Any]]:
        """What an audit entry vouches for about new evidence windows: the event's
        figures and a digest of the readings stored so far (:mod:`hazmon.store.evidence`)."""
        reader = self._readings_for(connection, None)
        items = []
        for evidence_id in evidence_ids:
            link = connection.execute(
                select(evidence_table).where(evidence_table.c.id == evidence_id)
            ).one()
            event = None
            if link.event_id is not None:
                event = connection.execute(
                    select(events_table).where(events_table.c.id == link.event_id)
                ).one()
            digest = None
            if reader is not None:
                channel = self._evidence_channel(link, event)
                digest = readings_digest(reader.read_window(channel, link.start_ts, link.end_ts))
            items.append(
                {
                    "evidence_id": evidence_id,
                    "event_id": link.event_id,
                    "event": None if event is None else event_figures(dict(event._mapping)),
                    "readings": digest,
                }
            )
        return items

    def _verify_evidence(
        self,
        connection: Connection,
        rows: Sequence[Any],
        readings: WindowReader | None,
    ) -> tuple[list[str], int, int]:
        """Re-read each vouched-for evidence window: (problems, checked, readings unchecked)."""
        reader = self._readings_for(connection, readings)
        vouched: dict[int, tuple[int, int | None, dict[str, Any]]] = {}
        for row in rows:
            try:
                detail = json.loads(row.detail)
            except ValueError:
                continue  # an edited entry; its hash mismatch is reported already
            if not isinstance(detail, dict) or not isinstance(detail.get("evidence"), list):
                continue
            for item in detail["evidence"]:
                if isinstance(item, dict) and isinstance(item.get("evidence_id"), int):
                    vouched[item["evidence_id"]] = (row.seq, row.hazard_id, item)
        problems: list[str] = []
        unchecked = 0
        for evidence_id, (seq, hazard_id, item) in sorted(vouched.items()):
            where = f"hazard {hazard_id}, evidence {evidence_id} (audit entry {seq})"
            link = connection.execute(
                select(evidence_table).where(evidence_table.c.id == evidence_id)
            ).first()
            if link is None:
                problems.append(f"{where}: the evidence window was deleted")
                continue
            event = None
            if item.get("event") is not None:
                event = connection.execute(
                    select(events_table).where(events_table.c.id == item["event_id"])
                ).first()
                if event is None:
                    problems.append(f"{where}: event {item['event_id']} was deleted")
                else:
                    changed = changed_figures(item["event"], dict(event._mapping))
                    if changed:
                        problems.append(
                            f"{where}: event {item['event_id']} was edited: {'; '.join(changed)}"
                        )
            recorded = item.get("readings")
            if recorded is None:
                continue
            if reader is None:
                unchecked += 1
                continue
            until = recorded.get("until")
            if until is None:
                continue  # no reading was stored when filed: nothing was vouched for
            window = reader.read_window(
                self._evidence_channel(link, event), link.start_ts, int(until)
            )
            changed_text = changed_readings(recorded, window)
            if changed_text is not None:
                problems.append(f"{where}: its evidence readings changed: {changed_text}")
        return problems, len(vouched), unchecked

    def history(self, hazard_id: int) -> list[AuditEntry]:
        """The audit entries of one hazard, oldest first."""
        self.hazard(hazard_id)  # raises HazardNotFound
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(audit_table)
                .where(audit_table.c.hazard_id == hazard_id)
                .order_by(audit_table.c.seq)
            ).all()
        return [
            AuditEntry(
                seq=row.seq,
                hazard_id=row.hazard_id,
                at=row.at,
                actor=row.actor,
                action=row.action,
                detail=json.loads(row.detail),
                hash=row.hash,
            )
            for row in rows
        ]

    def verify_audit(
        self,
        *,
        readings: WindowReader | None = None,
        anchor: tuple[int, str] | None = None,
    ) -> AuditReport:
        """Recompute the whole chain and compare every hazard with its newest entry.

        Finds an edited entry (its hash no longer matches), a deleted one (a gap in
        the numbering, a broken link, or a head that points past the last entry), a
        hazard, evidence or referral row edited outside the register (its state no
        longer matches the state hash of the hazard's newest entry), and an event or
        evidence reading edited or deleted (it no longer matches the figures and digest
        the entry that filed it vouched for).

        Parameters
        ----------
        readings
            Where the evidence readings are (default: the register's, see the class).
        anchor
            (seq, hash) of an entry kept elsewhere (printed on a report): the chain up
            to that entry must still end in that hash, which finds a chain rewritten
            consistently from its start.
        """
        problems: list[str] = []
        with self.engine.connect() as connection:
            rows = connection.execute(select(audit_table).order_by(audit_table.c.seq)).all()
            head = connection.execute(
                select(audit_head_table).where(audit_head_table.c.id == 1)
            ).first()
            expected_prev = GENESIS
            expected_seq = 1
            newest: dict[int, Any] = {}
            for row in rows:
                if row.seq != expected_seq:
                    problems.append(
                        f"entries {expected_seq}..{row.seq - 1} are missing (deleted)"
                        if row.seq > expected_seq
                        else f"entry {row.seq} is out of sequence"
                    )
                if row.prev_hash != expected_prev:
                    problems.append(
                        f"entry {row.seq} does not link to the entry before it "
                        "(an entry before it was edited or deleted)"
                    )
                digest = entry_hash(
                    row.prev_hash,
                    row.seq,
                    row.hazard_id,
                    row.at,
                    row.actor,
                    row.action,
                    row.detail,
                    row.state_hash,
                )
                if digest != row.hash:
                    problems.append(
                        f"entry {row.seq} was edited: its content no longer matches its hash"
                    )
                expected_prev = row.hash
                expected_seq = row.seq + 1
                if row.hazard_id is not None:
                    newest[row.hazard_id] = row
            last_seq = rows[-1].seq if rows else 0
            last_hash = rows[-1].hash if rows else None
            if head is None and rows:
                problems.append("the audit head is missing")
            elif head is not None and (head.seq, head.hash) != (last_seq, last_hash):
                problems.append(
                    f"the audit head points at entry {head.seq} but the history ends at "
                    f"entry {last_seq}: the newest entries were deleted or rewritten"
                )
            hazard_ids = [
                int(value)
                for value in connection.execute(
                    select(hazards_table.c.id).order_by(hazards_table.c.id)
                ).scalars()
            ]
            for hazard_id in hazard_ids:
                entry = newest.get(hazard_id)
                if entry is None:
                    problems.append(f"hazard {hazard_id} has no audit history")
                    continue
                if state_hash(self._state(connection, hazard_id)) != entry.state_hash:
                    problems.append(
                        f"hazard {hazard_id} differs from the state its audit entry "
                        f"{entry.seq} recorded: it was edited outside the register"
                    )
            for hazard_id in sorted(set(newest) - set(hazard_ids)):
                problems.append(f"hazard {hazard_id} has an audit history but was deleted")
            evidence_problems, checked, unchecked = self._verify_evidence(
                connection, rows, readings
            )
            problems.extend(evidence_problems)
        if anchor is not None:
            anchor_seq, anchor_hash = anchor
            kept = next((row for row in rows if row.seq == anchor_seq), None)
            if kept is None:
                problems.append(
                    f"the anchor's entry {anchor_seq} is not in the history "
                    f"(it ends at entry {last_seq}): entries were deleted"
                )
            elif kept.hash != anchor_hash.lower():
                problems.append(
                    f"entry {anchor_seq} hashes {kept.hash}, not the anchor's {anchor_hash}: "
                    f"the history up to entry {anchor_seq} was rewritten"
                )
        return AuditReport(
            entries=len(rows),
            problems=problems,
            head_seq=last_seq,
            head_hash=last_hash,
            evidence_checked=checked,
            readings_unchecked=unchecked,
        )

    # ---------------------------------------------------------------- creation

    def record_event(
        self,
        event: Event,
        channel: Channel,
        rule: LimitRule,
        context: HazardContext,
        *,
        create_hazard: bool,
        evidence_margin_ns: int = 0,
        actor: str = "hazmon",
        attach_to_open: bool = False,
    ) -> tuple[int, int | None]:
        """Store an event and, when asked, the hazard record it raises.

        The parameters are those of :meth:`EventRecord.of`; see :meth:`record`.

        Returns
        -------
        (event_id, hazard_id or None)
        """
        return self.record(
            EventRecord.of(
                event,
                channel,
                rule,
                context,
                create_hazard=create_hazard,
                evidence_margin_ns=evidence_margin_ns,
                attach_to_open=attach_to_open,
                actor=actor,
            )
        )

    def record(self, record: EventRecord) -> tuple[int, int | None]:
        """Store a closed event and file or extend its hazard, in one transaction.

        Idempotent by ``record.key``: a record whose key the register already holds (a
        copy from a spool interrupted after the commit, before its removal) changes
        nothing and returns what the first copy stored.

        Returns
        -------
        (event_id, hazard_id or None)
        """
        channel = record.channel
        with self.engine.begin() as connection:
            if record.key:
                stored = self._recorded(connection, record.key)
                if stored is not None:
                    return stored
            inserted = connection.execute(
                events_table.insert().values(
                    site=channel.site,
                    device=channel.device,
                    name=channel.name,
                    quantity=channel.quantity,
                    substance=channel.substance,
                    unit=channel.unit,
                    rule_id=record.rule_id,
                    level=record.level,
                    side=record.side,
                    start_ts=record.start_ts,
                    end_ts=record.end_ts,
                    peak=record.peak,
                    peak_ts=record.peak_ts,
                    duration_s=record.duration_s,
                    samples=record.samples,
                    limit_value=record.limit_value,
                    record_key=record.key or None,
                )
            ).inserted_primary_key
            assert inserted is not None
            event_id = int(inserted[0])
            if not record.create_hazard:
                return event_id, None
            context = record.context
            open_hazard = (
                self._open_hazard_of(connection, channel, record.rule_id, context)
                if record.attach_to_open
                else None
            )
            evidence = evidence_table.insert().values(
                event_id=event_id,
                site=channel.site,
                device=channel.device,
                name=channel.name,
                quantity=channel.quantity,
                substance=channel.substance,
                start_ts=record.start_ts - record.evidence_margin_ns,
                end_ts=record.end_ts + record.evidence_margin_ns,
            )
            if open_hazard is not None:
                # One hazard per condition: while the channel's rule has an open record,
                # a new excursion is further evidence on it, not a new record.
                evidence_id = self._inserted(connection, evidence.values(hazard_id=open_hazard))
                self._append_audit(
                    connection,
                    open_hazard,
                    record.actor,
                    "evidence_added",
                    {
                        "event_id": event_id,
                        "peak": record.peak,
                        "duration_s": record.duration_s,
                        "evidence": self._evidence_detail(connection, [evidence_id]),
                    },
                )
                return event_id, open_hazard
            relation = "at or above" if record.side > 0 else "below"
            extreme = "peak" if record.side > 0 else "lowest"
            limit_text = (
                f"{relation} the set point {_format_value(record.limit_value)} {channel.unit}"
                if record.limit_value is not None
                else "past its set point"
            )
            named = channel.name or channel.quantity
            finding = (
                f"{named} on {channel.device} reached level A{record.level}: "
                f"{limit_text} for {record.duration_s:.1f} s, "
                f"{extreme} {_format_value(record.peak)} {channel.unit}"
            )
            hazard_id = self._insert_hazard(
                connection,
                context,
                finding=finding,
                rule_id=record.rule_id,
                standard=record.standard,
                clause=record.clause,
            )
            evidence_id = self._inserted(connection, evidence.values(hazard_id=hazard_id))
            self._append_audit(
                connection,
                hazard_id,
                record.actor,
                "created",
                {
                    "event_id": event_id,
                    "finding": finding,
                    "source": context.source,
                    "evidence": self._evidence_detail(connection, [evidence_id]),
                },
            )
        return event_id, hazard_id

    def extend(self, record: EventRecord) -> bool:
        """Bring the event filed under ``record.key`` to ``record``'s figures when it is
        the longer (an event filed at a stop and continued after the restart: the same
        channel and start, so the same key); its evidence window follows, and the
        hazard's audit chain gets an ``event_extended`` entry. True when it changed.
        """
        if not record.key:
            return False
        with self.engine.begin() as connection:
            row = connection.execute(
                select(events_table.c.id, events_table.c.end_ts, evidence_table.c.hazard_id)
                .outerjoin(evidence_table, evidence_table.c.event_id == events_table.c.id)
                .where(events_table.c.record_key == record.key)
                .limit(1)
            ).first()
            if row is None or record.end_ts <= int(row[1]):
                return False
            event_id, before, hazard_id = int(row[0]), int(row[1]), row[2]
            connection.execute(
                events_table.update()
                .where(events_table.c.id == event_id)
                .values(
                    level=record.level,
                    end_ts=record.end_ts,
                    peak=record.peak,
                    peak_ts=record.peak_ts,
                    duration_s=record.duration_s,
                    samples=record.samples,
                )
            )
            connection.execute(
                evidence_table.update()
                .where(evidence_table.c.event_id == event_id)
                .values(end_ts=record.end_ts + record.evidence_margin_ns)
            )
            if hazard_id is not None:
                evidence_ids = [
                    int(found)
                    for found in connection.execute(
                        select(evidence_table.c.id).where(evidence_table.c.event_id == event_id)
                    ).scalars()
                ]
                self._append_audit(
                    connection,
                    int(hazard_id),
                    record.actor,
                    "event_extended",
                    {
                        "event_id": event_id,
                        "end_ts_before": before,
                        "end_ts": record.end_ts,
                        "peak": record.peak,
                        "duration_s": record.duration_s,
                        # The extended figures and window are what the chain vouches
                        # for from here on (verify-audit takes the newest entry).
                        "evidence": self._evidence_detail(connection, evidence_ids),
                    },
                )
        return True

    @staticmethod
    def _inserted(connection: Connection, statement: Any) -> int:
        """Run an insert; return the new row's id."""
        inserted = connection.execute(statement).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    @staticmethod
    def _recorded(connection: Connection, key: str) -> tuple[int, int | None] | None:
        """(event id, hazard id) of the event stored under ``key``, or None."""
        row = connection.execute(
            select(events_table.c.id, evidence_table.c.hazard_id)
            .outerjoin(evidence_table, evidence_table.c.event_id == events_table.c.id)
            .where(events_table.c.record_key == key)
            .limit(1)
        ).first()
        if row is None:
            return None
        return int(row[0]), None if row[1] is None else int(row[1])

    def _open_hazard_of(
        self, connection: Connection, channel: Channel, rule_id: str, context: HazardContext
    ) -> int | None:
        """The open (not dismissed, not verified) hazard of ``rule_id`` on ``channel``
        filed in the same context (source, enterprise, location, inspection)."""
        row = connection.execute(
            select(hazards_table.c.id)
            .join(evidence_table, evidence_table.c.hazard_id == hazards_table.c.id)
            .where(
                hazards_table.c.rule_id == rule_id,
                hazards_table.c.status.not_in([DISMISSED, VERIFIED]),
                hazards_table.c.source == context.source,
                hazards_table.c.enterprise == context.enterprise,
                hazards_table.c.location == context.location,
                hazards_table.c.inspection_id.is_(None)
                if context.inspection_id is None
                else hazards_table.c.inspection_id == context.inspection_id,
                evidence_table.c.site == channel.site,
                evidence_table.c.device == channel.device,
                evidence_table.c.name == channel.name,
                evidence_table.c.quantity == channel.quantity,
                evidence_table.c.substance == channel.substance,
            )
            .order_by(hazards_table.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else int(row[0])

    def _insert_hazard(
        self,
        connection: Connection,
        context: HazardContext,
        *,
        finding: str,
        rule_id: str,
        standard: str,
        clause: str,
    ) -> int:
        if context.source not in SOURCES:
            raise HazardError(
                "source %(source)r is not one of %(sources)s",
                source=context.source,
                sources=SOURCES,
            )
        inserted = connection.execute(
            hazards_table.insert().values(
                created_at=dt.datetime.now(dt.UTC),
                status=PENDING_REVIEW,
                source=context.source,
                enterprise=context.enterprise,
                location=context.location,
                finding=finding,
                rule_id=rule_id,
                standard=standard,
                clause=clause,
                inspection_id=context.inspection_id,
                penalty_basis=False,
                closed_on_spot=False,
            )
        ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def add_hazard(
        self,
        context: HazardContext,
        finding: str,
        *,
        rule_id: str,
        standard: str,
        clause: str,
        actor: str,
        evidence: Sequence[tuple[Channel, int, int]] = (),
    ) -> int:
        """Record a hazard an expert found (not raised by an event); return its id.

        ``evidence`` holds (channel, start [ns UTC], end [ns UTC]) windows of readings.
        """
        finding = _require_text(finding, "give the finding: it may not be empty")
        with self.engine.begin() as connection:
            hazard_id = self._insert_hazard(
                connection,
                context,
                finding=finding,
                rule_id=rule_id,
                standard=standard,
                clause=clause,
            )
            evidence_ids = []
            for channel, start_ns, end_ns in evidence:
                evidence_id = self._inserted(
                    connection,
                    evidence_table.insert().values(
                        hazard_id=hazard_id,
                        event_id=None,
                        site=channel.site,
                        device=channel.device,
                        name=channel.name,
                        quantity=channel.quantity,
                        substance=channel.substance,
                        start_ts=start_ns,
                        end_ts=end_ns,
                    ),
                )
                evidence_ids.append(evidence_id)
            detail: dict[str, Any] = {"finding": finding, "source": context.source}
            if evidence_ids:
                detail["evidence"] = self._evidence_detail(connection, evidence_ids)
            self._append_audit(connection, hazard_id, actor, "created", detail)
        return hazard_id

    def add_inspection(self, inspection: Inspection, *, actor: str) -> int:
        """Record an inspection with its instruments; return its id."""
        if inspection.source not in SOURCES:
            raise HazardError(
                "source %(source)r is not one of %(sources)s",
                source=inspection.source,
                sources=SOURCES,
            )
        with self.engine.begin() as connection:
            inserted = connection.execute(
                inspections_table.insert().values(
                    date=inspection.date,
                    enterprise=inspection.enterprise,
                    leader=inspection.leader,
                    experts=json.dumps(list(inspection.experts), ensure_ascii=False),
                    source=inspection.source,
                )
            ).inserted_primary_key
            assert inserted is not None
            inspection_id = int(inserted[0])
            for instrument in inspection.instruments:
                connection.execute(
                    instruments_table.insert().values(
                        inspection_id=inspection_id, **asdict(instrument)
                    )
                )
            self._append_audit(
                connection,
                None,
                actor,
                "inspection",
                {"inspection_id": inspection_id, **asdict(inspection)},
            )
        return inspection_id

    def inspection(self, inspection_id: int) -> Inspection:
        """The inspection ``inspection_id`` with its instruments."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(inspections_table).where(inspections_table.c.id == inspection_id)
            ).first()
            if row is None:
                raise HazardNotFound("no inspection %(id)s", id=inspection_id)
            instruments = connection.execute(
                select(instruments_table)
                .where(instruments_table.c.inspection_id == inspection_id)
                .order_by(instruments_table.c.id)
            ).all()
        return Inspection(
            date=row.date,
            enterprise=row.enterprise,
            leader=row.leader,
            experts=tuple(json.loads(row.experts)),
            instruments=tuple(
                Instrument(item.device, item.model, item.serial, item.calibration_due)
                for item in instruments
            ),
            source=row.source,
        )

    # ---------------------------------------------------------------- workflow

    def _change(
        self,
        hazard_id: int,
        actor: str,
        action: str,
        decide: Callable[[dict[str, Any]], dict[str, Any]],
        detail: Mapping[str, Any],
        *,
        extra: Callable[[Connection], None] | None = None,
    ) -> dict[str, Any]:
        """Apply one audited change in one transaction; ``decide`` raises when illegal."""
        actor = _require_text(actor, "give who makes the change (actor): it may not be empty")
        with self.engine.begin() as connection:
            row = connection.execute(
                select(hazards_table).where(hazards_table.c.id == hazard_id).with_for_update()
            ).first()
            if row is None:
                raise HazardNotFound("no hazard %(id)s", id=hazard_id)
            record = _row_dict(row)
            changes = decide(record)
            if changes:
                connection.execute(
                    hazards_table.update().where(hazards_table.c.id == hazard_id).values(**changes)
                )
            if extra is not None:
                extra(connection)
            self._append_audit(connection, hazard_id, actor, action, {**detail, **changes})
        record.update(changes)
        return record

    @staticmethod
    def _expect(record: Mapping[str, Any], action: str, allowed: Sequence[str]) -> None:
        if record["status"] not in allowed:
            raise IllegalTransition(
                "cannot %(action)s hazard %(id)s: it is %(status)s; "
                "%(action)s takes a hazard that is %(allowed)s",
                action=Action(action),
                id=record["id"],
                status=record["status"],
                allowed=OneOf(allowed),
            )

    def confirm(
        self,
        hazard_id: int,
        grade: str,
        *,
        actor: str,
        deadline: dt.datetime | None = None,
        responsible_unit: str | None = None,
        responsible_person: str | None = None,
    ) -> dict[str, Any]:
        """pending_review → confirmed, as a general or major hazard."""
        if grade not in GRADES:
            raise IllegalTransition("grade %(grade)r: give general or major", grade=grade)

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            self._expect(record, "confirm", [PENDING_REVIEW])
            changes: dict[str, Any] = {"status": CONFIRMED, "grade": grade}
            if deadline is not None:
                changes["deadline"] = utc(deadline)
            if responsible_unit is not None:
                changes["responsible_unit"] = responsible_unit
            if responsible_person is not None:
                changes["responsible_person"] = responsible_person
            return changes

        return self._change(hazard_id, actor, "confirmed", decide, {})

    def dismiss(self, hazard_id: int, reason: str, *, actor: str) -> dict[str, Any]:
        """pending_review → dismissed, with the reason (a false alarm, a sensor fault...)."""

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            self._expect(record, "dismiss", [PENDING_REVIEW])
            text = _require_text(
                reason,
                "give the reason hazard %(id)s is dismissed: it may not be empty",
                id=record["id"],
            )
            return {"status": DISMISSED, "dismissed_reason": text}

        return self._change(hazard_id, actor, "dismissed", decide, {})

    def set_plan(
        self, hazard_id: int, plan: RectificationPlan, *, actor: str
    ) -> tuple[dict[str, Any], list[str]]:
        """Record plan items; a confirmed hazard whose plan is complete enters rectifying.

        A general hazard's plan needs no items; a major hazard's needs all five.

        Returns
        -------
        (the record after the change, the plan items still missing)
        """
        missing: list[str] = []

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            self._expect(record, "plan", [CONFIRMED, RECTIFYING])
            changes: dict[str, Any] = {
                column: value
                for column, value in (
                    ("responsible_unit", plan.responsible_unit),
                    ("responsible_person", plan.responsible_person),
                    ("plan_measures", plan.measures),
                    ("plan_funds", plan.funds),
                    ("deadline", None if plan.deadline is None else utc(plan.deadline)),
                    ("plan_contingency", plan.contingency),
                )
                if value is not None
            }
            missing.extend(missing_plan_items({**record, **changes}))
            if record["status"] == CONFIRMED and (record["grade"] == "general" or not missing):
                changes["status"] = RECTIFYING
            return changes

        record = self._change(hazard_id, actor, "plan", decide, {})
        return record, missing if record["grade"] == "major" else []

    def start_rectification(self, hazard_id: int, *, actor: str) -> dict[str, Any]:
        """confirmed → rectifying; a major hazard needs its five plan items in place."""

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            self._expect(record, "start rectifying", [CONFIRMED])
            missing = missing_plan_items(record)
            if record["grade"] == "major" and missing:
                raise IllegalTransition(
                    "major hazard %(id)s cannot enter rectifying: its plan lacks %(missing)s "
                    "(hazmon hazards plan %(id)s ...)",
                    id=record["id"],
                    missing=missing,
                )
            return {"status": RECTIFYING}

        return self._change(hazard_id, actor, "rectifying", decide, {})

    def mark_rectified(self, hazard_id: int, note: str, *, actor: str) -> dict[str, Any]:
        """rectifying → rectified (a general hazard may also come straight from confirmed)."""

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            allowed = [RECTIFYING] if record["grade"] == "major" else [CONFIRMED, RECTIFYING]
            if record["grade"] == "major" and record["status"] == CONFIRMED:
                raise IllegalTransition(
                    "major hazard %(id)s cannot be marked rectified: it has not entered "
                    "rectifying; its plan lacks %(missing)s",
                    id=record["id"],
                    missing=missing_plan_items(record) or ["nothing (start rectifying)"],
                )
            self._expect(record, "mark rectified", allowed)
            text = _require_text(
                note,
                "give a note on how hazard %(id)s was rectified: it may not be empty",
                id=record["id"],
            )
            return {"status": RECTIFIED, "rectification_note": text}

        return self._change(hazard_id, actor, "rectified", decide, {})

    def close_on_spot(self, hazard_id: int, note: str, *, actor: str) -> dict[str, Any]:
        """A general hazard fixed on the spot: confirmed or rectifying → verified (closed)."""

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            if record["grade"] == "major":
                raise IllegalTransition(
                    "major hazard %(id)s cannot be closed on the spot: it needs a plan with "
                    "the five items in place and verification by a named expert",
                    id=record["id"],
                )
            self._expect(record, "close on the spot", [CONFIRMED, RECTIFYING])
            text = _require_text(
                note,
                "give a note on how hazard %(id)s was fixed: it may not be empty",
                id=record["id"],
            )
            return {
                "status": VERIFIED,
                "rectification_note": text,
                "closed_on_spot": True,
                "closed_at": dt.datetime.now(dt.UTC),
            }

        return self._change(hazard_id, actor, "closed_on_spot", decide, {})

    def verify(self, hazard_id: int, expert: str, *, actor: str, note: str = "") -> dict[str, Any]:
        """rectified → verified (closed), by a named expert."""

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            if record["status"] == RECTIFYING:
                raise IllegalTransition(
                    "cannot verify hazard %(id)s: it is still rectifying; mark it rectified "
                    "first (hazmon hazards rectified)",
                    id=record["id"],
                )
            self._expect(record, "verify", [RECTIFIED])
            name = _require_text(
                expert,
                "give the name of the expert who verified hazard %(id)s: it may not be empty",
                id=record["id"],
            )
            return {
                "status": VERIFIED,
                "verified_by": name,
                "verification_note": note,
                "closed_at": dt.datetime.now(dt.UTC),
            }

        return self._change(hazard_id, actor, "verified", decide, {})

    def mark_penalty_basis(self, hazard_id: int, *, actor: str) -> dict[str, Any]:
        """Mark a confirmed hazard as a basis for administrative penalty.

        Refused for hazards found in an enterprise's self-inspection with experts it
        hired: the notice rules them out as a basis for penalty.
        """

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            if record["source"] == "self_inspection":
                raise IllegalTransition(
                    "hazard %(id)s was found in the enterprise's self-inspection with experts "
                    "it hired; such findings are not a basis for administrative penalty",
                    id=record["id"],
                )
            self._expect(
                record, "mark as a penalty basis", [CONFIRMED, RECTIFYING, RECTIFIED, VERIFIED]
            )
            return {"penalty_basis": True}

        return self._change(hazard_id, actor, "penalty_basis", decide, {})

    def refer(
        self,
        hazard_id: int,
        kind: str,
        department: str,
        *,
        actor: str,
        reference: str = "",
        note: str = "",
    ) -> dict[str, Any]:
        """Record the referral of illegal conduct: a case filed, or transferred."""
        if kind not in REFERRAL_KINDS:
            raise IllegalTransition(
                "referral kind %(kind)r: give case_filed or transferred", kind=kind
            )
        at = dt.datetime.now(dt.UTC)

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            self._expect(record, "refer", [CONFIRMED, RECTIFYING, RECTIFIED, VERIFIED])
            _require_text(
                department,
                "give the department that filed the case or took it over: it may not be empty",
            )
            return {}

        def insert(connection: Connection) -> None:
            connection.execute(
                referrals_table.insert().values(
                    hazard_id=hazard_id,
                    kind=kind,
                    department=department.strip(),
                    reference=reference,
                    note=note,
                    at=at,
                )
            )

        detail = {"kind": kind, "department": department.strip(), "reference": reference}
        return self._change(hazard_id, actor, "referred", decide, detail, extra=insert)

    def assign_inspection(self, hazard_id: int, inspection_id: int, *, actor: str) -> None:
        """Group a hazard under the inspection it was found on."""
        self.inspection(inspection_id)  # raises HazardNotFound

        def decide(record: dict[str, Any]) -> dict[str, Any]:
            return {"inspection_id": inspection_id}

        self._change(hazard_id, actor, "inspection", decide, {})

    # ---------------------------------------------------------------- queries

    def count(self, table: Table) -> int:
        """Rows in ``table`` (``events_table``, ``hazards_table``, ``evidence_table``)."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())

    @staticmethod
    def _overdue(record: Mapping[str, Any], now: dt.datetime) -> bool:
        deadline = record.get("deadline")
        return (
            record["status"] in OPEN_FOR_RECTIFICATION
            and deadline is not None
            and utc(deadline) < now
        )

    def hazards(
        self,
        *,
        status: str | None = None,
        grade: str | None = None,
        overdue: bool = False,
        now: dt.datetime | None = None,
        hazard_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Hazard records with their evidence and referrals, oldest first.

        Each record has an ``overdue`` flag: confirmed or rectifying past its deadline
        at ``now`` (default: the current time).
        """
        moment = utc(now) if now is not None else dt.datetime.now(dt.UTC)
        query = select(hazards_table).order_by(hazards_table.c.id)
        if status is not None:
            query = query.where(hazards_table.c.status == status)
        if grade is not None:
            query = query.where(hazards_table.c.grade == grade)
        if hazard_id is not None:
            query = query.where(hazards_table.c.id == hazard_id)
        with self.engine.connect() as connection:
            records = [_row_dict(row) for row in connection.execute(query)]
            for record in records:
                record["overdue"] = self._overdue(record, moment)
                record["evidence"] = [
                    dict(row._mapping)
                    for row in connection.execute(
                        select(evidence_table)
                        .where(evidence_table.c.hazard_id == record["id"])
                        .order_by(evidence_table.c.id)
                    )
                ]
                record["referrals"] = [
                    _row_dict(row)
                    for row in connection.execute(
                        select(referrals_table)
                        .where(referrals_table.c.hazard_id == record["id"])
                        .order_by(referrals_table.c.id)
                    )
                ]
                record["excursions"] = self._excursions(connection, record["id"])
        if overdue:
            records = [record for record in records if record["overdue"]]
        return records

    @staticmethod
    def _excursions(connection: Connection, hazard_id: int) -> dict[str, Any]:
        """What the events attached to a hazard add up to: one condition, many excursions.

        ``count`` events; ``worst`` the highest peak (the lowest, for a limit broken from
        below, such as oxygen deficiency) [canonical unit]; ``unit``; ``time_past_limit_s``
        the sum of their durations [s].
        """
        linked = (
            select(
                func.count(events_table.c.id),
                func.max(events_table.c.peak),
                func.min(events_table.c.peak),
                func.coalesce(func.sum(events_table.c.duration_s), 0.0),
                func.min(events_table.c.side),
                func.max(events_table.c.unit),
            )
            .select_from(
                evidence_table.join(events_table, evidence_table.c.event_id == events_table.c.id)
            )
            .where(evidence_table.c.hazard_id == hazard_id)
        )
        count, highest, lowest, total, side, unit = connection.execute(linked).one()
        return {
            "count": int(count),
            "worst": None if not count else float(lowest if side < 0 else highest),
            "unit": unit or "",
            "time_past_limit_s": float(total),
        }

    def hazard(self, hazard_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """One hazard record (see :meth:`hazards`)."""
        records = self.hazards(now=now, hazard_id=hazard_id)
        if not records:
            raise HazardNotFound("no hazard %(id)s", id=hazard_id)
        return records[0]

    def evidence_summary(self, hazard_id: int, store: WindowReader) -> list[EvidenceSummary]:
        """Summarise each evidence window of a hazard from the readings in ``store``."""
        record = self.hazard(hazard_id)
        summaries = []
        with self.engine.connect() as connection:
            for link in record["evidence"]:
                event = None
                if link["event_id"] is not None:
                    event = connection.execute(
                        select(events_table).where(events_table.c.id == link["event_id"])
                    ).first()
                channel = Channel(
                    site=link["site"],
                    device=link["device"],
                    quantity=link["quantity"],
                    unit=event.unit if event is not None else "",
                    substance=link["substance"],
                    name=link["name"],
                )
                window = store.read_window(channel, link["start_ts"], link["end_ts"])
                side = event.side if event is not None else 1
                min_level = event.level if event is not None else 2
                has_value = ~np.isnan(window.value)
                peak = peak_ts = None
                if has_value.any():
                    signed = np.where(has_value, window.value * side, -np.inf)
                    row = int(np.argmax(signed))
                    peak, peak_ts = float(window.value[row]), int(window.ts[row])
                above = window.ts[window.level >= min_level]
                summaries.append(
                    EvidenceSummary(
                        channel=channel,
                        start_ts=link["start_ts"],
                        end_ts=link["end_ts"],
                        event_id=link["event_id"],
                        readings=len(window.ts),
                        flagged=int(np.count_nonzero(window.quality)),
                        peak=peak,
                        peak_ts=peak_ts,
                        duration_s=float(above[-1] - above[0]) / 1e9 if len(above) else 0.0,
                        limit=event.limit_value if event is not None else None,
                        level=event.level if event is not None else None,
                        standard=record["standard"],
                        clause=record["clause"],
                    )
                )
        return summaries
