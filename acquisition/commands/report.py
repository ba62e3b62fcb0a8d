"""``hazmon report``: the papers of an inspection as PDF.

- ``report inspection ID``: the expert's inspection record (检查记录);
- ``report notice HAZARD...``: the rectification notice to the enterprise (隐患整改通知书);
- ``report review HAZARD``: the review opinion after rectification (复查意见书).

The register is named as for ``hazmon hazards`` (``--db PATH``, ``--url URL`` or
``$HAZMON_DB``); the evidence readings come from the same SQLite file unless
``--readings`` or ``--readings-url`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    DB_VARIABLE,
    EXIT_OK,
    EXIT_USAGE,
    Subcommands,
    add_readings_options,
    register_url,
)


def register(commands: Subcommands) -> None:
    """Add the ``report`` parser and its papers."""
    parser = commands.add_parser(
        "report",
        help=SUMMARIES["report"],
        description=(
            "Render the inspection record (检查记录), the rectification notice "
            "(隐患整改通知书) or the review opinion (复查意见书) to PDF, in Chinese by default."
        ),
    )
    papers = parser.add_subparsers(dest="report_command", required=True, metavar="PAPER")

    def paper(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = papers.add_parser(name, help=help_text, description=help_text)
        where = sub.add_mutually_exclusive_group()
        where.add_argument(
            "--db",
            type=Path,
            metavar="PATH",
            help=f"SQLite register (the file hazmon demo prints; default: ${DB_VARIABLE})",
        )
        where.add_argument(
            "--url",
            "--register",
            dest="url",
            metavar="URL",
            help="SQLAlchemy URL of the register, e.g. postgresql+psycopg://user@host/db",
        )
        add_readings_options(sub)
        sub.add_argument("--pdf", type=Path, metavar="FILE", help="write the PDF here")
        sub.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML here")
        sub.add_argument("--lang", choices=("zh", "en"), default="zh", help="default: zh")
        sub.add_argument(
            "--tz",
            default="Asia/Shanghai",
            metavar="ZONE",
            help="time zone times are shown in (default: Asia/Shanghai)",
        )
        sub.add_argument(
            "--org", default="", metavar="NAME", help="the inspecting authority's name, on top"
        )
        sub.set_defaults(handler=run, paper=name)
        return sub

    sub = paper("inspection", "the inspection record (检查记录) of one inspection")
    sub.add_argument("id", type=int, help="inspection id")
    sub = paper("notice", "the rectification notice (隐患整改通知书) for hazards of one enterprise")
    sub.add_argument("hazards", type=int, nargs="+", metavar="HAZARD", help="hazard ids")
    sub.add_argument("--issuer", default="", metavar="NAME", help="the inspector issuing it")
    sub = paper("review", "the review opinion (复查意见书) of a rectified hazard")
    sub.add_argument("hazard", type=int, metavar="HAZARD", help="hazard id")


def run(args: argparse.Namespace, console: Console) -> int:
    """Build the paper from the stores and write it; return the exit status."""
    # Imported here: the papers pull in Jinja2, matplotlib and WeasyPrint, which only
    # this command needs.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from hazmon.acquisition.commands.hazards import _readings_store
    from hazmon.acquisition.reports.papers import (
        PaperError,
        inspection_paper,
        notice_paper,
        review_paper,
    )
    from hazmon.acquisition.reports.render import Paper, render_html, write_pdf
    from hazmon.store.hazards import HazardError, HazardRegister

    if args.pdf is None and args.html is None:
        print("hazmon: give --pdf FILE (or --html FILE) to write the paper to", file=sys.stderr)
        return EXIT_USAGE
    try:
        ZoneInfo(args.tz)
    except (ZoneInfoNotFoundError, ValueError):
        print(
            f"hazmon: --tz {args.tz!r} is not a time zone; give e.g. Asia/Shanghai", file=sys.stderr
        )
        return EXIT_USAGE
    url = register_url(args)
    if url is None:
        return EXIT_USAGE
    # A password in the URL must not end up printed on paper.
    try:
        shown = make_url(args.url).render_as_string(hide_password=True) if args.url else ""
    except ArgumentError:
        print(
            f"hazmon: --url {args.url!r} is not a database URL; give e.g. "
            "postgresql+psycopg://user@host/db",
            file=sys.stderr,
        )
        return EXIT_USAGE
    where = f"--db {args.db}" if args.db else (f"--url {shown}" if shown else "")
    if not where and os.environ.get(DB_VARIABLE):
        where = f"--db {os.environ[DB_VARIABLE]}"
    store = _readings_store(args)
    try:
        with HazardRegister(url) as register:
            paper: Paper
            if args.paper == "inspection":
                paper = inspection_paper(register, args.id, store, where=where, lang=args.lang)
            elif args.paper == "notice":
                paper = notice_paper(
                    register,
                    args.hazards,
                    store,
                    where=where,
                    issuer=args.issuer,
                    lang=args.lang,
                    tz=args.tz,
                )
            else:
                paper = review_paper(
                    register, args.hazard, store, where=where, tz=args.tz, lang=args.lang
                )
    except (HazardError, PaperError) as error:
        print(f"hazmon: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if store is not None:
            store.close()
    html = render_html(args.paper, paper, lang=args.lang, tz=args.tz, organisation=args.org)
    if args.html is not None:
        args.html.write_text(html, encoding="utf-8")
        console.print(f"HTML written to {args.html}", highlight=False)
    if args.pdf is not None:
        try:
            write_pdf(html, args.pdf)
        except OSError as error:
            print(f"hazmon: cannot write {args.pdf}: {error}", file=sys.stderr)
            return EXIT_USAGE
        console.print(f"{args.paper} paper {paper.number} written to {args.pdf}", highlight=False)
    return EXIT_OK
