"""``hazmon read``: read one meter once and print its channels.

Any profile: a Modbus meter is polled once; a frame, ASCII or MQTT meter is read
through the driver the site would use (:func:`hazmon.acquisition.meters.build_meters`):
asked once when it answers queries, or its first message taken when it streams.
"""

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

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_UNREACHABLE,
    Subcommands,
    fail,
    printable,
    reply_seconds,
)
from hazmon.acquisition.live import format_value
from hazmon.acquisition.meters import build_meters
from hazmon.analysis.limits import LEVEL_NAMES, LimitTable, evaluate_levels
from hazmon.analysis.readings import ChannelTable
from hazmon.config.addresses import Address, parse_address, parse_any_address
from hazmon.config.catalogue import load_catalogue
from hazmon.config.errors import ConfigError
from hazmon.config.numbers import plain_float
from hazmon.config.profile import Profile, bundled_profiles, load_profile
from hazmon.config.quality import Quality, describe
from hazmon.config.site import SiteConfig
from hazmon.config.standards import rules_by_quantity
from hazmon.drivers.base import PollResult
from hazmon.drivers.errors import TransportError
from hazmon.drivers.modbus_adapter import open_transport
from hazmon.drivers.modbus_meter import ModbusMeter

#: Standards the levels are read against: gas detection, workplace physical agents
#: (noise, WBGT), electrical safety and leak screening.
#: Words of a broker's refusal of a login (MQTT 3 and 5 reason strings).
LOGIN_REFUSED = ("not authorized", "bad user name or password")

#: Quality flags that mean the meter gave no answer at all (not a bad one).
UNANSWERED = int(Quality.COMM_TIMEOUT | Quality.COMM_ERROR)

DEFAULT_STANDARDS = ("gbt50493-2019", "gbz2.2-2007", "electrical", "leaks")


def register(commands: Subcommands) -> None:
    """Add the ``read`` parser."""
    parser = commands.add_parser(
        "read",
        help=SUMMARIES["read"],
        description="Read one meter once and print each channel's quantity, value, unit, "
        "quality and level. Modbus meters are polled; serial frame and ASCII meters are "
        "asked or listened to; MQTT meters' first message is taken.",
    )
    parser.add_argument(
        "address",
        metavar="ADDRESS",
        help="HOST:PORT, tcp://HOST:PORT, rtu+tcp://HOST:PORT or "
        "rtu:///dev/ttyUSB0?baudrate=9600&parity=N&stopbits=1&bytesize=8 (Modbus); "
        "serial:///dev/ttyUSB0?baudrate=9600 (frame and ASCII profiles); "
        "mqtt://HOST:1883 or mqtts://HOST:8883 (MQTT profiles)",
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
        "--device-id",
        default="read",
        metavar="ID",
        help="MQTT profiles: the device id filling {device} in the profile's topic (default: read)",
    )
    parser.add_argument(
        "--timeout",
        type=reply_seconds,
        default=2.0,
        metavar="SECONDS",
        help="reply timeout; for streaming meters, how long to wait for a message (default: 2)",
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
        channels = np.arange(len(profile.channels), dtype=np.int32)
        # One look at a meter that is running: hazmon did not see it switched on, and
        # WARMUP on every `hazmon read` would hide what the meter itself says.
        result = await ModbusMeter(transport, profile, unit_id, channels, warmup=0).poll()
    finally:
        transport.close()
    return result.readings.value, result.readings.quality, result.errors


async def _read_other(
    address: str, profile_name: str, device_id: str, timeout: float
) -> PollResult:
    """One result of a frame, ASCII or MQTT meter, through the site's own driver."""
    site = SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": "read",
            "enterprise": "hazmon read",
            "devices": [
                {
                    "id": device_id,
                    "profile": profile_name,
                    "address": address,
                    "timeout": timeout,
                    # A streaming meter is flagged silent after 5 intervals: make that
                    # the timeout.
                    "poll_interval": timeout / 5,
                }
            ],
        }
    )
    meters = build_meters(site, ChannelTable())
    try:
        for _device, polled in meters.polled:
            return await polled.poll()
        for _device, streaming in meters.streaming:
            results = streaming.results()
            try:
                return await anext(results)
            finally:
                aclose = getattr(results, "aclose", None)
                if aclose is not None:
                    await aclose()
    finally:
        await meters.close()
    raise AssertionError("build_meters built no meter")  # pragma: no cover


def run(args: argparse.Namespace, console: Console) -> int:
    """Read once and print; return the exit status."""
    try:
        any_address = parse_any_address(args.address)
    except ValueError as error:
        return fail(f"address {args.address}", str(error), "see hazmon read --help for the forms")
    if not 0 <= args.unit_id <= 247:
        return fail(f"--unit-id {args.unit_id}", "out of range", "give a unit id from 0 to 247")
    profile = load_profile(args.profile)
    fields = profile.channels
    if profile.transport == "modbus":
        try:
            address = parse_address(args.address)
        except ValueError as error:
            return fail(f"address {args.address}", str(error), "give HOST:PORT for Modbus TCP")
        try:
            value, quality, errors = asyncio.run(
                _poll(address, profile, args.unit_id, args.timeout)
            )
        except TransportError as error:
            return fail(
                args.address, str(error), "is the meter on and the address right?", EXIT_UNREACHABLE
            )
    else:
        del any_address  # parsed above for its error message; the site parses it again
        try:
            result = asyncio.run(
                _read_other(args.address, args.profile, args.device_id, args.timeout)
            )
        except (ConfigError, ValueError) as error:
            return fail(f"address {args.address}", str(error), "see hazmon read --help")
        value, quality, errors = (
            result.readings.value,
            result.readings.quality,
            result.errors,
        )
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
                "value": None if math.isnan(value[number]) else plain_float(value[number]),
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
                # To the meter's resolution where its step is in the shown unit.
                format_value(
                    float(value[number]),
                    field.resolution if field.unit == units[number] else None,
                ),
                units[number],
                describe(int(quality[number])),
                LEVEL_NAMES[int(level[number])],
            )
        console.print(table)
    for message in errors:
        print(f"hazmon: {printable(args.address)}: {printable(message)}", file=sys.stderr)
    if any(word in message.lower() for message in errors for word in LOGIN_REFUSED):
        # The broker answered and refused the login: wrong or missing credentials.
        return fail(
            args.address,
            "the broker refused the login",
            "set HAZMON_MQTT_USERNAME and HAZMON_MQTT_PASSWORD to an account it accepts",
        )
    if any("TLS refused: " in message for message in errors):
        # The broker answered with a certificate no trusted CA signed: a setting to fix
        # (as a refused login is), not a broker to wait for.
        return fail(
            args.address,
            "the broker's TLS certificate is not signed by a CA hazmon trusts",
            "give the CA that signed it (ca_file in the site's [mqtt] or [[mqtt_brokers]])",
        )
    if errors and len(quality) and bool(np.all(quality & UNANSWERED)):
        # Not one value came back: nothing answers at that address (a port that accepts
        # and stays silent, a missing device, a broker that never delivers).
        return fail(
            args.address,
            "no value came back",
            "is the meter on, the address right and the profile the meter's?",
            EXIT_UNREACHABLE,
        )
    return EXIT_PARTIAL if errors else EXIT_OK
