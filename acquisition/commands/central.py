"""``hazmon central``: a central worker on NATS JetStream, and its tools."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import (
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Subcommands,
    positive_seconds,
    printable,
)

REGISTER_VARIABLE = "HAZMON_REGISTER_URL"
DEFAULT_NATS = "nats://127.0.0.1:4222"


def nats_servers(text: str) -> list[str]:
    """argparse type: comma-separated NATS server URLs (``nats://HOST:PORT``; a bare
    ``HOST[:PORT]`` is ``nats://``), each with a host and a port 1-65535."""
    from urllib.parse import urlsplit

    servers = [part.strip() for part in text.split(",")]
    for server in servers:
        try:
            address = urlsplit(server if "://" in server else f"nats://{server}")
            port = address.port
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"{server!r} is not a server URL ({error}); give nats://HOST:PORT[,...]"
            ) from None
        host = address.hostname or ""
        if address.scheme not in ("nats", "tls", "ws", "wss") or not host or " " in host:
            raise argparse.ArgumentTypeError(
                f"{server!r} is not a server URL; give nats://HOST:PORT[,...]"
            )
        if port == 0:
            raise argparse.ArgumentTypeError(f"{server!r}: port 0; give a port 1-65535")
    return servers


def register(commands: Subcommands) -> None:
    """Add the ``central`` parser."""
    parser = commands.add_parser(
        "central",
        help=SUMMARIES["central"],
        description=(
            "Kits publish readings over MQTT to a NATS cluster's MQTT gateway; the cluster "
            "partitions them by channel. `hazmon central run` is one worker: it leases "
            "partitions, judges each in order with the kit's own evaluator, stores the "
            "readings and files events and hazards (source 'central'). Start as many as "
            "you like; a worker that dies has its partitions taken over within seconds."
        ),
    )
    actions = parser.add_subparsers(dest="central_action", required=True, metavar="ACTION")
    run_parser = actions.add_parser("run", help="run one worker (until SIGINT/SIGTERM)")
    run_parser.add_argument(
        "--nats",
        type=nats_servers,
        default=[DEFAULT_NATS],
        help="comma-separated server URLs of the cluster",
    )
    run_parser.add_argument("--worker", help="worker id (default HOST-PID; unique per worker)")
    run_parser.add_argument("--db", type=Path, required=True, metavar="PATH", help="SQLite store")
    run_parser.add_argument("--line-protocol-url", metavar="URL", help="VictoriaMetrics instead")
    run_parser.add_argument(
        "--register-url",
        help=f"the hazard register's SQLAlchemy URL (default ${REGISTER_VARIABLE}; a "
        "password belongs in the variable, not on the command line)",
    )
    run_parser.add_argument("--partitions", type=int, default=8, help="as the cluster maps them")
    run_parser.add_argument("--replicas", type=int, default=3, help="stream replicas")
    run_parser.add_argument("--lease-ttl", type=positive_seconds, default=6.0, metavar="SECONDS")
    run_parser.add_argument(
        "--reorder-wait",
        type=positive_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long a kit's message that came past a gap in its numbering waits for "
        "the missing one, so that readings are judged in order (default 10; a kit with "
        "confirm sends a missing message again within about a second)",
    )
    run_parser.add_argument("--standards", nargs="+", default=["gbt50493-2019"])
    run_parser.add_argument("--ownership-log", type=Path, metavar="PATH")
    run_parser.add_argument("--status-file", type=Path, metavar="PATH", help="health as JSON")
    run_parser.add_argument("--duration", type=positive_seconds, metavar="SECONDS")
    run_parser.add_argument(
        "--alerts",
        type=Path,
        metavar="FILE",
        help="a TOML file with an [alerts] table as in a site file (routes: console, "
        "webhook; dedupe and rate limits); without it alerts are only logged",
    )
    run_parser.set_defaults(handler=run)

    dead = actions.add_parser("dead-letters", help="list the messages workers could not process")
    dead.add_argument("--nats", type=nats_servers, default=[DEFAULT_NATS])
    dead.add_argument("--limit", type=int, default=50, help="newest N (default 50)")
    dead.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list (keys: seq subject reason worker payload)",
    )
    dead.set_defaults(handler=show_dead_letters)

    config = actions.add_parser(
        "cluster-config", help="write the nats-server configs of a 3-node loopback cluster"
    )
    config.add_argument("directory", type=Path)
    config.add_argument("--base-port", type=int, default=4222, help="client port of node 0")
    config.add_argument("--partitions", type=int, default=8)
    config.set_defaults(handler=cluster_config)


def _fail(what: str, why: str, todo: str) -> None:
    print(f"hazmon: {what}: {why} — {todo}", file=sys.stderr)


