"""The department's hazard list: one filtered, sorted, paged query, and its statistics.

:meth:`HazardRegister.hazards` reads each record with its evidence and referrals, which
is right for one record and slow for a list of a hundred thousand; the list here is
one SELECT with the filters in SQL, and the statistics one GROUP BY.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Index, and_, case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.config.i18n import Gettext
from hazmon.config.numbers import DIGITS, format_number
from hazmon.store.audit import utc
from hazmon.store.hazards import (
    OPEN_FOR_RECTIFICATION,
    VERIFIED,
    events_table,
    evidence_table,
    hazards_table,
)

#: Columns the list may be sorted by.
SORTABLE = (
    "id",
    "created_at",
    "deadline",
    "status",
    "grade",
    "enterprise",
    "location",
    "source",
)
#: Indexes the list's filters and the statistics use (made by Alembic revision 0004).
LIST_INDEXES = (
    Index("ix_hazards_enterprise_status", hazards_table.c.enterprise, hazards_table.c.status),
    Index("ix_hazards_status_deadline", hazards_table.c.status, hazards_table.c.deadline),
    Index("ix_hazards_created_at", hazards_table.c.created_at),
    Index("ix_hazards_inspection_id", hazards_table.c.inspection_id),
)


LIST_COLUMNS = (
    "id",
    "created_at",
    "status",
    "source",
    "enterprise",
    "location",
    "finding",
    "standard",
    "clause",
    "grade",
    "deadline",
    "responsible_unit",
    "responsible_person",
    "inspection_id",
)


@dataclass(frozen=True, slots=True)
class HazardFilter:
    """What the list shows; every field None shows everything.

    ``created_from`` and ``created_to`` bound the creation time [UTC, inclusive start,
    exclusive end]; ``enterprise_only`` is the enterprise an enterprise account is
    confined to (applied whatever ``enterprise`` says).
    """

    status: str | None = None
    grade: str | None = None
    source: str | None = None
    enterprise: str | None = None
    inspection_id: int | None = None
    overdue: bool = False
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    enterprise_only: str | None = None
    due_within: dt.timedelta | None = None


def _overdue(now: dt.datetime) -> ColumnElement[bool]:
    table = hazards_table.c
    return and_(
        table.status.in_(OPEN_FOR_RECTIFICATION),
        table.deadline.is_not(None),
        table.deadline < now,
    )


def _conditions(where: HazardFilter, now: dt.datetime) -> list[ColumnElement[bool]]:
    table = hazards_table.c
    conditions: list[ColumnElement[bool]] = []
    if where.enterprise_only is not None:
        conditions.append(table.enterprise == where.enterprise_only)
    if where.status:
        conditions.append(table.status == where.status)
    if where.grade:
        conditions.append(table.grade == where.grade)
    if where.source:
        conditions.append(table.source == where.source)
    if where.enterprise:
        conditions.append(table.enterprise == where.enterprise)
    if where.inspection_id is not None:
        conditions.append(table.inspection_id == where.inspection_id)
    if where.overdue:
        conditions.append(_overdue(now))
    if where.due_within is not None:
        conditions.append(
            and_(
                table.status.in_(OPEN_FOR_RECTIFICATION),
                table.deadline >= now,
                table.deadline < now + where.due_within,
            )
        )
    if where.created_from is not None:
        conditions.append(table.created_at >= utc(where.created_from))
    if where.created_to is not None:
        conditions.append(table.created_at < utc(where.created_to))
    return conditions


def hazard_page(
    engine: Engine,
    where: HazardFilter,
    *,
    sort: str = "id",
    descending: bool = True,
    page: int = 1,
    per_page: int = 50,
    now: dt.datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the list and the number of hazards matching the filter.

    Each row has the list's columns and an ``overdue`` flag.
    """
    if sort not in SORTABLE:
        raise ValueError(f"sort by {sort!r}: give one of {', '.join(SORTABLE)}")
    moment = utc(now) if now is not None else dt.datetime.now(dt.UTC)
    conditions = _conditions(where, moment)
    column = hazards_table.c[sort]
    order = [column.desc() if descending else column.asc(), hazards_table.c.id.desc()]
    query = (
        select(*(hazards_table.c[name] for name in LIST_COLUMNS), _overdue(moment).label("overdue"))
        .where(*conditions)
        .order_by(*order)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    total_query = select(func.count()).select_from(hazards_table).where(*conditions)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
        total = int(connection.execute(total_query).scalar_one())
    for row in rows:
        row["overdue"] = bool(row["overdue"])
        for key in ("created_at", "deadline"):
            if row[key] is not None:
                row[key] = utc(row[key])
    return rows, total


def counts_by_status(
    engine: Engine, where: HazardFilter, now: dt.datetime | None = None
) -> dict[str, int]:
    """How many hazards of the filter are in each status (and overdue)."""
    moment = utc(now) if now is not None else dt.datetime.now(dt.UTC)
    conditions = _conditions(where, moment)
    table = hazards_table.c
    query = select(table.status, func.count()).where(*conditions).group_by(table.status)
    overdue = select(func.count()).select_from(hazards_table).where(*conditions, _overdue(moment))
    with engine.connect() as connection:
        counts = {str(status): int(n) for status, n in connection.execute(query)}
        counts["overdue"] = int(connection.execute(overdue).scalar_one())
    return counts


def statistics(
    engine: Engine, by: str, where: HazardFilter, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Counts and rates per enterprise (``by="enterprise"``) or area (``by="location"``).

    Dismissed and unconfirmed hazards are not counted: the rates are of confirmed
    hazards. Per group: general (count, unfixed, fix rate) and major (count, unfixed,
    overdue and unfixed, fix rate); a rate is fixed / count, None when the count is 0.
    "Fixed" is verified (closed, on the spot or after verification).
    """
    if by not in ("enterprise", "location"):
        raise ValueError(f"statistics by {by!r}: give enterprise or location")
    moment = utc(now) if now is not None else dt.datetime.now(dt.UTC)
    table = hazards_table.c
    group = table[by]
    fixed = table.status == VERIFIED

    def total(condition: ColumnElement[bool]) -> Any:
        return func.sum(case((condition, 1), else_=0))

    general = table.grade == "general"
    major = table.grade == "major"
    query = (
        select(
            group.label("group"),
            total(general).label("general"),
            total(and_(general, ~fixed)).label("general_unfixed"),
            total(major).label("major"),
            total(and_(major, ~fixed)).label("major_unfixed"),
            total(and_(major, _overdue(moment))).label("major_overdue"),
        )
        .where(*_conditions(where, moment), table.grade.is_not(None), table.status != "dismissed")
        .group_by(group)
        .order_by(group)
    )
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    for row in rows:
        for key in ("general", "general_unfixed", "major", "major_unfixed", "major_overdue"):
            row[key] = int(row[key] or 0)
        row["general_fix_rate"] = (
            (row["general"] - row["general_unfixed"]) / row["general"] if row["general"] else None
        )
        row["major_fix_rate"] = (
            (row["major"] - row["major_unfixed"]) / row["major"] if row["major"] else None
        )
    return rows


def enterprises(engine: Engine) -> list[str]:
    """Every enterprise that has a hazard, by name."""
    with engine.connect() as connection:
        return [
            str(name)
            for name in connection.execute(
                select(hazards_table.c.enterprise).distinct().order_by(hazards_table.c.enterprise)
            ).scalars()
        ]


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What a finding sentence says about one alarm event, whichever store holds it.

    Attributes
    ----------
    limit : [unit]
        The set point broken; None when not known.
    side
        +1 for an upper limit, -1 for a lower one (oxygen deficiency).
    peak : [unit]
        The most extreme value on the broken side; None for an empty window.
    peak_ts : [ns UTC]
        When the peak was read; None when not known.
    duration_s : [s]
        Time at or past the event's level.
    """

    quantity: str
    substance: str
    device: str
    level: int | None
    side: int
    limit: float | None
    unit: str
    duration_s: float
    peak: float | None
    peak_ts: int | None = None


def event_in_words(
    event: Any,
    gettext: Gettext,
    local: Callable[[int], str] | None = None,
    *,
    paper: Callable[[str, str], str] | None = None,
) -> str:
    """An event as a person says it, in the reader's language: plain numbers, the
    quantity's name, the peak's local time (``local``: ns since the epoch → wall time).

    ``event`` is an ``events`` row or an :class:`EventFacts`. With ``paper`` (the
    reader's ``pgettext``) the sentence takes the papers' formal wording (msgctxt
    "paper": 可燃气体浓度, 二级报警, 报警设定值) and leaves out the peak's time, which the
    paper's chart shows; a part not known (no set point, an empty window) is left out
    rather than shown as a dash.
    """
    facts = event if isinstance(event, EventFacts) else _facts(event)
    above = facts.side > 0
    # The papers have always shown 3 significant digits (55.9 %LEL), as their charts do.
    digits = 3 if paper is not None else DIGITS
    limit = format_number(facts.limit, digits=digits)
    peak = format_number(facts.peak, digits=digits)
    if paper is None:
        text = gettext(
            "{quantity} on {device} reached level A{level}: {relation} {limit} {unit} for "
            "{duration} s, {extreme} {peak} {unit} at {time}"
        )
        return text.format(
            quantity=gettext(facts.quantity),
            device=facts.device,
            level=facts.level,
            relation=gettext("at or above the set point")
            if above
            else gettext("below the set point"),
            limit=limit,
            unit=facts.unit,
            duration=format_number(facts.duration_s, digits=3),
            extreme=gettext("peak") if above else gettext("lowest"),
            peak=peak,
            time=local(int(facts.peak_ts)) if local and facts.peak_ts is not None else "—",
        )
    quantity = paper("paper", facts.quantity)
    if facts.substance:
        quantity = paper("paper", "{quantity} ({substance})").format(
            quantity=quantity, substance=gettext(facts.substance)
        )
    if facts.level:
        text = paper("paper", "{quantity} measured by {device} reached alarm level {level}")
    else:
        text = paper("paper", "{quantity} measured by {device} reached an alarm")
    text = text.format(
        quantity=quantity,
        device=facts.device,
        level=paper("paper", LEVEL_NAMES[facts.level]) if facts.level else "",
    )
    if facts.limit is not None:
        relation = (
            paper("paper", ", above the set point {limit} {unit}")
            if above
            else paper("paper", ", below the set point {limit} {unit}")
        )
        text += relation.format(limit=limit, unit=facts.unit)
    text += paper("paper", " for about {duration} s").format(
        duration=format_number(facts.duration_s, digits=3)
    )
    if facts.peak is not None:
        extreme = (
            paper("paper", ", peak {peak} {unit}")
            if above
            else paper("paper", ", lowest {peak} {unit}")
        )
        text += extreme.format(peak=peak, unit=facts.unit)
    return text


def _facts(event: Any) -> EventFacts:
    return EventFacts(
        quantity=str(event.quantity),
        substance=str(getattr(event, "substance", "") or ""),
        device=str(event.device),
        level=event.level,
        side=int(event.side),
        limit=event.limit_value,
        unit=str(event.unit),
        duration_s=float(event.duration_s),
        peak=event.peak,
        peak_ts=event.peak_ts,
    )


def findings_in_words(
    engine: Engine, rows: list[dict[str, Any]], gettext: Gettext, local: Callable[[int], str]
) -> None:
    """Set ``finding_in_words`` on each row (``id``, ``finding``): its first event in
    words (:func:`event_in_words`); a manual finding (no event) is the expert's own
    words. The stored finding is left as it is (the audit chain hashed it)."""
    first: dict[int, Any] = {}
    ids = [int(row["id"]) for row in rows]
    with engine.connect() as connection:
        for offset in range(0, len(ids), 500):
            query = (
                select(evidence_table.c.hazard_id, events_table)
                .join(events_table, events_table.c.id == evidence_table.c.event_id)
                .where(evidence_table.c.hazard_id.in_(ids[offset : offset + 500]))
                .order_by(evidence_table.c.id)
            )
            for event in connection.execute(query):
                first.setdefault(int(event.hazard_id), event)
    for row in rows:
        found = first.get(int(row["id"]))
        row["finding_in_words"] = (
            event_in_words(found, gettext, local) if found is not None else str(row["finding"])
        )
