"""``hazmon run SITE.toml``: the acquisition service of a site."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, EXIT_PARTIAL, Subcommands, positive_seconds
from hazmon.acquisition.service import ServiceOptions, run_service
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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run until stopped; exit 1 when devices were still in fault at the end."""
    source, site = load_site(args.site)
    path = Path(source)
    options = ServiceOptions(
        duration=args.duration,
        live=not args.no_live,
        base=path.parent if path.exists() else Path.cwd(),
        database=args.db,
    )
    console.print(
        f"[bold]hazmon run[/]: site {site.name!r} ({source}), {len(site.devices)} devices"
    )
    summary = asyncio.run(run_service(site, console, options))
    stats = summary.stats
    console.print(
        f"\n[bold]Summary[/]: {stats.readings} readings stored ({stats.flagged} flagged, "
        f"{summary.health_readings} health), {stats.events} events, {stats.hazards} hazards, "
        f"{summary.alerts} alerts ({summary.alerts_delivered} delivered)."
    )
    for name, (delivered, failed, dropped) in summary.routes.items():
        console.print(f"  route {name}: {delivered} delivered, {failed} failed, {dropped} dropped")
    spooled = (
        summary.spooled_messages,
        summary.spooled_store_batches,
        summary.spooled_register_events,
    )
    if any(spooled):
        console.print(
            f"  still spooled for the next start: {summary.spooled_messages} MQTT messages, "
            f"{summary.spooled_store_batches} store batches, "
            f"{summary.spooled_register_events} events for the hazard register"
        )
    console.print(f"Database: {summary.database}")
    return EXIT_PARTIAL if summary.devices_in_fault else EXIT_OK
