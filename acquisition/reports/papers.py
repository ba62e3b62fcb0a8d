"""What goes on each paper: plain frozen records, and adapters that fill them from the stores.

The templates see only these records, never the register, so an inspection kept by the
department's desk (its own store) feeds the same papers as one kept in the hazard
register: build an :class:`InspectionPaper` from whichever holds it.

Times are kept as aware UTC datetimes or ns UTC here; the templates show them in the
site's time zone (Asia/Shanghai by default).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select

from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.config.i18n import context_translator, translator
from hazmon.config.numbers import format_number
from hazmon.store.hazard_list import EventFacts, event_in_words
from hazmon.store.hazards import (
    HazardRegister,
    Inspection,
    audit_head_table,
    missing_plan_items,
)
from hazmon.store.inspections import Inspections
from hazmon.store.timeseries import WindowReader


def quantity_name_zh(quantity: str) -> str:
    """A quantity as a Chinese paper names it (可燃气体浓度: the desk's columns say 可燃气体);
    from the catalog's msgctxt "paper" entries, the id itself when it has none."""
    return context_translator("zh_CN")("paper", quantity)


def level_name_zh(level: int | None, default: str) -> str:
    """An alarm level as the papers name it (GB/T 50493 speaks of 一级/二级 alarms);
    ``default`` for no level."""
    if not level:
        return default
    return context_translator("zh_CN")("paper", LEVEL_NAMES[level])


@dataclass(frozen=True, slots=True)
class InstrumentPaper:
    """A meter used on the inspection.

    ``past_due`` is set when its calibration ran out before the inspection date; its
    readings are then marked on the paper as not a sole basis for a finding.
    """

    device: str
    model: str
    serial: str
    calibration_due: dt.date
    past_due: bool


@dataclass(frozen=True, slots=True)
class EvidenceSeries:
    """The readings of one evidence window, for the chart and the words.

    Attributes
    ----------
    ts : NDArray[np.int64]
        [ns UTC]
    value : NDArray[np.float64]
        [unit]; NaN where a reading had no value.
    limit : [unit]
        The set point broken; None when not known.
    side
        +1 for an upper limit, -1 for a lower one (oxygen deficiency).
    peak : [unit]
        The most extreme value on the broken side, None when the window is empty.
    duration_s : [s]
        Time at or past the event's level.
    """

    label: str
    quantity: str
    substance: str
    unit: str
    start_ts: int
    end_ts: int
    ts: NDArray[np.int64]
    value: NDArray[np.float64]
    limit: float | None
    side: int
    level: int | None
    peak: float | None
    peak_ts: int | None
    duration_s: float
    readings: int
    flagged: int


@dataclass(frozen=True, slots=True)
class FindingPaper:
    """One hazard as a paper shows it."""

    hazard_id: int
    enterprise: str
    location: str
    description: str
    standard: str
    clause: str
    grade: str | None
    status: str
    advice: str
    deadline: dt.datetime | None
    responsible_unit: str | None
    responsible_person: str | None
    overdue: bool
    source: str
    evidence: tuple[EvidenceSeries, ...] = ()
    audit_head: str | None = None


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """The newest entry of the register's audit chain when the paper was made."""

    seq: int
    hash: str
    command: str


@dataclass(frozen=True, slots=True)
class InspectionPaper:
    """The expert's inspection record (检查记录)."""

    number: str
    enterprise: str
    date: dt.date
    place: str
    leader: str
    experts: tuple[str, ...]
    source: str
    instruments: tuple[InstrumentPaper, ...]
    findings: tuple[FindingPaper, ...]
    anchor: AuditAnchor | None
    made_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


@dataclass(frozen=True, slots=True)
class NoticePaper:
    """The rectification notice to the enterprise (隐患整改通知书)."""

    number: str
    enterprise: str
    inspected_on: dt.date | None
    issuer: str
    findings: tuple[FindingPaper, ...]
    anchor: AuditAnchor | None
    made_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def has_major(self) -> bool:
        return any(finding.grade == "major" for finding in self.findings)


@dataclass(frozen=True, slots=True)
class PlanItemPaper:
    """One of the five in place (五落实) of a major hazard's plan."""

    key: str  # responsibility | measures | funds | deadline | contingency
    text: str
    in_place: bool


@dataclass(frozen=True, slots=True)
class ReviewPaper:
    """The review opinion after rectification (复查意见书)."""

    number: str
    notice_number: str
    finding: FindingPaper
    plan: tuple[PlanItemPaper, ...]
    rectification: str
    verified: bool
    verified_by: str
    opinion: str
    closed_at: dt.datetime | None
    anchor: AuditAnchor | None
    made_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


#: The site time zone papers are shown in unless told otherwise.
DEFAULT_TZ = "Asia/Shanghai"


def local_text(moment: dt.datetime, tz: str = DEFAULT_TZ, *, seconds: bool = False) -> str:
    """``moment`` in the site's time zone as ``YYYY-MM-DD HH:MM``."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


# ------------------------------------------------------------------ adapters


def audit_anchor(register: HazardRegister, where: str) -> AuditAnchor | None:
    """The chain's head, with the command that checks it (``where``: ``--db FILE``...)."""
    with register.engine.connect() as connection:
        head = connection.execute(
            select(audit_head_table.c.seq, audit_head_table.c.hash).where(
                audit_head_table.c.id == 1
            )
        ).first()
    if head is None:
        return None
    return AuditAnchor(
        seq=int(head.seq),
        hash=str(head.hash),
        # The anchor makes the command itself check the printed hash: a chain rewritten
        # consistently since the paper was printed fails it.
        command=" ".join(
            part
            for part in ("hazmon hazards verify-audit", where, f"--anchor {head.seq}:{head.hash}")
            if part
        ),
    )


def _number(prefix: str, year: int, ids: Sequence[int]) -> str:
    return f"{prefix}〔{year}〕{'、'.join(f'{value:04d}' for value in ids)}号"


def plain_number(value: float) -> str:
    """``value`` to 3 significant digits without an exponent: 5000, 55.9, 0.0123."""
    return format_number(value, digits=3)


def _words(record: Mapping[str, Any], series: Sequence[EvidenceSeries], lang: str) -> str:
    """The finding in words from its evidence (the desk's sentence in the papers' formal
    wording); the stored text when there is none."""
    if not series:
        return str(record["finding"])
    locale = "zh_CN" if lang == "zh" else "en"
    paper = context_translator(locale)
    sentences = [
        event_in_words(
            EventFacts(
                quantity=item.quantity,
                substance=item.substance,
                device=item.label.split("/")[0],
                level=item.level,
                side=item.side,
                limit=item.limit,
                unit=item.unit,
                duration_s=item.duration_s,
                peak=item.peak,
                peak_ts=item.peak_ts,
            ),
            translator(locale),
            paper=paper,
        )
        for item in series
    ]
    return paper("paper", "; ").join(sentences) + paper("paper", ".")


def _advice(record: Mapping[str, Any], lang: str) -> str:
    if record.get("plan_measures"):
        return str(record["plan_measures"])
    if record.get("grade") == "major":
        if lang != "zh":
            return (
                "Act at once to prevent an accident; find the cause and draw up a plan with "
                "responsibility, measures, funds, deadline and contingency plan in place; "
                "rectify by the deadline and report."
            )
        return (
            "立即采取措施防止事故发生；查明原因，制定治理方案，落实责任、措施、资金、"
            "时限和预案，按期整改并报告。"
        )
    if lang != "zh":
        return (
            "Find and remove the cause of the excursion, check that the detection and alarm "
            "equipment works, rectify by the deadline and report."
        )
    return "查明超限原因并消除，确认检测报警设施完好有效，按期整改并报告。"


def evidence_series(
    register: HazardRegister, hazard_id: int, store: WindowReader | None
) -> tuple[EvidenceSeries, ...]:
    """The evidence windows of a hazard with their readings (none without a store)."""
    if store is None:
        return ()
    series = []
    for summary in register.evidence_summary(hazard_id, store):
        window = store.read_window(summary.channel, summary.start_ts, summary.end_ts)
        side = 1
        if summary.limit is not None and summary.peak is not None:
            side = 1 if summary.peak >= summary.limit else -1
        series.append(
            EvidenceSeries(
                label=summary.channel.label,
                quantity=summary.channel.quantity,
                substance=summary.channel.substance,
                unit=summary.channel.unit,
                start_ts=summary.start_ts,
                end_ts=summary.end_ts,
                ts=window.ts,
                value=window.value,
                limit=summary.limit,
                side=side,
                level=summary.level,
                peak=summary.peak,
                peak_ts=summary.peak_ts,
                duration_s=summary.duration_s,
                readings=summary.readings,
                flagged=summary.flagged,
            )
        )
    return tuple(series)


def finding_paper(
    register: HazardRegister,
    record: Mapping[str, Any],
    store: WindowReader | None,
    *,
    lang: str = "zh",
) -> FindingPaper:
    """A hazard record of the register as a paper shows it."""
    series = evidence_series(register, int(record["id"]), store)
    return FindingPaper(
        hazard_id=int(record["id"]),
        enterprise=str(record["enterprise"]),
        location=str(record["location"]),
        description=_words(record, series, lang),
        standard=str(record["standard"]),
        clause=str(record["clause"]),
        grade=record["grade"],
        status=str(record["status"]),
        advice=_advice(record, lang),
        deadline=record["deadline"],
        responsible_unit=record["responsible_unit"],
        responsible_person=record["responsible_person"],
        overdue=bool(record["overdue"]),
        source=str(record["source"]),
        evidence=series,
        audit_head=record["audit_head"],
    )


def inspection_paper(
    register: HazardRegister,
    inspection_id: int,
    store: WindowReader | None,
    *,
    where: str = "",
    inspection: Inspection | None = None,
    place: str | None = None,
    lang: str = "zh",
) -> InspectionPaper:
    """The inspection record from the hazard register's ``inspection`` and its hazards.

    The place is the one the desk recorded for the inspection
    (:mod:`hazmon.store.inspections`), else the findings' locations. ``inspection`` and
    ``place`` may be given by a caller that keeps them elsewhere; its hazards are still
    those the register links to the id.
    """
    found = inspection if inspection is not None else register.inspection(inspection_id)
    if place is None:
        place = Inspections(register).location(inspection_id) or None
    records = [record for record in register.hazards() if record["inspection_id"] == inspection_id]
    findings = tuple(finding_paper(register, record, store, lang=lang) for record in records)
    locations = list(dict.fromkeys(finding.location for finding in findings if finding.location))
    return InspectionPaper(
        number=_number("检记", found.date.year, [inspection_id]),
        enterprise=found.enterprise,
        date=found.date,
        place=place if place is not None else "、".join(locations),
        leader=found.leader,
        experts=found.experts,
        source=found.source,
        instruments=tuple(
            InstrumentPaper(
                device=item.device,
                model=item.model,
                serial=item.serial,
                calibration_due=item.calibration_due,
                past_due=item.calibration_due < found.date,
            )
            for item in found.instruments
        ),
        findings=findings,
        anchor=audit_anchor(register, where),
    )


class PaperError(Exception):
    """A paper that cannot be made from what was asked; the message says why."""


def notice_paper(
    register: HazardRegister,
    hazard_ids: Sequence[int],
    store: WindowReader | None,
    *,
    where: str = "",
    issuer: str = "",
    lang: str = "zh",
    tz: str = DEFAULT_TZ,
) -> NoticePaper:
    """The rectification notice for hazards of one enterprise."""
    records = [register.hazard(hazard_id) for hazard_id in hazard_ids]
    enterprises = sorted({str(record["enterprise"]) for record in records})
    if len(enterprises) != 1:
        raise PaperError(
            f"hazards {', '.join(map(str, hazard_ids))} belong to {len(enterprises)} "
            f"enterprises ({'; '.join(enterprises)}): a notice goes to one; make one per "
            "enterprise"
        )
    unconfirmed = [str(record["id"]) for record in records if record["grade"] is None]
    if unconfirmed:
        raise PaperError(
            f"hazard {', '.join(unconfirmed)} is not confirmed yet: a notice lists confirmed "
            "hazards (hazmon hazards confirm ID --grade general|major)"
        )
    inspected_on = None
    leader = ""
    for record in records:
        if record["inspection_id"] is not None:
            found = register.inspection(int(record["inspection_id"]))
            inspected_on, leader = found.date, found.leader
            break
    if inspected_on is None:
        # No inspection recorded: the day the first hazard was found, in the site's zone.
        first = min(record["created_at"] for record in records)
        inspected_on = first.astimezone(ZoneInfo(tz)).date()
    return NoticePaper(
        number=_number(
            "隐整",
            min(record["created_at"] for record in records).year,
            [int(record["id"]) for record in records],
        ),
        enterprise=enterprises[0],
        inspected_on=inspected_on,
        issuer=issuer or leader,
        findings=tuple(finding_paper(register, record, store, lang=lang) for record in records),
        anchor=audit_anchor(register, where),
    )


def review_paper(
    register: HazardRegister,
    hazard_id: int,
    store: WindowReader | None,
    *,
    where: str = "",
    tz: str = DEFAULT_TZ,
    lang: str = "zh",
) -> ReviewPaper:
    """The review opinion of a rectified (or verified) hazard."""
    record = register.hazard(hazard_id)
    if record["status"] not in ("rectified", "verified"):
        raise PaperError(
            f"hazard {hazard_id} is {record['status']}: a review opinion is written after "
            "rectification (hazmon hazards rectified ID --note ...)"
        )
    missing = missing_plan_items(record)
    unit = " / ".join(
        part for part in (record["responsible_unit"], record["responsible_person"]) if part
    )
    deadline = record["deadline"]
    items = (
        ("responsibility", unit, "responsibility (responsible unit and person)"),
        ("measures", record["plan_measures"] or "", "measures"),
        ("funds", record["plan_funds"] or "", "funds"),
        ("deadline", "" if deadline is None else local_text(deadline, tz), "deadline"),
        ("contingency", record["plan_contingency"] or "", "contingency plan"),
    )
    plan = tuple(PlanItemPaper(key, text, name not in missing) for key, text, name in items)
    verified = record["status"] == "verified"
    year = record["created_at"].year
    opinion = record["verification_note"] or ""
    return ReviewPaper(
        number=_number("复查", year, [hazard_id]),
        notice_number=_number("隐整", year, [hazard_id]),
        finding=finding_paper(register, record, store, lang=lang),
        plan=plan,
        rectification=record["rectification_note"] or "",
        verified=verified,
        verified_by=record["verified_by"] or "",
        opinion=opinion,
        closed_at=record["closed_at"],
        anchor=audit_anchor(register, where),
    )
