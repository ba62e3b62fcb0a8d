"""``hazmon read``: poll one meter once and print its channels."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from hazmon.acquisition.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Subcommands,
    positive_seconds,
)
from hazmon.acquisition.live import format_value
from hazmon.analysis.limits import LEVEL_NAMES, LimitTable, evaluate_levels
from hazmon.config.addresses import Address, parse_address
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import Profile, bundled_profiles, load_profile
from hazmon.config.quality import describe
from hazmon.config.standards import rules_by_quantity
from hazmon.drivers.errors import TransportError
from hazmon.drivers.modbus_adapter import open_transport
from hazmon.drivers.modbus_meter import ModbusMeter

DEFAULT_STANDARDS = ("gbt50493-2019",)


def register(commands: Subcommands) -> None:
    """Add the ``read`` parser."""
    parser = commands.add_parser(
        "read",
        help="poll one Modbus meter once (TCP, RTU, RTU over TCP) and print its channels",
        description="Poll one Modbus meter once and print each channel's quantity, "
        "value, unit, quality and level.",
    )
    parser.add_argument(
        "address",
        metavar="ADDRESS",
        help="HOST:PORT, tcp://HOST:PORT, rtu+tcp://HOST:PORT or "
        "rtu:///dev/ttyUSB0?baudrate=9600&parity=N&stopbits=1&bytesize=8",
    )
    parser.add_argument(
        "--profile",
        required=True,
        metavar="NAME",
        help=f"bundled profile ({', '.join(bundled_profiles())}) or profile TOML path",
    )
    parser.add_argument(
        "--unit-id", type=int, default=1, metavar="N", help="Modbus unit id, 0-247 (default: 1)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=2.0,
        metavar="SECONDS",
        help="reply timeout (default: 2)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {quantity, value, unit, quality, level}",
    )
    parser.set_defaults(handler=run)


async def _poll(
    address: Address, profile: Profile, unit_id: int, reply_timeout: float
) -> tuple[NDArray[np.float64], NDArray[np.uint16], tuple[str, ...]]:
    transport = open_transport(address, timeout=reply_timeout)
    try:
        await transport.connect()
        channels = np.arange(len(profile.modbus.fields), dtype=np.int32)
        result = await ModbusMeter(transport, profile, unit_id, channels).poll()
    finally:
        transport.close()
    return result.readings.value, result.readings.quality, result.errors


def run(args: argparse.Namespace, console: Console) -> int:
    """Poll once and print; return the exit status."""
    try:
        address = parse_address(args.address)
    except ValueError as error:
        console.print(f"[red]error[/]: {error}", highlight=False)
        return EXIT_USAGE
    if not 0 <= args.unit_id <= 247:
        console.print(f"[red]error[/]: --unit-id {args.unit_id}: give a unit id from 0 to 247")
        return EXIT_USAGE
    profile = load_profile(args.profile)
    fields = profile.modbus.fields
    try:
        value, quality, errors = asyncio.run(_poll(address, profile, args.unit_id, args.timeout))
    except TransportError as error:
        console.print(f"[red]error[/]: {error}. Is the meter on and the address right?")
        return EXIT_UNREACHABLE
    limits = LimitTable.build(
        [field.quantity for field in fields], rules_by_quantity(DEFAULT_STANDARDS)
    )
    level, _side = evaluate_levels(value, np.arange(len(fields), dtype=np.int32), limits)
    catalogue = load_catalogue()
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
    return EXIT_PARTIAL if errors else EXIT_OK
