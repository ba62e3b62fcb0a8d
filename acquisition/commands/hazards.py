"""``hazmon hazards``: the hazard register from the command line.

Every subcommand reads or changes the register named by ``--db PATH`` (the SQLite file
``hazmon demo`` prints), ``--url URL`` (any SQLAlchemy URL, e.g. PostgreSQL) or the
``HAZMON_DB`` environment variable. A workflow step the hazard's status, grade, source
or plan does not allow is refused with exit status 1 and a message saying what is
missing; the register is left unchanged.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    DB_VARIABLE,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    Subcommands,
    add_readings_options,
    fail,
    printable,
    register_url,
)
from hazmon.config.i18n import N_, Gettext, basis, cli_translator, local_time
from hazmon.config.numbers import format_number, format_seconds
from hazmon.store.evidence import describe_evidence
from hazmon.store.hazard_list import findings_in_words
from hazmon.store.hazards import (
    DEFAULT_TIME_ZONE,
    GRADES,
    REFERRAL_KINDS,
    STATUSES,
    EvidenceSummary,
    HazardError,
    HazardNotFound,
    HazardRegister,
    IllegalTransition,
    RectificationPlan,
    end_of_local_day,
)
from hazmon.store.timeseries import WindowReader

JSON_HELP = "print JSON (keys in docs/hazard-register.md)"

#: Columns of ``hazards list`` (table, ``--json`` keys and ``--csv`` header).
LIST_COLUMNS = (
    "id",
    "status",
    "overdue",
    "grade",
    "source",
    "enterprise",
    "location",
    "standard",
    "clause",
    "deadline",
    "finding",
)

#: The register's fields as ``show`` and ``history`` name them (msgids, translated when
#: printed; a field not named here shows as its key).
FIELD_LABELS: dict[str, str] = {
    "status": N_("Status"),
    "grade": N_("Grade"),
    "source": N_("Source"),
    "penalty_basis": N_("Penalty basis"),
    "enterprise": N_("Enterprise"),
    "location": N_("Location"),
    "finding": N_("Finding"),
    "violates": N_("Basis"),
    "excursions": N_("Excursions"),
    "created_at": N_("Created"),
    "deadline": N_("Deadline"),
    "responsible": N_("Responsible unit and person"),
    "responsible_unit": N_("Responsible unit"),
    "responsible_person": N_("Responsible person"),
    "plan_measures": N_("Measures"),
    "plan_funds": N_("Funds"),
    "plan_contingency": N_("Contingency plan"),
    "dismissed_reason": N_("Reason for dismissal"),
    "rectification_note": N_("Rectification note"),
    "closed_on_spot": N_("Close on the spot"),
    "verified_by": N_("Verifying expert"),
    "verification_note": N_("Opinion"),
    "closed_at": N_("Closed"),
    "inspection": N_("Inspection"),
    "inspection_id": N_("Inspection"),
    "instrument": N_("Instrument"),
    "referred": N_("referred"),
    "event_id": N_("Event"),
    "evidence": N_("Evidence"),
    "kind": N_("Kind"),
    "department": N_("Department"),
    "reference": N_("Reference"),
    "note": N_("Note"),
    "reason": N_("Reason"),
}

#: Detail keys whose values are workflow terms: shown in the desk's words.
TERMS = ("status", "grade", "source", "kind", "purpose")


def _anchor(text: str) -> tuple[int, str]:
    """argparse type: ``SEQ:HASH``, an entry number and its 64-hex-digit hash."""
    seq, _, digest = text.strip().partition(":")
    digest = digest.strip().lower()
    if not (seq.isdigit() and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not SEQ:HASH — give the entry number and the 64 hex digits of its "
            "hash as verify-audit or the report printed them, e.g. 12:3f9a…"
        )
    return int(seq), digest


def _deadline(text: str) -> dt.datetime:
    """argparse type: an ISO date or datetime; a bare date ends at 23:59 Asia/Shanghai."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return end_of_local_day(day)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a date as YYYY-MM-DD or a time as YYYY-MM-DDTHH:MM[+08:00]"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def zone_option(sub: argparse.ArgumentParser) -> None:
    """``--tz``: the zone a person reads the times in (JSON keeps UTC)."""
    sub.add_argument(
        "--tz",
        default=DEFAULT_TIME_ZONE,
        type=_zone,
        metavar="ZONE",
        help=f"time zone of the times shown (default: {DEFAULT_TIME_ZONE})",
    )


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IANA time zone (e.g. Asia/Shanghai)"
        ) from error
    return text


