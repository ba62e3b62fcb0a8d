"""``hazmon simulate``: serve a site's simulated meters alone."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    EXIT_OK,
    Subcommands,
    positive_seconds,
    wait_for_stop,
)
from hazmon.config.site import ModbusDevice, SiteConfig, load_site
from hazmon.simulators.site import SimulatedSite


def register(commands: Subcommands) -> None:
    """Add the ``simulate`` parser."""
    parser = commands.add_parser(
        "simulate",
        help=SUMMARIES["simulate"],
        description=(
            "Serve the simulated meters of SITE, print each meter's address and profile, "
            "and run until Ctrl-C. Modbus meters are served at the addresses the site "
            "declares (TCP, RTU over TCP, RTU on a pseudo-terminal); serial frame and "
            "ASCII meters each on a new pseudo-terminal (its serial:// address is "
            "printed); MQTT meters publish to the broker at their mqtt:// address, which "
            "must be running."
        ),
    )
    parser.add_argument(
        "site",
        nargs="?",
        default="demo",
        help="bundled site name or site TOML path (default: demo)",
    )
    parser.add_argument(
        "--free-ports", action="store_true", help="bind free ports instead of the declared ones"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line once serving (keys: site, source, serving, devices: "
        "id, served, address, unit_id, profile, class, location, reason), then serve",
    )
    parser.add_argument(
        "--duration",
        type=positive_seconds,
        metavar="SECONDS",
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Serve until Ctrl-C (or ``--duration``); return the exit status."""
    source, site = load_site(args.site)

    async def main() -> None:
        async with SimulatedSite(site, free_ports=args.free_ports) as simulated:
            if args.json:
                _print_json(site, source, simulated.addresses)
                await wait_for_stop(asyncio.Event(), args.duration)
                return
            table = Table(title=f"meters of {site.name} ({source})")
            for heading in ("device", "serves", "unit id", "profile", "class", "location"):
                table.add_column(heading)
            for device in site.devices:
                if device.id in simulated.addresses:
                    serves = simulated.addresses[device.id]
                else:
                    # Silently skipped devices looked like a simulator serving nothing.
                    serves = (
                        "[yellow]not simulated[/]: no simulation table (add \\[devices.simulation])"
                    )
                table.add_row(
                    escape(device.id),
                    serves if device.id not in simulated.addresses else escape(serves),
                    str(device.unit_id) if isinstance(device, ModbusDevice) else "-",
                    escape(device.profile),
                    device.loaded_profile.instrument_class,
                    escape(device.location),
                )
            console.print(table)
            served = len(simulated.addresses)
            if not served:
                console.print(
                    "[yellow]No meter of this site has a simulation table, so nothing is "
                    "served.[/] Add to a device:\n  [[devices]] … then\n"
                    "  \\[devices.simulation]\n  period = 60\n"
                    "(channels it leaves out read ambient values: O2 20.9 %vol, 25 °C …)"
                )
            console.print(f"Serving {served} of {len(site.devices)} meters; Ctrl-C to stop.")
            await wait_for_stop(asyncio.Event(), args.duration)
        console.print("Stopped.")

    asyncio.run(main())
    return EXIT_OK


NOT_SIMULATED = "no simulation table (add [devices.simulation])"


def _print_json(site: SiteConfig, source: str, addresses: Mapping[str, str]) -> None:
    """One line of JSON, flushed at once: a script reads the addresses, then the meters
    serve on until it stops this process."""
    devices = [
        {
            "id": device.id,
            "served": device.id in addresses,
            "address": addresses.get(device.id),
            "unit_id": device.unit_id if isinstance(device, ModbusDevice) else None,
            "profile": device.profile,
            "class": device.loaded_profile.instrument_class,
            "location": device.location,
            "reason": None if device.id in addresses else NOT_SIMULATED,
        }
        for device in site.devices
    ]
    document = {
        "site": site.name,
        "source": source,
        "serving": len(addresses),
        "devices": devices,
    }
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()
