"""``hazmon check SITE.toml``: validate a site config without connecting to anything."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, EXIT_PARTIAL, Subcommands
from hazmon.config.site import ModbusDevice, SiteConfig, load_site


def register(commands: Subcommands) -> None:
    """Add the ``check`` parser."""
    parser = commands.add_parser(
        "check",
        help=SUMMARIES["check"],
        description=(
            "Load and validate a site TOML: schema, devices, profiles, addresses, limits, "
            "stores, MQTT and alert routes. Errors name the file, the key and the fix (exit "
            "status 2). Warnings (a calibration date past, an environment variable the "
            "config names but this shell lacks) exit 1 with --strict, else 0. Nothing is "
            "connected to and no secret is printed."
        ),
    )
    parser.add_argument("site", metavar="SITE", help="site TOML path or bundled site name")
    parser.add_argument("--strict", action="store_true", help="exit 1 when there are warnings")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print {source, site, enterprise, devices, warnings, ok} as JSON",
    )
    parser.set_defaults(handler=run)


def warnings_of(site: SiteConfig, now_ns: int | None = None) -> list[str]:
    """What is valid but probably wrong: overdue calibration, unset variables.

    ``now_ns`` [ns UTC], now by default: a calibration due date ends at 23:59:59 in the
    site's time zone.
    """
    now_ns = time.time_ns() if now_ns is None else now_ns
    found = []
    for number, device in enumerate(site.devices):
        expires_ns = site.calibration_expires_ns(device)
        if expires_ns is not None and now_ns >= expires_ns:
            found.append(
                f"devices[{number}].calibration_due = {device.calibration_due}: past; its "
                "readings will be flagged CALIBRATION_DUE (calibrate the meter, then update "
                "the date)"
            )
    variables: list[tuple[str, str]] = []
    if site.mqtt is not None:
        # The defaults (HAZMON_MQTT_USERNAME/PASSWORD) are used when set and skipped when
        # not: an anonymous broker needs neither, so only names the site file gives say
        # that this broker asks for a login.
        for key in ("username_env", "password_env"):
            name = getattr(site.mqtt, key)
            if name and key in site.mqtt.model_fields_set:
                variables.append((f"mqtt.{key}", name))
    for number, route in enumerate(site.alerts.routes):
        if route.secret_env:
            variables.append((f"alerts.routes[{number}].secret_env", route.secret_env))
    if site.stores.hazard_register_env:
        variables.append(("stores.hazard_register_env", site.stores.hazard_register_env))
    if site.stores.line_protocol_kind == "influxdb":
        variables.append(("stores.influx_token_env", site.stores.influx_token_env))
    for key, name in variables:
        if name not in os.environ:
            required = key.startswith("alerts.")
            found.append(
                f"{key} = {name!r}: not set in this environment"
                + ("; `hazmon run` refuses to start without it" if required else "")
            )
    return found


def _json(args: argparse.Namespace, source: str, site: SiteConfig) -> int:
    warnings = warnings_of(site)
    document = {
        "source": source,
        "site": site.name,
        "enterprise": site.enterprise,
        "devices": [
            {
                "id": device.id,
                "profile": device.profile,
                "address": device.address,
                "unit_id": device.unit_id if isinstance(device, ModbusDevice) else None,
                "poll_interval_s": device.poll_interval,
                "calibration_due": (
                    None if device.calibration_due is None else device.calibration_due.isoformat()
                ),
            }
            for device in site.devices
        ],
        "warnings": warnings,
        "ok": True,
    }
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    return EXIT_PARTIAL if warnings and args.strict else EXIT_OK


def run(args: argparse.Namespace, console: Console) -> int:
    """Validate; print a summary and the warnings."""
    source, site = load_site(args.site)
    if args.json:
        return _json(args, source, site)
    table = Table(title=f"{escape(source)}: site {escape(site.name)} ({escape(site.enterprise)})")
    for heading in ("device", "profile", "address", "unit id", "interval [s]", "calibration due"):
        table.add_column(heading)
    for device in site.devices:
        table.add_row(
            device.id,
            device.profile,
            escape(device.address),
            str(device.unit_id) if isinstance(device, ModbusDevice) else "—",
            f"{device.poll_interval:g}",
            str(device.calibration_due or "—"),
        )
    console.print(table)
    stores = site.stores
    base = Path(source).parent if Path(source).exists() else Path.cwd()
    console.print(f"readings: SQLite {escape(str(base / stores.sqlite))}")
    if stores.line_protocol_url:
        console.print(
            f"  and {stores.line_protocol_kind} {escape(stores.line_protocol_url)} "
            f"(outbox {escape(str(base / stores.spool))})"
        )
    register = (
        f"from ${stores.hazard_register_env}"
        if stores.hazard_register_env
        else stores.hazard_register or "the readings' SQLite file"
    )
    console.print(f"hazard register: {escape(register)}")
    if site.mqtt is not None:
        scheme = "mqtts" if site.mqtt.tls else "mqtt"
        publish = "publishing readings" if site.mqtt.publish_readings else "alerts only"
        console.print(f"MQTT: {scheme}://{escape(site.mqtt.host)}:{site.mqtt.port} ({publish})")
    routes = ", ".join(
        route.kind + (f" {route.url}" if route.url else "") for route in site.alerts.routes
    )
    console.print(f"alert routes: {escape(routes)}")
    warnings = warnings_of(site)
    for warning in warnings:
        console.print(f"[yellow]warning[/]: {escape(source)}: {escape(warning)}")
    console.print(f"[green]OK[/]: {escape(source)} is valid ({len(site.devices)} devices)")
    return EXIT_PARTIAL if warnings and args.strict else EXIT_OK