def register(commands: Subcommands) -> None:
    """Add the ``hazards`` parser and its subcommands."""
    parser = commands.add_parser(
        "hazards",
        help=SUMMARIES["hazards"],
        description=(
            "List, show and move hazard records through the rectification workflow: "
            "pending_review → confirmed (general | major) or dismissed → rectifying → "
            "rectified → verified. Every change is appended to a hash-chained audit history."
        ),
    )
    actions = parser.add_subparsers(dest="hazards_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        where = sub.add_mutually_exclusive_group()
        where.add_argument(
            "--db",
            type=Path,
            metavar="PATH",
            help=f"SQLite register (the file hazmon demo prints; default: ${DB_VARIABLE})",
        )
        where.add_argument(
            "--url", metavar="URL", help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db"
        )
        sub.set_defaults(handler=run, action=handler)
        return sub

    def changes(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("id", type=int, help="hazard id")
        sub.add_argument(
            "--by",
            metavar="NAME",
            default=os.environ.get("HAZMON_USER") or getpass.getuser(),
            help="who makes the change, for the audit history (default: $HAZMON_USER or login)",
        )

    sub = action("list", "list hazard records", _list)
    sub.add_argument("--status", choices=STATUSES)
    sub.add_argument("--grade", choices=GRADES)
    sub.add_argument("--overdue", action="store_true", help="only those past their deadline")
    form = sub.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print a JSON list")
    form.add_argument("--csv", action="store_true", help="print CSV with a header row")
    zone_option(sub)

    sub = action(
        "export", "write the hazard list as a workbook (--xlsx) or CSV file (--csv)", _export
    )
    sub.add_argument("--status", choices=STATUSES)
    sub.add_argument("--grade", choices=GRADES)
    sub.add_argument("--overdue", action="store_true", help="only those past their deadline")
    sub.add_argument("--xlsx", type=Path, metavar="FILE", help="Excel workbook, Chinese headers")
    sub.add_argument("--csv", type=Path, metavar="FILE", help="CSV file, Chinese headers")
    sub.add_argument(
        "--encoding",
        default="utf-8-sig",
        choices=("utf-8-sig", "gbk", "gb18030", "utf-8"),
        help="of the CSV file (default: utf-8-sig, UTF-8 with the BOM Excel looks for)",
    )
    zone_option(sub)

    sub = action("show", "print a record with its evidence summary from the readings", _show)
    sub.add_argument("id", type=int, help="hazard id")
    sub.add_argument("--json", action="store_true", help=JSON_HELP)
    zone_option(sub)
    add_readings_options(sub)

    sub = action("confirm", "confirm a pending hazard as general or major", _confirm)
    changes(sub)
    sub.add_argument("--grade", choices=GRADES, required=True)
    sub.add_argument("--deadline", type=_deadline, help="rectification deadline (YYYY-MM-DD)")
    sub.add_argument("--responsible-unit", metavar="UNIT")
    sub.add_argument("--responsible-person", metavar="NAME")
    sub.add_argument(
        "--penalty-basis",
        action="store_true",
        help="mark as a basis for administrative penalty (refused for self-inspection)",
    )

    sub = action("dismiss", "dismiss a pending hazard, with the reason", _dismiss)
    changes(sub)
    sub.add_argument("--reason", required=True)

    sub = action(
        "plan",
        "record rectification plan items; a complete plan starts rectifying",
        _plan,
    )
    changes(sub)
    sub.add_argument("--responsible-unit", metavar="UNIT")
    sub.add_argument("--responsible-person", metavar="NAME")
    sub.add_argument("--measures")
    sub.add_argument("--funds")
    sub.add_argument("--deadline", type=_deadline, help="YYYY-MM-DD or ISO time")
    sub.add_argument("--contingency", help="the contingency plan")

    sub = action(
        "rectified", "mark a hazard rectified (general: --on-the-spot closes it)", _rectified
    )
    changes(sub)
    sub.add_argument("--note", required=True, help="what was done")
    sub.add_argument(
        "--on-the-spot", action="store_true", help="a general hazard fixed on the spot: close it"
    )

    sub = action("verify", "close a rectified hazard after verification by a named expert", _verify)
    changes(sub)
    sub.add_argument("--expert", required=True, metavar="NAME", help="the verifying expert")
    sub.add_argument("--note", default="")

    sub = action("refer", "record referral of illegal conduct", _refer)
    changes(sub)
    sub.add_argument("--kind", choices=REFERRAL_KINDS, required=True)
    sub.add_argument("--department", required=True)
    sub.add_argument("--reference", default="", help="case or transfer document number")
    sub.add_argument("--note", default="")

    sub = action("history", "print a hazard's audit history", _history)
    sub.add_argument("id", type=int, help="hazard id")
    sub.add_argument("--json", action="store_true", help=JSON_HELP)
    zone_option(sub)

    sub = action(
        "verify-audit",
        "check the audit hash chain, every record and its evidence against it",
        _audit,
    )
    add_readings_options(sub)
    sub.add_argument(
        "--anchor",
        type=_anchor,
        metavar="SEQ:HASH",
        help="a head kept elsewhere (printed on a report): the history up to entry SEQ "
        "must still end in HASH",
    )
    sub.add_argument("--json", action="store_true", help=JSON_HELP)


def run(args: argparse.Namespace, console: Console) -> int:
    """Open the register and run the chosen action; return the exit status."""
    url = register_url(args)
    if url is None:
        return EXIT_USAGE
    try:
        with HazardRegister(url) as register:
            status: int = args.action(args, console, register)
    except HazardNotFound as error:
        return fail(f"hazards {args.hazards_command}", str(error), "see hazmon hazards list")
    except IllegalTransition as error:
        return fail(
            f"hazards {args.hazards_command}",
            f"refused: {error}",
            "see hazmon hazards show ID for what the hazard needs",
            EXIT_PARTIAL,
        )
    except HazardError as error:
        return fail(f"hazards {args.hazards_command}", str(error), "correct the arguments")
    return status


def _safe(value: object) -> str:
    """Stored text for the terminal: control characters escaped, no Rich markup."""
    return escape(printable(value))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _list(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    records = register.hazards(status=args.status, grade=args.grade, overdue=args.overdue)
    rows = [{column: _plain(record[column]) for column in LIST_COLUMNS} for record in records]
    if args.json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=LIST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        # Booleans as JSON spells them, so both outputs read the same.
        writer.writerows(
            {
                key: str(value).lower() if isinstance(value, bool) else value
                for key, value in row.items()
            }
            for row in rows
        )
    else:
        _ = cli_translator()
        findings_in_words(register.engine, rows, _, lambda ns: local_time(ns, args.tz))
        table = Table(title=_("{n} hazards").format(n=len(rows)))
        for heading in (
            _("No."),
            _("Status"),
            _("Grade"),
            _("Source"),
            _("Location"),
            _("Basis"),
            _("Deadline"),
            _("Finding"),
        ):
            table.add_column(heading)
        for row in rows:
            status = _(row["status"]) + (" (" + _("overdue") + ")" if row["overdue"] else "")
            table.add_row(
                str(row["id"]),
                _safe(status),
                _safe(_(row["grade"]) if row["grade"] else ""),
                _safe(_(row["source"])),
                _safe(row["location"]),
                _safe(basis(row["standard"], row["clause"], _)),
                _safe((row["deadline"] or "")[:10]),
                _safe(row["finding_in_words"]),
            )
        console.print(table)
    return EXIT_OK


def _export(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    # Imported here: the workbook writer pulls in openpyxl, which only exports need.
    from hazmon.acquisition.reports.workbook import ExportError, hazard_rows, write_csv, write_xlsx

    if args.xlsx is None and args.csv is None:
        return fail("hazards export", "no file given", "give --xlsx FILE and/or --csv FILE")
    records = register.hazards(status=args.status, grade=args.grade, overdue=args.overdue)
    try:
        rows = hazard_rows(records, tz=args.tz)
        if args.xlsx is not None:
            write_xlsx(args.xlsx, rows)
            console.print(f"{len(rows)} hazards written to {args.xlsx}", highlight=False)
        if args.csv is not None:
            write_csv(args.csv, rows, encoding=args.encoding)
            console.print(
                f"{len(rows)} hazards written to {args.csv} ({args.encoding})", highlight=False
            )
    except ExportError as error:
        return fail("hazards export", str(error), "correct the arguments")
    except OSError as error:
        return fail(
            str(error.filename or "export"),
            f"cannot write: {error.strerror or error}",
            "give a path in a writable folder",
        )
    return EXIT_OK


def _readings_store(args: argparse.Namespace) -> WindowReader | None:
    if args.readings_url:
        from hazmon.store.timeseries.line_protocol import VictoriaMetricsReader

        return VictoriaMetricsReader(args.readings_url)
    path = (
        args.readings
        or (args.db if not args.url else None)
        or (os.environ.get(DB_VARIABLE) if not args.url else None)
    )
    if path is None or not Path(path).exists():
        return None
    from hazmon.store.timeseries.sqlite import SqliteTimeSeries

    store = SqliteTimeSeries(path)
    store.open()
    return store


def _time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="milliseconds")


def _json_default(value: object) -> object:
    """JSON for what the register returns besides plain values (times, tuples)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _write_json(document: object) -> int:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=_json_default) + "\n")
    return EXIT_OK


def _summary_document(summary: EvidenceSummary) -> dict[str, Any]:
    """One evidence summary for ``hazards show --json``, numbers at full precision."""
    return {
        "device": summary.channel.device,
        "quantity": summary.channel.quantity,
        "substance": summary.channel.substance or None,
        "unit": summary.channel.unit,
        "start": _time(summary.start_ts),
        "end": _time(summary.end_ts),
        "readings": summary.readings,
        "flagged": summary.flagged,
        "peak": summary.peak,
        "peak_at": None if summary.peak_ts is None else _time(summary.peak_ts),
        "duration_s": summary.duration_s,
        "level": summary.level,
        "limit": summary.limit,
        "standard": summary.standard,
        "clause": summary.clause,
        "event_id": summary.event_id,
    }


def _show_json(args: argparse.Namespace, record: dict[str, Any], register: HazardRegister) -> int:
    document = dict(record)
    store = _readings_store(args) if record["evidence"] else None
    if store is None:
        document["evidence_summary"] = None
    else:
        try:
            summaries = register.evidence_summary(record["id"], store)
        finally:
            store.close()
        document["evidence_summary"] = [_summary_document(summary) for summary in summaries]
    return _write_json(document)


def _show(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    record = register.hazard(args.id)
    if args.json:
        return _show_json(args, record, register)
    _ = cli_translator()
    out = console.print
    out(
        "[bold]"
        + escape(_("Hazard {id}").format(id=record["id"]))
        + "[/]"
        + _(": ")
        + escape(_(record["status"]))
        + (" [red](" + escape(_("overdue")) + ")[/]" if record["overdue"] else ""),
        highlight=False,
    )
    fields = [
        ("grade", _(record["grade"]) if record["grade"] else ""),
        ("source", _(record["source"])),
        ("penalty_basis", _("Yes") if record["penalty_basis"] else _("No")),
        ("enterprise", record["enterprise"]),
        ("location", record["location"]),
        ("finding", _finding_in_words(register, record, _, args.tz)),
        ("violates", f"{basis(record['standard'], record['clause'], _)} ({record['rule_id']})"),
        ("excursions", _excursions_text(record["excursions"], _)),
        ("created_at", local_time(record["created_at"], args.tz)),
        ("deadline", local_time(record["deadline"], args.tz, seconds=False)),
        (
            "responsible",
            " / ".join(
                part for part in (record["responsible_unit"], record["responsible_person"]) if part
            ),
        ),
        ("plan_measures", record["plan_measures"]),
        ("plan_funds", record["plan_funds"]),
        ("plan_contingency", record["plan_contingency"]),
        ("dismissed_reason", record["dismissed_reason"]),
        ("rectification_note", record["rectification_note"]),
        ("verified_by", record["verified_by"]),
        ("closed_at", local_time(record["closed_at"], args.tz)),
    ]
    if record["inspection_id"] is not None:
        inspection = register.inspection(record["inspection_id"])
        fields.append(
            (
                "inspection",
                _("{date} {enterprise}, leader {leader}, experts {experts}").format(
                    date=inspection.date,
                    enterprise=inspection.enterprise,
                    leader=inspection.leader,
                    experts=_(", ").join(inspection.experts),
                ),
            )
        )
        for instrument in inspection.instruments:
            late = (
                " " + _("PAST CALIBRATION") if instrument.calibration_due < inspection.date else ""
            )
            fields.append(
                (
                    "instrument",
                    _("{device} {model} #{serial}, calibrated until {due}").format(
                        device=instrument.device,
                        model=instrument.model,
                        serial=instrument.serial,
                        due=instrument.calibration_due,
                    )
                    + late,
                )
            )
    for referral in record["referrals"]:
        where = f"{referral['department']} {referral['reference']}".rstrip()
        fields.append(("referred", f"{_(referral['kind'])} → {where}"))
    labels = {key: _(FIELD_LABELS[key]) for key, _value in fields} | {"evidence": _("Evidence")}
    width = max(cell_len(label) for label in labels.values()) + 2

    def line(key: str, value: str) -> str:
        # Padded by display cells: a Chinese label is two cells a character wide.
        label = labels[key]
        return f"  {label}{' ' * (width - cell_len(label))}{value}"

    for key, value in fields:
        if value:
            out(line(key, _safe(value)), highlight=False)
    if not record["evidence"]:
        out(line("evidence", _("none")), highlight=False)
        return EXIT_OK
    store = _readings_store(args)
    if store is None:
        out(
            line(
                "evidence",
                escape(_("(no time-series store: give --readings or --readings-url)")),
            ),
            highlight=False,
        )
        for link in record["evidence"]:
            out(
                f"    {_safe(link['device'])}/{_safe(link['quantity'])} "
                f"{local_time(link['start_ts'], args.tz)} → {local_time(link['end_ts'], args.tz)}",
                highlight=False,
            )
        return EXIT_OK
    try:
        summaries = register.evidence_summary(record["id"], store)
    finally:
        store.close()
    out("  " + labels["evidence"] + _(":"), highlight=False)
    for summary in summaries:
        out(f"    {_safe(_summary_text(summary, _, args.tz))}", highlight=False)
    return EXIT_OK


def _finding_in_words(
    register: HazardRegister, record: dict[str, Any], _: Gettext, zone: str
) -> str:
    rows = [{"id": record["id"], "finding": record["finding"]}]
    findings_in_words(register.engine, rows, _, lambda ns: local_time(ns, zone))
    return str(rows[0]["finding_in_words"])


def _summary_text(summary: EvidenceSummary, _: Gettext, zone: str) -> str:
    """One evidence window of ``hazards show`` in words: readings, peak, time past A2."""
    unit = summary.channel.unit
    substance = f" ({summary.channel.substance})" if summary.channel.substance else ""
    parts = [
        _("{readings} readings ({flagged} flagged)").format(
            readings=summary.readings, flagged=summary.flagged
        )
    ]
    if summary.peak is None:
        parts.append(_("peak: no value"))
    elif summary.peak_ts is None:
        parts.append(_("peak {peak}").format(peak=f"{format_number(summary.peak)} {unit}"))
    else:
        parts.append(
            _("peak {peak} at {time}").format(
                peak=f"{format_number(summary.peak)} {unit}", time=local_time(summary.peak_ts, zone)
            )
        )
    parts.append(
        _("{duration} at or past A{level}").format(
            duration=format_seconds(summary.duration_s), level=summary.level or 2
        )
    )
    if summary.limit is not None:
        parts.append(_("limit {limit}").format(limit=f"{format_number(summary.limit)} {unit}"))
    parts.append(basis(summary.standard, summary.clause, _))
    if summary.event_id is not None:
        parts.append(_("event {id}").format(id=summary.event_id))
    return (
        f"{summary.channel.device}/{summary.channel.quantity}{substance} "
        f"{local_time(summary.start_ts, zone)} → {local_time(summary.end_ts, zone)}"
        + _(": ")
        + _(", ").join(parts)
    )


def _excursions_text(excursions: dict[str, Any], _: Gettext) -> str:
    """``3 (worst 67.9 %LEL, 12.5 s past the limit in all)``; empty without events."""
    if not excursions["count"]:
        return ""
    return _("{count} (worst {worst} {unit}, {past} past the limit in all)").format(
        count=excursions["count"],
        worst=format_number(excursions["worst"]),
        unit=excursions["unit"],
        past=format_seconds(excursions["time_past_limit_s"]),
    )


def _done(console: Console, record: dict[str, Any], what: str) -> int:
    """``hazard 1: <what>; status <status>`` in the command line's language; ``what`` is
    already in it."""
    _ = cli_translator()
    console.print(
        _("hazard {id}: {what}; status {status}").format(
            id=record["id"], what=what, status=_(record["status"])
        ),
        highlight=False,
    )
    return EXIT_OK


def _confirm(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    if args.penalty_basis:
        # Checked before confirming so that a refused mark leaves the hazard unchanged.
        current = register.hazard(args.id)
        if current["source"] == "self_inspection":
            raise IllegalTransition(
                f"hazard {args.id} was found in the enterprise's self-inspection with experts "
                "it hired; such findings are not a basis for administrative penalty "
                "(drop --penalty-basis)"
            )
    record = register.confirm(
        args.id,
        args.grade,
        actor=args.by,
        deadline=args.deadline,
        responsible_unit=args.responsible_unit,
        responsible_person=args.responsible_person,
    )
    if args.penalty_basis:
        record = register.mark_penalty_basis(args.id, actor=args.by)
    _ = cli_translator()
    return _done(console, record, _("confirmed as {grade}").format(grade=_(args.grade)))


def _dismiss(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    _ = cli_translator()
    record = register.dismiss(args.id, args.reason, actor=args.by)
    return _done(console, record, _("dismissed"))


def _plan(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    plan = RectificationPlan(
        responsible_unit=args.responsible_unit,
        responsible_person=args.responsible_person,
        measures=args.measures,
        funds=args.funds,
        deadline=args.deadline,
        contingency=args.contingency,
    )
    record, missing = register.set_plan(args.id, plan, actor=args.by)
    _ = cli_translator()
    _done(console, record, _("plan recorded"))
    if missing:
        return fail(
            f"hazards plan {args.id}",
            f"major hazard stays {record['status']}: its plan still lacks {', '.join(missing)}",
            "give them with hazmon hazards plan",
            EXIT_PARTIAL,
        )
    return EXIT_OK


def _rectified(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    _ = cli_translator()
    if args.on_the_spot:
        record = register.close_on_spot(args.id, args.note, actor=args.by)
        return _done(console, record, _("fixed on the spot and closed"))
    record = register.mark_rectified(args.id, args.note, actor=args.by)
    return _done(console, record, _("rectified"))


def _verify(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    record = register.verify(args.id, args.expert, actor=args.by, note=args.note)
    _ = cli_translator()
    return _done(console, record, _("verified by {expert}, closed").format(expert=args.expert))


def _refer(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    record = register.refer(
        args.id,
        args.kind,
        args.department,
        actor=args.by,
        reference=args.reference,
        note=args.note,
    )
    _ = cli_translator()
    return _done(
        console,
        record,
        _("referral recorded ({kind} → {department})").format(
            kind=_(args.kind), department=args.department
        ),
    )


def _history(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    if args.json:
        return _write_json(
            [
                {
                    "seq": entry.seq,
                    "at": entry.at,
                    "actor": entry.actor,
                    "action": entry.action,
                    "detail": entry.detail,
                    "hash": entry.hash,
                }
                for entry in register.history(args.id)
            ]
        )
    _ = cli_translator()
    for entry in register.history(args.id):
        detail = _(", ").join(
            f"{_(FIELD_LABELS.get(key, key))}={_detail_value(key, value, _)}"
            for key, value in sorted(entry.detail.items())
        )
        console.print(
            f"{entry.seq:>5} {local_time(dt.datetime.fromisoformat(entry.at), args.tz)} "
            f"{_safe(entry.actor)}"
            + _(": ")
            + _safe(_(entry.action))
            + (f" ({_safe(detail)})" if detail else "")
            + escape(f" [{entry.hash[:12]}]"),
            highlight=False,
        )
    return EXIT_OK


def _detail_value(key: str, value: Any, _: Gettext) -> str:
    """An audit detail's value as ``history`` prints it: terms and evidence in words (the
    stored detail, which the chain hashes, is not changed)."""
    if key == "evidence":
        return describe_evidence(value, _)
    if key in TERMS and isinstance(value, str):
        return _(value)
    return str(value)


def _audit(args: argparse.Namespace, console: Console, register: HazardRegister) -> int:
    store = _readings_store(args)
    try:
        report = register.verify_audit(readings=store, anchor=args.anchor)
    finally:
        if store is not None:
            store.close()
    if args.json:
        _write_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "problems": report.problems,
                "evidence_checked": report.evidence_checked,
                "readings_unchecked": report.readings_unchecked,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
            }
        )
        return EXIT_OK if report.ok else EXIT_PARTIAL
    if report.ok:
        console.print(
            f"audit history intact: {report.entries} entries, every record matches; "
            f"{report.evidence_checked} evidence windows re-read",
            highlight=False,
        )
        if report.readings_unchecked:
            console.print(
                f"  the readings of {report.readings_unchecked} evidence windows were not "
                "re-read: give --readings PATH or --readings-url URL",
                highlight=False,
            )
        if args.anchor is not None:
            console.print(
                f"  anchor entry {args.anchor[0]} matches: the history up to it is the one kept",
                highlight=False,
            )
        if report.head_hash is not None:
            console.print(
                f"head: entry {report.head_seq}, hash {report.head_hash}", highlight=False
            )
            console.print(
                "  keep it elsewhere (the inspection report prints it) and check later with "
                f"--anchor {report.head_seq}:{report.head_hash}",
                highlight=False,
                soft_wrap=True,
            )
        return EXIT_OK
    for problem in report.problems:
        print(f"TAMPERED: {printable(problem)}", file=sys.stderr)
    print(
        f"hazmon: the audit history of {report.entries} entries fails verification", file=sys.stderr
    )
    return EXIT_PARTIAL
