"""``hazmon ingest``: central ingest of field kits' readings from MQTT."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, Subcommands, positive_seconds
from hazmon.acquisition.ingest import READINGS_FILTER, IngestOptions, run_ingest
from hazmon.config.site import parse_tcp_address
from hazmon.drivers.mqtt_adapter import MqttSettings

USERNAME_VARIABLE = "HAZMON_MQTT_USERNAME"
PASSWORD_VARIABLE = "HAZMON_MQTT_PASSWORD"


def register(commands: Subcommands) -> None:
    """Add the ``ingest`` parser."""
    parser = commands.add_parser(
        "ingest",
        help=SUMMARIES["ingest"],
        description=(
            "Subscribe to hazmon/+/+/+ through the shared subscription $share/GROUP/...: "
            "start several processes with the same --group and the broker splits the "
            "messages between them. Each reading is evaluated (level) and stored in SQLite "
            "or, with --line-protocol-url, VictoriaMetrics through a durable outbox. "
            f"Credentials come from ${USERNAME_VARIABLE} and ${PASSWORD_VARIABLE}."
        ),
    )
    parser.add_argument("--broker", required=True, metavar="HOST:PORT", help="the MQTT broker")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--ca-file", metavar="PATH", help="CA bundle for TLS")
    parser.add_argument("--db", type=Path, required=True, metavar="PATH", help="SQLite store")
    parser.add_argument("--line-protocol-url", metavar="URL", help="VictoriaMetrics URL instead")
    parser.add_argument("--spool", type=Path, metavar="PATH", help="outbox for --line-protocol-url")
    parser.add_argument("--group", default="hazmon-ingest", help="shared subscription group")
    parser.add_argument("--topic", default=READINGS_FILTER, help="topic filter to share")
    parser.add_argument(
        "--client-id",
        default="",
        help="MQTT client id (default: hazmon-ingest-HOST-PID; keep it stable across restarts "
        "so the broker keeps the session's queued messages)",
    )
    parser.add_argument(
        "--standards", nargs="+", default=["gbt50493-2019"], help="limit tables for levels"
    )
    parser.add_argument("--duration", type=positive_seconds, metavar="SECONDS")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Ingest until SIGINT/SIGTERM (or --duration)."""
    host, port = parse_tcp_address(args.broker)
    username = os.environ.get(USERNAME_VARIABLE)
    settings = MqttSettings(
        host=host,
        port=port,
        client_id=args.client_id or f"hazmon-ingest-{socket.gethostname()}-{os.getpid()}",
        username=username,
        password=os.environ.get(PASSWORD_VARIABLE) if username else None,
        tls=args.tls,
        ca_file=args.ca_file,
        clean_start=False,
        session_expiry=3600,
    )
    options = IngestOptions(
        settings=settings,
        database=args.db,
        group=args.group,
        topic_filter=args.topic,
        standards=tuple(args.standards),
        line_protocol_url=args.line_protocol_url,
        spool=args.spool,
        duration=args.duration,
    )
    console.print(f"[bold]hazmon ingest[/]: {settings!r}, group {args.group!r}")
    stats = asyncio.run(run_ingest(options))
    console.print(
        f"{stats.readings} readings from {stats.messages} messages in {stats.batches} batches; "
        f"{stats.rejected} rejected"
    )
    return EXIT_OK
