"""The ``hazmon`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hazmon import __version__
from hazmon.acquisition.live import format_value
from hazmon.acquisition.session import run_session
from hazmon.analysis.limits import LEVEL_NAMES, LimitTable, evaluate_levels
from hazmon.config.catalogue import load_catalogue
from hazmon.config.errors import ConfigError
from hazmon.config.profile import bundled_profiles, load_profile
from hazmon.config.quality import describe
from hazmon.config.site import load_site, parse_tcp_address
from hazmon.config.standards import rules_by_quantity
from hazmon.drivers.errors import TransportError
from hazmon.drivers.modbus_adapter import ModbusTcpTransport
from hazmon.drivers.modbus_meter import ModbusMeter
from hazmon.simulators.errors import SimulatorError
from hazmon.simulators.site import SimulatedSite

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hazmon",
        description=(
            "Instrument data for safety inspections: poll meters, flag every reading against "
            "the national standard limits, store it, and turn what breaks a limit into a "
            "hazard record."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hazmon {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the simulated demo site end to end (live table, alerts, SQLite)",
        description=(
            "Start the demo site's simulated gas detectors in-process, poll them over Modbus "
            "TCP, show a live table and alerts, store readings, events and hazard records in "
            "SQLite, and print a summary. Runs until Ctrl-C unless --duration is given."
        ),
    )
    demo.add_argument(
        "--duration",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    demo.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="SQLite database to write (default: a new file in the temp folder)",
    )
    demo.add_argument(
        "--site",
        default="demo",
        metavar="SITE",
        help="bundled site name or site TOML path (default: demo)",
    )
    demo.add_argument(
        "--no-live",
        action="store_true",
        help="print alerts and the summary only, without the live table",
    )

    simulate = commands.add_parser(
        "simulate",
        help="run a site's simulated meters alone",
        description=(
            "Serve the simulated meters of SITE over Modbus TCP at the addresses the site "
            "declares, print each meter's address and profile, and run until Ctrl-C."
        ),
    )
    simulate.add_argument(
        "site",
        nargs="?",
        default="demo",
        help="bundled site name or site TOML path (default: demo)",
    )
    simulate.add_argument(
        "--free-ports", action="store_true", help="bind free ports instead of the declared ones"
    )
    simulate.add_argument(
        "--duration",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop after this many seconds (default: until Ctrl-C)",
    )

    read = commands.add_parser(
        "read",
        help="poll one Modbus TCP meter once and print its channels",
        description="Poll one Modbus TCP meter once and print each channel's quantity, "
        "value, unit, quality and level.",
    )
    read.add_argument("address", metavar="HOST:PORT", help="e.g. 127.0.0.1:15020 or tcp://host:502")
    read.add_argument(
        "--profile",
        required=True,
        metavar="NAME",
        help=f"bundled profile ({', '.join(bundled_profiles())}) or profile TOML path",
    )
    read.add_argument(
        "--unit-id", type=int, default=1, metavar="N", help="Modbus unit id, 0-247 (default: 1)"
    )
    read.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=2.0,
        metavar="SECONDS",
        help="reply timeout (default: 2)",
    )
    read.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {quantity, value, unit, quality, level}",
    )
    return parser


def _demo(args: argparse.Namespace, console: Console) -> int:
    source, site = load_site(args.site)
    database: Path = (
        args.db or Path(tempfile.gettempdir()) / f"hazmon-demo-{time.strftime('%Y%m%d-%H%M%S')}.db"
    )

    async def main() -> None:
        async with SimulatedSite(site, free_ports=True) as simulated:
            console.print(
                f"[bold]hazmon demo[/]: {len(simulated.addresses)} simulated meters of site "
                f"{site.name!r} ({source}); writing to {database}"
            )
            summary = await run_session(
                site,
                database,
                console,
                duration=args.duration,
                addresses=simulated.addresses,
                live=not args.no_live,
            )
        stats = summary.stats
        console.print(
            f"\n[bold]Summary[/]: {stats.readings} readings stored "
            f"({stats.flagged} with a quality flag), {stats.events} events, "
            f"{stats.hazards} hazards created (pending_review), {summary.alerts} alerts."
        )
        console.print(f"Database: {database}")

    asyncio.run(main())
    return 0


def _simulate(args: argparse.Namespace, console: Console) -> int:
    source, site = load_site(args.site)

    async def main() -> None:
        async with SimulatedSite(site, free_ports=args.free_ports) as simulated:
            table = Table(title=f"simulated meters of {site.name} ({source})")
            for heading in ("device", "address", "unit id", "profile", "location"):
                table.add_column(heading)
            for device in site.devices:
                if device.id in simulated.addresses:
                    table.add_row(
                        device.id,
                        simulated.addresses[device.id],
                        str(device.unit_id),
                        device.profile,
                        device.location,
                    )
            console.print(table)
            console.print("Serving; Ctrl-C to stop.")
            stop = asyncio.Event()
            from hazmon.acquisition.session import _wait_for_stop

            await _wait_for_stop(stop, args.duration)
        console.print("Stopped.")

    asyncio.run(main())
    return 0


def _read(args: argparse.Namespace, console: Console) -> int:
    try:
        host, port = parse_tcp_address(args.address)
    except ValueError as error:
        console.print(f"[red]error[/]: {error}", highlight=False)
        return EXIT_USAGE
    if not 0 <= args.unit_id <= 247:
        console.print(f"[red]error[/]: --unit-id {args.unit_id}: give a unit id from 0 to 247")
        return EXIT_USAGE
    profile = load_profile(args.profile)
    catalogue = load_catalogue()
    fields = profile.modbus.fields
    rules = rules_by_quantity(("gbt50493-2019",))
    limits = LimitTable.build([field.quantity for field in fields], rules)

    async def poll() -> tuple[np.ndarray, np.ndarray, list[str]]:
        transport = ModbusTcpTransport(host, port, timeout=args.timeout)
        try:
            await transport.connect()
            meter = ModbusMeter(
                transport, profile, args.unit_id, np.arange(len(fields), dtype=np.int32)
            )
            result = await meter.poll()
        finally:
            transport.close()
        return result.readings.value, result.readings.quality, list(result.errors)

    try:
        value, quality, errors = asyncio.run(poll())
    except TransportError as error:
        console.print(f"[red]error[/]: {error}. Is the meter on and the address right?")
        return EXIT_UNREACHABLE
    level, _side = evaluate_levels(value, np.arange(len(fields), dtype=np.int32), limits)
    units = [catalogue.spec(field.quantity).unit for field in fields]
    if args.json:
        rows = [
            {
                "quantity": field.quantity,
                "value": None if math.isnan(value[number]) else float(value[number]),
                "unit": units[number],
                "quality": describe(int(quality[number])),
                "level": int(level[number]),
            }
            for number, field in enumerate(fields)
        ]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
    else:
        table = Table(title=f"{args.address} unit {args.unit_id} ({profile.name})")
        for heading in ("quantity", "value", "unit", "quality", "level"):
            table.add_column(heading)
        for number, field in enumerate(fields):
            table.add_row(
                field.quantity,
                format_value(float(value[number])),
                units[number],
                describe(int(quality[number])),
                LEVEL_NAMES[int(level[number])],
            )
        console.print(table)
    for message in errors:
        print(f"warning: {message}", file=sys.stderr)
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hazmon`` command; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    console = Console()
    handlers = {"demo": _demo, "simulate": _simulate, "read": _read}
    try:
        return handlers[args.command](args, console)
    except ConfigError as error:
        print(f"hazmon: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SimulatorError as error:
        print(f"hazmon: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
