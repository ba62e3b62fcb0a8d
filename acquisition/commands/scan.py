"""``hazmon scan``: list serial ports, find answering unit ids, find a byte order."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys

from rich.console import Console
from rich.table import Table

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    EXIT_OK,
    EXIT_UNREACHABLE,
    Subcommands,
    fail,
    printable,
    reply_seconds,
)
from hazmon.config.addresses import SerialAddress, parse_address
from hazmon.config.profile import load_profile
from hazmon.drivers.errors import TransportError
from hazmon.drivers.modbus_adapter import list_serial_ports
from hazmon.drivers.scan import (
    DEFAULT_BAUDRATES,
    DEFAULT_PARITIES,
    ProbeHit,
    detect_byte_order,
    probe_serial_settings,
    probe_units,
)


def _unit_range(text: str) -> list[int]:
    units: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            units += range(int(low), int(high or low) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give unit ids like 1-10,17") from None
    if not units or not all(0 <= unit <= 247 for unit in units):
        raise argparse.ArgumentTypeError(f"{text!r}: unit ids are 0-247")
    return units


def _int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give numbers like 9600,19200") from None


def _parity_list(text: str) -> list[str]:
    parities = [part.strip().upper() for part in text.split(",")]
    if not all(parity in ("N", "E", "O") for parity in parities):
        raise argparse.ArgumentTypeError(f"{text!r}: parities are N, E and O")
    return parities


def register(commands: Subcommands) -> None:
    """Add the ``scan`` parser."""
    parser = commands.add_parser(
        "scan",
        help=SUMMARIES["scan"],
        description=(
            "Without ADDRESS: list the serial ports. With ADDRESS: ask each unit id for one "
            "register; on a serial port, at every baud rate and parity given. With --expect: "
            "read the register at --register of --unit-id and decode it in every data type "
            "and byte order, reporting which ones give the expected value."
        ),
    )
    parser.add_argument("address", nargs="?", metavar="ADDRESS", help="any hazmon address")
    parser.add_argument(
        "--units",
        type=_unit_range,
        default=list(range(1, 248)),
        metavar="RANGE",
        help="unit ids to probe, e.g. 1-10,17 (default: 1-247)",
    )
    parser.add_argument(
        "--baudrates",
        type=_int_list,
        metavar="LIST",
        help=f"serial only; default: the address's, or with --all-settings "
        f"{','.join(map(str, DEFAULT_BAUDRATES))}",
    )
    parser.add_argument(
        "--parities",
        type=_parity_list,
        metavar="LIST",
        help="serial only; e.g. N,E (default: the address's, or N,E,O with --all-settings)",
    )
    parser.add_argument(
        "--all-settings",
        action="store_true",
        help="serial only: try the common baud rates and every parity",
    )
    parser.add_argument(
        "--kind", choices=("holding", "input"), default="holding", help="register kind asked"
    )
    parser.add_argument("--register", type=int, default=0, metavar="N", help="register address")
    parser.add_argument(
        "--timeout",
        type=reply_seconds,
        default=0.1,
        metavar="SECONDS",
        help="reply timeout per unit id (default: 0.1)",
    )
    parser.add_argument("--unit-id", type=int, default=1, metavar="N", help="for --expect")
    parser.add_argument(
        "--expect",
        type=float,
        metavar="VALUE",
        help="the value the register holds (raw, or in the --profile's unit): report the "
        "data types and byte orders that decode it",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        metavar="T",
        help="with --expect: accept a decoded value within ±T of it (a live reading moves "
        "between the display and the read; default: 0, float rounding only)",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="with --expect: apply the scale and offset this profile gives --register, so "
        "--expect is what the meter displays (e.g. 20.9 for O2 held as 209)",
    )
    parser.add_argument(
        "--types",
        default="float32,int32,uint32",
        metavar="LIST",
        help="data types tried with --expect (default: float32,int32,uint32)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=run)


def _print_ports(console: Console, as_json: bool) -> int:
    ports = list_serial_ports()
    if as_json:
        rows = [
            {"device": p.device, "description": p.description, "hwid": p.hardware_id} for p in ports
        ]
        sys.stdout.write(json.dumps(rows) + "\n")
        return EXIT_OK
    table = Table(title="serial ports")
    for heading in ("device", "description", "hardware id"):
        table.add_column(heading)
    for port in ports:
        table.add_row(port.device, port.description, port.hardware_id)
    console.print(table if ports else "no serial ports found")
    return EXIT_OK


def run(args: argparse.Namespace, console: Console) -> int:
    """Scan; return the exit status."""
    if args.address is None:
        return _print_ports(console, args.json)
    try:
        address = parse_address(args.address)
    except ValueError as error:
        return fail(f"address {args.address}", str(error), "see hazmon scan --help")
    if args.expect is not None:
        return _byte_order(args, address, console)
    hits: list[ProbeHit]
    skipped: list[str] = []
    try:
        if isinstance(address, SerialAddress) and (
            args.all_settings or args.baudrates or args.parities
        ):
            baudrates = args.baudrates or (
                list(DEFAULT_BAUDRATES) if args.all_settings else [address.baudrate]
            )
            parities = args.parities or (
                list(DEFAULT_PARITIES) if args.all_settings else [address.parity]
            )
            hits = asyncio.run(
                probe_serial_settings(
                    address,
                    args.units,
                    baudrates=baudrates,
                    parities=parities,
                    kind=args.kind,
                    register=args.register,
                    reply_timeout=args.timeout,
                    skipped=skipped,
                )
            )
        else:
            hits = asyncio.run(
                probe_units(
                    address,
                    args.units,
                    kind=args.kind,
                    register=args.register,
                    reply_timeout=args.timeout,
                )
            )
    except TransportError as error:
        return fail(args.address, str(error), "is the port right and free?", EXIT_UNREACHABLE)
    if args.json:
        rows = [{"address": h.address, "unit_id": h.unit_id, "answer": h.answer} for h in hits]
        sys.stdout.write(json.dumps(rows) + "\n")
    else:
        table = Table(title=f"unit ids answering at {args.address}")
        for heading in ("address", "unit id", "answer"):
            table.add_column(heading)
        for hit in hits:
            table.add_row(hit.address, str(hit.unit_id), hit.answer)
        console.print(table if hits else "no unit id answered", highlight=False)
    for setting in skipped:
        # Not an error: a pty or an adapter cannot take every parity or baud rate.
        print(
            f"hazmon: scan: skipped {printable(setting)} — the port cannot do it", file=sys.stderr
        )
    return EXIT_OK if hits else EXIT_UNREACHABLE


def _byte_order(args: argparse.Namespace, address: object, console: Console) -> int:
    types = [name.strip() for name in args.types.split(",")]
    known = ("int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64")
    if not all(name in known for name in types):
        return fail(f"--types {args.types}", "unknown data type", f"give {', '.join(known)}")
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        return fail(f"--tolerance {args.tolerance}", "not a distance", "give a number ≥ 0")
    scale, offset = 1.0, 0.0
    if args.profile is not None:
        profile = load_profile(args.profile)
        if profile.transport != "modbus":
            return fail(f"--profile {args.profile}", "not a Modbus profile", "give a Modbus one")
        fields = [f for f in profile.modbus_map.fields if f.address == args.register]
        if not fields:
            where = ", ".join(str(f.address) for f in profile.modbus_map.fields)
            return fail(
                f"--register {args.register}",
                f"profile {profile.name} maps nothing there",
                f"give one of {where}",
            )
        scale, offset = fields[0].scale, fields[0].offset
    assert not isinstance(address, str)
    try:
        matches = asyncio.run(
            detect_byte_order(
                address,  # type: ignore[arg-type]
                args.unit_id,
                args.register,
                args.expect,
                kind=args.kind,
                data_types=types,
                reply_timeout=max(args.timeout, 0.5),
                scale=scale,
                offset=offset,
                absolute=args.tolerance,
            )
        )
    except TransportError as error:
        return fail(args.address, str(error), "is the meter on and the address right?", 3)
    found = [m for m in matches if m.matches]
    if args.json:
        rows = [
            {"type": m.data_type, "order": m.order, "value": m.value, "matches": m.matches}
            for m in matches
        ]
        sys.stdout.write(json.dumps(rows) + "\n")
    else:
        table = Table(
            title=f"register {args.register} of unit {args.unit_id}, expecting {args.expect:g}"
        )
        for heading in ("type", "order", "decodes to", "match"):
            table.add_column(heading)
        for m in matches:
            table.add_row(m.data_type, m.order, f"{m.value:.6g}", "yes" if m.matches else "")
        console.print(table)
        console.print(
            "matching: " + ", ".join(f"{m.data_type} {m.order}" for m in found)
            if found
            else "no data type and byte order decodes the expected value",
            highlight=False,
        )
    return EXIT_OK if found else EXIT_UNREACHABLE