def run(args: argparse.Namespace, console: Console) -> int:
    """Run one worker until SIGINT/SIGTERM (or --duration)."""
    import nats.errors

    from hazmon.acquisition.alert_routes import build_routes
    from hazmon.acquisition.central.worker import CentralOptions, run_worker
    from hazmon.config.site import AlertsConfig, load_alerts
    from hazmon.store.timeseries import TimeSeriesStore
    from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries
    from hazmon.store.timeseries.sqlite import SqliteTimeSeries

    url = args.register_url or os.environ.get(REGISTER_VARIABLE)
    if not url:
        _fail(
            "central run", "no hazard register", f"give --register-url or set ${REGISTER_VARIABLE}"
        )
        return EXIT_USAGE
    if args.partitions < 1:
        _fail("central run", f"--partitions {args.partitions}", "give 1 or more")
        return EXIT_USAGE
    source, alerts = "--alerts", AlertsConfig(routes=[])
    if args.alerts is not None:
        source, alerts = load_alerts(args.alerts)
    # Built before anything opens: a missing secret or an mqtt route is bad input (2).
    routes = build_routes(alerts, console, None, source)
    worker = args.worker or f"{socket.gethostname()}-{os.getpid()}"
    store: TimeSeriesStore
    try:
        if args.line_protocol_url:
            remote = LineProtocolTimeSeries.victoria_metrics(
                args.line_protocol_url, args.db.with_suffix(".spool.db")
            )
            remote.open()
            store = remote
        else:
            local = SqliteTimeSeries(args.db)
            local.open()
            store = local
    except OSError as error:
        _fail(f"central run --db {args.db}", str(error), "give a writable path")
        return EXIT_USAGE
    options = CentralOptions(
        servers=args.nats,
        worker=worker,
        timeseries=store,
        register_url=url,
        register_spool=args.db.with_name(f"{args.db.stem}.{worker}.register-spool.db"),
        partitions=args.partitions,
        replicas=args.replicas,
        standards=tuple(args.standards),
        lease_ttl=args.lease_ttl,
        reorder_wait=args.reorder_wait,
        duration=args.duration,
        ownership_log=args.ownership_log,
        status_file=args.status_file,
        alerts=alerts,
        routes=routes,
    )
    console.print(f"[bold]hazmon central[/]: worker {worker} on {','.join(args.nats)}")
    try:
        stats = asyncio.run(run_worker(options))
    except (OSError, nats.errors.NoServersError, nats.errors.TimeoutError) as error:
        _fail(
            f"central run --nats {','.join(args.nats)}",
            str(error) or type(error).__name__,
            "start the cluster or give its URLs",
        )
        return EXIT_UNREACHABLE
    finally:
        store.close()
    console.print(
        f"{stats.readings} readings from {stats.messages} messages; {stats.rejected} rejected, "
        f"{stats.dead_letters} dead letters, gaps {stats.gaps or 'none'}, "
        f"{stats.waited} waited for a missing one, {stats.late} late"
    )
    return EXIT_OK


def show_dead_letters(args: argparse.Namespace, console: Console) -> int:
    """Print the newest dead letters."""
    import nats.errors

    from hazmon.acquisition.central.worker import dead_letters

    try:
        letters = asyncio.run(dead_letters(args.nats, args.limit))
    except (OSError, nats.errors.NoServersError, nats.errors.TimeoutError) as error:
        _fail(
            f"central dead-letters --nats {','.join(args.nats)}",
            str(error) or type(error).__name__,
            "start the cluster or give its URLs",
        )
        return EXIT_UNREACHABLE
    except nats.js.errors.NotFoundError:
        letters = []
        if not args.json:
            console.print("no dead letters (no worker has run)")
            return EXIT_OK
    if args.json:
        sys.stdout.write(json.dumps(letters, ensure_ascii=False) + "\n")
        return EXIT_OK
    for letter in letters:
        # Payload and subject are untrusted: no markup, control characters escaped.
        console.print(
            printable(
                f"#{letter['seq']} {letter['subject']} ({letter['worker']}): {letter['reason']}"
            ),
            markup=False,
            soft_wrap=True,
        )
        console.print(f"    {letter['payload']!r}", markup=False, soft_wrap=True)
    console.print(f"{len(letters)} dead letter(s)")
    return EXIT_OK


def cluster_config(args: argparse.Namespace, console: Console) -> int:
    """Write n0.conf … n2.conf for a loopback cluster (ports base, base+10, base+20 …)."""
    from hazmon.acquisition.central.partitions import NodeAddress, server_config

    base = args.base_port
    nodes = [NodeAddress(f"n{i}", base + i, base + 10 + i, base + 20 + i) for i in range(3)]
    try:
        args.directory.mkdir(parents=True, exist_ok=True)
        for node in nodes:
            (args.directory / f"{node.name}.conf").write_text(
                server_config(node, nodes, args.directory / node.name, args.partitions),
                encoding="utf-8",
            )
    except OSError as error:
        _fail(f"central cluster-config {args.directory}", str(error), "give a writable folder")
        return EXIT_USAGE
    for node in nodes:
        console.print(
            f"nats-server -c {args.directory / node.name}.conf   # client {node.client}, "
            f"MQTT {node.mqtt}",
            markup=False,
        )
    return EXIT_OK
