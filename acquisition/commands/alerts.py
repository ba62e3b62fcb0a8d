"""``hazmon alerts``: list a site's alert states and acknowledge alerts over MQTT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hazmon.acquisition.alert_routes import alert_topic
from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    Subcommands,
    fail,
    printable,
    reply_seconds,
)
from hazmon.acquisition.service import mqtt_settings
from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.config.errors import ConfigError
from hazmon.config.numbers import format_number
from hazmon.config.site import SiteConfig, load_site
from hazmon.drivers.mqtt_adapter import MqttConnection


def register(commands: Subcommands) -> None:
    """Add the ``alerts`` parser and its subcommands."""
    parser = commands.add_parser(
        "alerts",
        help=SUMMARIES["alerts"],
        description=(
            "Alerts of a running `hazmon run` live on its broker: the retained state of every "
            "key on hazmon/<site>/alerts/state/<device>/<quantity>. `list` reads them; `ack` "
            "publishes an acknowledgement that the service applies and republishes."
        ),
    )
    actions = parser.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the alert state of every key")
    listing.add_argument("site", metavar="SITE")
    listing.add_argument("--all", action="store_true", help="include cleared keys")
    listing.add_argument(
        "--json",
        action="store_true",
        help="print the states as JSON, as the service publishes them",
    )
    listing.add_argument(
        "--wait", type=reply_seconds, default=1.0, help="[s] to collect retained states"
    )
    listing.set_defaults(handler=list_alerts)
    ack = actions.add_parser("ack", help="acknowledge the active alert of a key")
    ack.add_argument("site", metavar="SITE")
    ack.add_argument("key", metavar="DEVICE/QUANTITY", help="e.g. gd-tank-farm/lel")
    ack.add_argument("--by", default="", help="who acknowledges (default: the login name)")
    ack.add_argument("--note", default="")
    ack.add_argument(
        "--wait",
        type=reply_seconds,
        default=1.0,
        help="[s] to collect retained states (the key must have an active alert)",
    )
    ack.set_defaults(handler=acknowledge)


def _connection(site: SiteConfig) -> MqttConnection:
    if site.mqtt is None:
        raise ConfigError(
            f"site {site.name}",
            [
                "mqtt: missing; alerts are listed and acknowledged over the site's broker: "
                'add [mqtt] with host = "..."'
            ],
        )
    return MqttConnection(mqtt_settings(site.mqtt))


async def collect_states(site: SiteConfig, wait: float) -> list[dict[str, object]]:
    """The retained alert states of ``site`` (collected for ``wait`` [s])."""
    connection = _connection(site)
    states: list[dict[str, object]] = []
    async with connection:
        await connection.subscribe(alert_topic(site.name, "state", "#"), qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                async for message in connection.messages():
                    with contextlib.suppress(ValueError):
                        data = json.loads(message.payload)
                        if isinstance(data, dict):
                            states.append(data)
    return sorted(states, key=lambda state: str(state.get("key")))


def list_alerts(args: argparse.Namespace, console: Console) -> int:
    """Print the states."""
    _source, site = load_site(args.site)
    states = asyncio.run(collect_states(site, args.wait))
    if args.json:
        shown = [state for state in states if state.get("active") or args.all]
        sys.stdout.write(json.dumps(shown, ensure_ascii=False) + "\n")
        return EXIT_OK
    table = Table(title=f"alerts of site {escape(site.name)}")
    for heading in ("id", "key", "active", "level", "kind", "value", "acknowledged by"):
        table.add_column(heading)
    for state in states:
        if not state.get("active") and not args.all:
            continue
        last = state.get("last") if isinstance(state.get("last"), dict) else {}
        assert isinstance(last, dict)
        level = int(str(state.get("level", 0)))
        table.add_row(
            str(state.get("id")),
            escape(printable(state.get("key"))),
            "yes" if state.get("active") else "no",
            LEVEL_NAMES[min(level, 3)],
            str(state.get("kind")),
            escape(printable(f"{_value(last.get('value'))} {last.get('unit', '')}")),
            escape(printable(state.get("acknowledged_by") or "")),
        )
    console.print(table)
    return EXIT_OK


def _value(value: object) -> str:
    """A published value for people: rounded, plain; anything else shown as it came."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format_number(float(value))
    return "—" if value is None else str(value)


async def send_ack(site: SiteConfig, key: str, by: str, note: str) -> None:
    """Publish an acknowledgement of ``key`` (QoS 1, waits for the broker's ack)."""
    connection = _connection(site)
    async with connection:
        payload = json.dumps({"by": by, "note": note}).encode()
        await connection.publish(alert_topic(site.name, "ack", key), payload, qos=1)


def acknowledge(args: argparse.Namespace, console: Console) -> int:
    """Acknowledge one key."""
    _source, site = load_site(args.site)
    if "/" not in args.key:
        return fail(f"alerts ack {args.key}", "not DEVICE/QUANTITY", "e.g. gd-tank-farm/lel")
    states = asyncio.run(collect_states(site, args.wait))
    active = sorted(str(state.get("key")) for state in states if state.get("active"))
    if args.key not in active:
        known = ", ".join(active[:20]) if active else "none"
        return fail(
            "alerts ack",
            f"no active alert on {args.key} at site {site.name}, nothing to acknowledge "
            f"(active keys: {known})",
            "hazmon alerts list shows them",
            EXIT_PARTIAL,
        )
    by = args.by or getpass.getuser()
    asyncio.run(send_ack(site, args.key, by, args.note))
    console.print(f"acknowledgement of {escape(args.key)} by {escape(by)} sent")
    return EXIT_OK
