"""``hazmon run SITE.toml``: the acquisition service of a site."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, EXIT_PARTIAL, Subcommands, positive_seconds
from hazmon.acquisition.service import (
    ServiceOptions,
    print_summary,
    run_service,
    summary_document,
)
from hazmon.config.site import load_site


def register(commands: Subcommands) -> None:
    """Add the ``run`` parser."""
    parser = commands.add_parser(
        "run",
        help=SUMMARIES["run"],
        description=(
            "Poll every device of the site on its interval, evaluate and store every reading, "
            "record hazards, raise alerts over the configured routes, publish readings to "
            "MQTT when configured, and show a live table. SIGINT or SIGTERM stops it after "
            "flushing the queue, the spools and the routes."
        ),
    )
    parser.add_argument("site", metavar="SITE", help="site TOML path or bundled site name")
    parser.add_argument(
        "--duration", type=positive_seconds, metavar="SECONDS", help="stop after this long"
    )
    parser.add_argument("--db", type=Path, metavar="PATH", help="overrides [stores] sqlite")
    parser.add_argument(
        "--no-live", action="store_true", help="no live table (alerts and summary only)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="no live table; what a person reads goes to stderr and the summary is one "
        "JSON line on stdout (keys in docs/getting-started.md)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run until stopped; exit 1 when devices were still in fault at the end."""
    source, site = load_site(args.site)
    path = Path(source)
    if args.json:
        console = Console(stderr=True, width=console.width)
    options = ServiceOptions(
        duration=args.duration,
        live=not (args.no_live or args.json),
        base=path.parent if path.exists() else Path.cwd(),
        database=args.db,
    )
    console.print(
        f"[bold]hazmon run[/]: site {site.name!r} ({source}), {len(site.devices)} devices"
    )
    summary = asyncio.run(run_service(site, console, options))
    print_summary(console, summary)
    if args.json:
        sys.stdout.write(json.dumps(summary_document(summary), ensure_ascii=False) + "\n")
    return EXIT_PARTIAL if summary.devices_in_fault else EXIT_OK
