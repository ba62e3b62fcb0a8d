"""What ``hazmon analyze`` reads and how it says so: a datalog export or a hazmon store.

The input half of ``analyze`` (the verdicts half is in ``analyze.py``): the options
that choose and describe the input, and the read summary printed before the verdicts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict

import pandas as pd
from rich.console import Console
from rich.markup import escape

from hazmon.acquisition.datalog import Datalog, DatalogError, iso_utc, read_datalog, read_store
from hazmon.analysis.units import ReferenceState
from hazmon.config.datalog import bundled_datalog_profiles, load_datalog_profile
from hazmon.config.errors import ConfigError
from hazmon.config.i18n import cli_locale, context_translator, translator

#: Verdicts whose figure averages over time: from peak samples they overstate exposure.
_EXPOSURE_RULE = re.compile(r"(twa|stel|lex|l_ex)", re.IGNORECASE)


class AnalyzeInputError(ConfigError):
    """The options name no input, or two, or a bad time."""

    def __init__(self, message: str) -> None:
        self.source = "analyze"
        self.problems = [message]
        ValueError.__init__(self, f"analyze: {message}")


def upper_bound_rule(rule: str) -> bool:
    """Whether a rule's figure averages over time (TWA, STEL, L_EX,8h)."""
    return _EXPOSURE_RULE.search(rule) is not None


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The positional FILE and the options that read it, or a store instead."""
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        help="datalog export: CSV/TSV text (UTF-8, UTF-16, GBK) or .xlsx",
    )
    parser.add_argument(
        "--datalog-profile",
        metavar="NAME|PATH",
        help="describe the export (hazmon.datalog/1 TOML); bundled: "
        + ", ".join(bundled_datalog_profiles()),
    )
    parser.add_argument("--sheet", metavar="NAME", help="worksheet of an .xlsx (default: first)")
    parser.add_argument(
        "--date-format",
        metavar="FORMAT",
        help="strftime format of the times, e.g. '%%d/%%m/%%Y %%H:%%M:%%S' (settles day/month)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="evaluate readings in a hazmon store instead: a SQLite file, or the URL of "
        "the VictoriaMetrics node the line-protocol store wrote to",
    )
    parser.add_argument("--device", metavar="DEVICE", help="with --db: only this device")
    parser.add_argument(
        "--from", dest="start", metavar="TIME", help="with --db: readings from this time (ISO)"
    )
    parser.add_argument(
        "--to", dest="end", metavar="TIME", help="with --db: readings up to this time (ISO)"
    )


def _time_ns(text: str | None, utc_offset_hours: float, option: str) -> int | None:
    if text is None:
        return None
    try:
        moment = pd.Timestamp(text)
    except ValueError as error:
        raise AnalyzeInputError(
            f"{option} {text!r}: not a time; write 2026-03-02T09:00 or 2026-03-02T09:00+08:00"
        ) from error
    if moment.tzinfo is None:
        moment = (moment - pd.Timedelta(hours=utc_offset_hours)).tz_localize("UTC")
    return int(moment.value)


def read_input(args: argparse.Namespace, *, reference: ReferenceState, site: str) -> Datalog:
    """The datalog or store readings the options name."""
    if (args.file is None) == (args.db is None):
        raise AnalyzeInputError("give a datalog FILE or --db PATH (one of them)")
    if args.db is None:
        for option, value in (
            ("--device", args.device),
            ("--from", args.start),
            ("--to", args.end),
        ):
            if value is not None:
                raise AnalyzeInputError(f"{option} goes with --db; a datalog is read whole")
        profile, profile_source = None, ""
        if args.datalog_profile:
            profile_source, profile = load_datalog_profile(args.datalog_profile)
        return read_datalog(
            args.file,
            reference=reference,
            utc_offset_hours=args.utc_offset,
            site=site,
            profile=profile,
            profile_source=profile_source,
            sheet=args.sheet,
            date_format=args.date_format,
        )
    for option, value in (
        ("--datalog-profile", args.datalog_profile),
        ("--sheet", args.sheet),
        ("--date-format", args.date_format),
    ):
        if value is not None:
            raise AnalyzeInputError(f"{option} describes a datalog file, not --db")
    return read_store(
        args.db,
        site=site or None,
        device=args.device,
        start_ns=_time_ns(args.start, args.utc_offset, "--from"),
        end_ns=_time_ns(args.end, args.utc_offset, "--to"),
    )


def _read_words(pgettext: Callable[[str, str], str]) -> dict[str, str]:
    """The reader's fixed vocabulary in the command line's language: value kinds, where a
    kind was learnt, delimiters (msgctxt "datalog": "peak" here is a kind of value)."""
    return {
        "average": pgettext("datalog", "average"),
        "peak": pgettext("datalog", "peak"),
        "minimum": pgettext("datalog", "minimum"),
        "instantaneous": pgettext("datalog", "instantaneous"),
        "not stated": pgettext("datalog", "not stated"),
        "header": pgettext("datalog", "header"),
        "profile": pgettext("datalog", "profile"),
        "metadata": pgettext("datalog", "metadata"),
        "store": pgettext("datalog", "store"),
        "nowhere": pgettext("datalog", "nowhere"),
        ",": pgettext("datalog", "comma"),
        ";": pgettext("datalog", "semicolon"),
        "\t": pgettext("datalog", "tab"),
    }


def print_read_summary(datalog: Datalog, console: Console, utc_offset_hours: float = 8.0) -> None:
    """How the input was read: printed before the verdicts, so nothing is guessed unseen
    (in the command line's language; the reader's own reasons stay as it gives them)."""
    read = datalog.read
    if read is None:
        return
    locale = cli_locale()
    _ = translator(locale)
    words = _read_words(context_translator(locale))
    where = [read.format]
    if read.encoding:
        where.append(_("encoding {encoding}").format(encoding=read.encoding))
    if read.delimiter:
        where.append(_("delimiter {delimiter}").format(delimiter=words[read.delimiter]))
    if read.sheet:
        where.append(_("sheet {sheet!r}").format(sheet=read.sheet))
    if read.header_line:
        where.append(_("header at line {line}").format(line=read.header_line))
    where.append(_("{layout} layout").format(layout=_(read.layout)))
    if read.profile:
        where.append(_("profile {profile}").format(profile=read.profile))
    console.print("[bold]" + _("read") + "[/] " + escape(read.file + _(": ") + _(", ").join(where)))
    if read.metadata:
        shown = []
        for key, value in read.metadata.items():
            text = "; ".join(value) if isinstance(value, list) else str(value)
            shown.append(f"{key}: {text}")
        console.print("  " + escape(_("metadata") + _(": ") + " · ".join(shown)))
    elif read.metadata_lines:
        console.print(
            "  " + escape(_("metadata lines") + _(": ") + " / ".join(read.metadata_lines[:5]))
        )
    for column in read.columns:
        unit = (
            column.unit
            if column.unit == column.canonical_unit
            else (f"{column.unit} → {column.canonical_unit}")
        )
        console.print(
            "  "
            + escape(
                _(
                    "column {column} → {device} · {quantity} [{unit}] · {kind} (from {source})"
                ).format(
                    column=repr(column.column),
                    device=column.device,
                    quantity=column.quantity,
                    unit=unit,
                    kind=words.get(column.value_kind, column.value_kind),
                    source=words.get(column.value_kind_from, column.value_kind_from),
                )
            ),
            highlight=False,
        )
    span = ""
    if read.first_ns is not None and read.last_ns is not None:
        local = dt.timezone(dt.timedelta(hours=utc_offset_hours))

        def local_time(ts_ns: int) -> str:
            return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=local).strftime("%Y-%m-%d %H:%M:%S")

        span = _(", ") + _("{first} to {last} (UTC{offset}; {first_utc} to {last_utc})").format(
            first=local_time(read.first_ns),
            last=local_time(read.last_ns),
            offset=f"{utc_offset_hours:+g}",
            first_utc=iso_utc(read.first_ns),
            last_utc=iso_utc(read.last_ns),
        )
    console.print(
        "  "
        + escape(
            _(
                "{rows} rows, {readings} readings{span}; times: {time_format}, time zone "
                "{time_zone}; {blank_values} blank values"
            ).format(span=span, **asdict(read))
        ),
        highlight=False,
    )
    for item in read.ignored:
        console.print(
            "  "
            + escape(
                _("ignored {column}: {reason}").format(column=repr(item.column), reason=item.reason)
            ),
            highlight=False,
        )
    if read.event_rows:
        first = _("; ").join(
            _("line {line} {time} {text}").format(line=e["line"], time=e["time"], text=e["text"])
            for e in read.events[:5]
        )
        console.print(
            "  "
            + escape(
                _("events: {n} rows (not readings): {first}").format(n=read.event_rows, first=first)
            ),
            highlight=False,
        )
    peaks = sorted({c.quantity for c in read.columns if c.value_kind == "peak"})
    if peaks:
        console.print(
            "  [yellow]"
            + _("peak-logged")
            + "[/] "
            + escape(
                _(
                    "{quantities}: each reading is the peak of its interval; max is right, TWA "
                    "and STEL from peaks are UPPER BOUNDS (they overstate exposure)"
                ).format(quantities=", ".join(peaks))
            ),
            highlight=False,
        )
    if not datalog.readings.value.size:
        raise DatalogError(read.file, ["no readings"])
