"""``hazmon run SITE.toml``: the acquisition service of a site."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.markup import escape

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    Subcommands,
    fail,
    hide_password,
    positive_integer,
    positive_seconds,
    printable,
)
from hazmon.acquisition.inspection import InspectedSite, InspectionMismatch, apply_inspection
from hazmon.acquisition.service import (
    ServiceOptions,
    print_summary,
    run_service,
    site_database,
    site_register_url,
    summary_document,
)
from hazmon.config.site import SiteConfig, load_site
from hazmon.store.hazards import HazardNotFound, HazardRegister


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
        "--inspection",
        type=positive_integer,
        metavar="ID",
        help="the desk's inspection this run is part of: its hazards are filed under it, and "
        "each instrument recorded there for a device id of the site flags that device's "
        "readings CALIBRATION_DUE after its calibration date (the earlier of the two dates "
        "when the site file gives one too)",
    )
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


def _on_inspection(
    site: SiteConfig, options: ServiceOptions, inspection_id: int
) -> InspectedSite | int:
    """The site with inspection ``inspection_id``'s calibration dates, or the exit status
    after saying why it cannot be read."""
    url = site_register_url(site, site_database(site, options))
    try:
        with HazardRegister(url) as register:
            inspection = register.inspection(inspection_id)
    except HazardNotFound:
        return fail(
            f"--inspection {inspection_id}",
            f"no such inspection in the register {hide_password(url)}",
            "give the id the desk shows (hazmon serve, 检查 page), or run without --inspection",
        )
    today = dt.datetime.now(ZoneInfo(site.time_zone)).date()
    try:
        return apply_inspection(site, inspection, inspection_id, today)
    except InspectionMismatch as error:
        return fail(
            f"--inspection {inspection_id}",
            str(error),
            "give the inspection of this enterprise, or correct enterprise = in the site file",
        )


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
        inspection_id=args.inspection,
    )
    console.print(
        f"[bold]hazmon run[/]: site {site.name!r} ({source}), {len(site.devices)} devices"
    )
    if args.inspection is not None:
        inspected = _on_inspection(site, options, args.inspection)
        if isinstance(inspected, int):
            return inspected
        site = inspected.site
        console.print(f"inspection {args.inspection}: the hazards of this run are filed under it")
        for note in inspected.notes:
            console.print(f"  [yellow]{escape(printable(note))}[/]", highlight=False)
    summary = asyncio.run(run_service(site, console, options))
    print_summary(console, summary)
    if args.json:
        sys.stdout.write(json.dumps(summary_document(summary), ensure_ascii=False) + "\n")
    return EXIT_PARTIAL if summary.devices_in_fault else EXIT_OK
