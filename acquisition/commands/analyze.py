"""``hazmon analyze``: evaluate an instrument datalog (CSV, TSV, xlsx) or the readings in a
hazmon store against every applicable limit, after saying how the input was read."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    Subcommands,
    positive_seconds,
    printable,
    utc_offset_hours,
)
from hazmon.acquisition.commands.datalog_input import (
    add_input_arguments,
    print_read_summary,
    read_input,
    upper_bound_rule,
)
from hazmon.analysis.checks import negative_drift, spikes, stuck
from hazmon.analysis.evaluate import (
    CLAMPED,
    ChannelPlan,
    ChannelResult,
    EvaluationSettings,
    Verdict,
    evaluate,
    say,
)
from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.analysis.readings import Readings
from hazmon.analysis.sampling import NS_PER_S
from hazmon.analysis.units import ReferenceState
from hazmon.config.i18n import N_, Gettext, cli_translator
from hazmon.config.numbers import format_number
from hazmon.config.site import load_site
from hazmon.config.standards import SiteLimits, effective_limit_rows, rules_by_quantity

DEFAULT_STANDARDS = ("gbt50493-2019",)
#: Metrics that count (printed as integers).
COUNT_METRICS = frozenset(
    {
        "readings",
        "days",
        "gaps",
        "impulses_day_max",
        "excursions_day_max",
        "stuck_readings",
        "spike_readings",
        "negative_readings",
    }
)
#: A value unchanged this long is a stuck sensor [s].
STUCK_S = 600.0


def register(commands: Subcommands) -> None:
    """Add the ``analyze`` parser."""
    parser = commands.add_parser(
        "analyze",
        help=SUMMARIES["analyze"],
        description="Evaluate an instrument datalog (CSV, long form time,device,quantity,"
        "value,unit or wide form time,CO [ppm],...) against GBZ 2.1-2019, GBZ 2.2-2007, "
        "GB/T 50493-2019 and the other bundled limits: per channel max, mean, TWA, STEL, "
        "L_EX,8h, each rule's verdict with its clause, and the events.",
    )
    add_input_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--site", metavar="SITE", help="site config (name or TOML path): limits and standards"
    )
    parser.add_argument(
        "--max-gap",
        type=positive_seconds,
        default=300.0,
        metavar="SECONDS",
        help="longest time a reading is held; beyond it data is missing (default: 300)",
    )
    parser.add_argument(
        "--utc-offset",
        type=utc_offset_hours,
        default=8.0,
        metavar="HOURS",
        help="offset of times written without one, and of the day boundary (default: 8, CST)",
    )
    parser.set_defaults(handler=run)


def _iso(ts_ns: int) -> str:
    moment = dt.datetime.fromtimestamp(ts_ns / NS_PER_S, tz=dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def channel_document(result: ChannelResult, value_kind: str | None = None) -> dict[str, Any]:
    """One channel of the ``--json`` document (keys absent where they do not apply).

    With ``value_kind`` (what one reading is: average, peak, ...), the channel says it,
    and exposure verdicts (TWA, STEL, L_EX) computed from peaks carry ``upper_bound``.
    """
    metrics: dict[str, float | int] = {
        key: int(value) if key in COUNT_METRICS else value
        for key, value in result.metrics.items()
        if math.isfinite(value)
    }
    document: dict[str, Any] = {
        "device": result.channel.device,
        "quantity": result.channel.quantity,
        "unit": result.channel.unit,
        "metrics": metrics,
        "verdicts": [_verdict_document(verdict) for verdict in result.verdicts],
        "events": [
            {
                "start": _iso(record.event.start_ts),
                "end": _iso(record.event.end_ts),
                "duration_s": record.event.duration_s,
                "peak": record.event.peak,
                "peak_time": _iso(record.event.peak_ts),
                "level": LEVEL_NAMES[record.event.max_level],
                "limit": record.limit,
                "dose": record.event.dose,
                "rule": record.rule,
                "clause": record.clause,
                "hazard": record.hazard,
            }
            for record in result.events
        ],
    }
    if value_kind is not None:
        document["value_kind"] = value_kind
        for verdict in document["verdicts"]:
            if value_kind == "peak" and upper_bound_rule(verdict["rule"]):
                verdict["upper_bound"] = True
    if result.not_judged:
        document["not_judged"] = list(result.not_judged)
    if result.shift is not None:
        document["shift"] = {"start": _iso(result.shift[0]), "end": _iso(result.shift[1])}
    return document


def _verdict_document(verdict: Verdict) -> dict[str, Any]:
    """One verdict; ``basis`` always, ``coverage``/``judged``/``note`` where they apply."""
    entry: dict[str, Any] = {
        "rule": verdict.rule,
        "clause": verdict.clause,
        "limit": _finite(verdict.limit),
        "value": _finite(verdict.value),
        "passed": verdict.passed,
        "basis": verdict.basis,
        "confirmed": verdict.confirmed,
    }
    if math.isfinite(verdict.coverage):
        entry["coverage"] = verdict.coverage
    if not verdict.judged:
        entry["judged"] = False
    if verdict.note:
        entry["note"] = verdict.note
    return entry


def _number(metrics: dict[str, float], key: str) -> str:
    value = metrics.get(key)
    return "" if value is None or not math.isfinite(value) else format_number(value)


#: The analyze tables' column headings (msgids; translated when printed).
CHANNEL_HEADINGS = (
    N_("device"),
    N_("quantity"),
    N_("unit"),
    N_("max"),
    N_("mean"),
    "TWA 8h",
    "STEL max",
    "L_EX,8h",
    N_("verdicts"),
)
VERDICT_HEADINGS = (
    N_("device"),
    N_("quantity"),
    N_("rule"),
    N_("value"),
    N_("limit"),
    N_("result"),
    N_("clause"),
)
EVENT_HEADINGS = (
    N_("device"),
    N_("quantity"),
    N_("start"),
    N_("duration s"),
    N_("peak"),
    N_("level"),
    N_("dose"),
    N_("rule"),
)


def _level_name(level: int, _: Gettext) -> str:
    """A1, A2 as they are; normal and critical in words."""
    return _(LEVEL_NAMES[level])


def _print_tables(results: list[ChannelResult], console: Console, title: str) -> None:
    _ = cli_translator()
    table = Table(title=title)
    for index, heading in enumerate(CHANNEL_HEADINGS):
        table.add_column(_(heading), justify="left" if index < 3 or index == 8 else "right")
    for result in results:
        metrics = result.metrics
        failed = sum(not verdict.passed and verdict.judged for verdict in result.verdicts)
        unjudged = sum(not verdict.judged for verdict in result.verdicts)
        summary = (
            "[red]"
            + _("{failed} of {n} failed").format(failed=failed, n=len(result.verdicts))
            + "[/]"
            if failed
            else "[green]" + _("{n} passed").format(n=len(result.verdicts) - unjudged) + "[/]"
            if result.verdicts
            else ""
        )
        if unjudged:
            summary += " [yellow]" + _("{n} not judged").format(n=unjudged) + "[/]"
        if result.not_judged:
            summary += (
                " [yellow]"
                + _("not judged")
                + _(": ")
                + _("; ").join(say(reason, _) for reason in result.not_judged)
                + "[/]"
            )
        table.add_row(
            result.channel.device,
            _(result.channel.quantity),
            result.channel.unit,
            _number(metrics, "max"),
            _number(metrics, "mean") or _number(metrics, "laeq"),
            _number(metrics, "twa_8h"),
            _number(metrics, "stel_max"),
            _number(metrics, "lex_8h"),
            summary,
        )
    console.print(table)
    verdict_table = Table(title=_("verdicts"))
    for heading in VERDICT_HEADINGS:
        verdict_table.add_column(
            _(heading), justify="right" if heading in ("value", "limit") else "left"
        )
    for result in results:
        for verdict in result.verdicts:
            verdict_table.add_row(
                result.channel.device,
                _(result.channel.quantity),
                verdict.rule,
                format_number(verdict.value),
                format_number(verdict.limit),
                "[green]" + _("pass") + "[/]"
                if verdict.passed
                else "[red]" + _("FAIL") + "[/]"
                if verdict.judged
                else "[yellow]" + _("not judged") + f"[/] ({say(verdict.note, _)})",
                _(verdict.clause),
            )
    if verdict_table.row_count:
        console.print(verdict_table)
    events = [(result, record) for result in results for record in result.events]
    if not events:
        console.print(_("no events"))
        return
    event_table = Table(title=_("events"))
    for heading in EVENT_HEADINGS:
        event_table.add_column(_(heading))
    for result, record in events:
        event = record.event
        event_table.add_row(
            result.channel.device,
            _(result.channel.quantity),
            _iso(event.start_ts),
            format_number(event.duration_s, digits=3),
            format_number(event.peak),
            _level_name(event.max_level, _),
            format_number(event.dose),
            record.rule + " (" + _(record.clause) + ")",
        )
    console.print(event_table)


def run(args: argparse.Namespace, console: Console) -> int:
    """Read, evaluate and print; 0 when every verdict passed, 1 when one failed."""
    standards: tuple[str, ...] = DEFAULT_STANDARDS
    site_limits = SiteLimits()
    site_name = ""
    if args.site:
        _source, site = load_site(args.site)
        standards, site_limits, site_name = site.standards, site.limits, site.name
    settings = EvaluationSettings.from_site(
        site_limits, max_gap_s=args.max_gap, day_offset_s=int(args.utc_offset * 3600)
    )
    reference = ReferenceState(site_limits.reference_temperature, site_limits.reference_pressure)
    datalog = read_input(args, reference=reference, site=site_name)
    plan = ChannelPlan.build(
        datalog.channels,
        effective_limit_rows(site_limits),
        rules_by_quantity(standards, site_limits),
        settings,
    )
    results = evaluate(datalog.readings, plan)
    _add_sensor_checks(datalog.readings, results, plan)
    for warning in datalog.warnings:
        print(f"hazmon: {printable(datalog.source)}: {printable(warning)}", file=sys.stderr)
    if args.json:
        document: dict[str, Any] = {
            "channels": [
                channel_document(result, datalog.value_kind(result.channel)) for result in results
            ]
        }
        if datalog.read is not None:
            document["read"] = datalog.read.document()
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    else:
        print_read_summary(datalog, console, args.utc_offset)
        _ = cli_translator()
        _print_tables(
            results,
            console,
            _("{source} ({layout} form)").format(source=datalog.source, layout=_(datalog.layout)),
        )
    # A verdict not judged (too little of the shift sampled, a setting missing) is not
    # a pass: it exits 1 like a failure, so no script reads it as "all clear".
    failed = any(not verdict.passed for result in results for verdict in result.verdicts)
    unjudged = any(result.not_judged for result in results)
    return EXIT_PARTIAL if failed or unjudged else EXIT_OK


def _add_sensor_checks(readings: Readings, results: list[ChannelResult], plan: ChannelPlan) -> None:
    """Count stuck, spiking and negative readings per channel into the metrics."""
    order = readings.sort_order()
    ts, channel, value = readings.ts[order], readings.channel[order], readings.value[order]
    count = len(plan)
    stale = stuck(ts, channel, value, int(STUCK_S * NS_PER_S)) != 0
    spiky = spikes(channel, value) != 0
    negative = negative_drift(value, 0.0) != 0
    concentration = plan.integrand[channel] == CLAMPED
    counts = {
        "stuck_readings": np.bincount(channel, stale, count),
        "spike_readings": np.bincount(channel, spiky, count),
        "negative_readings": np.bincount(channel, negative & concentration, count),
    }
    index = {result.channel.key: number for number, result in enumerate(results)}
    for number, channel_info in enumerate(plan.channels):
        position = index.get(channel_info.key)
        if position is None:
            continue
        for key, values in counts.items():
            results[position].metrics[key] = float(values[number])
