"""``hazmon demo``: the simulated site end to end."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, Subcommands, positive_seconds
from hazmon.acquisition.service import (
    ServiceOptions,
    print_summary,
    run_service,
    summary_document,
)
from hazmon.config.i18n import cli_translator
from hazmon.config.site import load_site
from hazmon.simulators.site import SimulatedSite


def register(commands: Subcommands) -> None:
    """Add the ``demo`` parser."""
    parser = commands.add_parser(
        "demo",
        help=SUMMARIES["demo"],
        description=(
            "Start the demo site's simulated meters in-process and run the site on them "
            "exactly as `hazmon run` would: poll, show a live table and alerts, store "
            "readings, health, events and hazard records in SQLite, and print a summary. "
            "Runs until Ctrl-C unless --duration is given."
        ),
    )
    parser.add_argument(
        "--duration",
        type=positive_seconds,
        metavar="SECONDS",
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="SQLite database to write (default: a new file in the temp folder)",
    )
    parser.add_argument(
        "--site",
        default="demo",
        metavar="SITE",
        help="bundled site name or site TOML path (default: demo)",
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="print alerts and the summary only, without the live table",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="no live table; what a person reads goes to stderr and the summary is one "
        "JSON line on stdout (keys in docs/getting-started.md)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the demo; return the exit status."""
    source, site = load_site(args.site)
    if args.json:
        console = Console(stderr=True, width=console.width)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    database: Path = args.db or Path(tempfile.gettempdir()) / f"hazmon-demo-{stamp}.db"

    async def main() -> None:
        async with SimulatedSite(site, free_ports=True) as simulated:
            _ = cli_translator()
            console.print(
                "[bold]hazmon demo[/]"
                + _(": ")
                + _(
                    "{n} simulated meters of site {site!r} ({source}); writing to {database}"
                ).format(
                    n=len(simulated.addresses), site=site.name, source=source, database=database
                )
            )
            # The demo is `hazmon run` on the simulated site: the same service.
            options = ServiceOptions(
                duration=args.duration,
                addresses=simulated.addresses,
                live=not (args.no_live or args.json),
                database=database,
            )
            summary = await run_service(site, console, options)
        print_summary(console, summary)
        if args.json:
            sys.stdout.write(json.dumps(summary_document(summary), ensure_ascii=False) + "\n")

    asyncio.run(main())
    return EXIT_OK
