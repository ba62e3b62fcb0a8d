"""``hazmon dead-letters --db KIT.db``: the meter messages a kit could not read."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, Subcommands, fail, printable
from hazmon.store.timeseries.sqlite import SqliteTimeSeries


def register(commands: Subcommands) -> None:
    """Add the ``dead-letters`` parser."""
    parser = commands.add_parser(
        "dead-letters",
        help=SUMMARIES["dead-letters"],
        description=(
            "List the messages meters sent that could not be read (a malformed MQTT "
            "payload: not JSON, a missing field, a value that is not a number), as "
            "`hazmon run` kept them in its SQLite store with the topic, the time and the "
            "reason. Each was acknowledged and counted; nothing else was lost. Central "
            "workers keep theirs in the cluster: `hazmon central dead-letters`."
        ),
    )
    parser.add_argument("--db", type=Path, required=True, metavar="PATH", help="the kit's store")
    parser.add_argument("--limit", type=int, default=50, help="newest N (default 50)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list (keys: id site device source received reason payload)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Print the newest dead letters; return the exit status."""
    if not args.db.is_file():
        return fail(f"--db {args.db}", "no such file", "give the file hazmon run wrote")
    try:
        # Opened as the service opens it (a file of an older release is upgraded).
        with SqliteTimeSeries(args.db) as store:
            letters = store.dead_letters(max(1, args.limit))
    except (sqlite3.Error, RuntimeError) as error:
        return fail(f"--db {args.db}", str(error), "give the SQLite file hazmon run wrote")
    if args.json:
        rows = [
            {
                "id": letter.id,
                "site": letter.site,
                "device": letter.device,
                "source": letter.source,
                "received": _iso(letter.received_ns),
                "reason": letter.reason,
                "payload": letter.payload.decode("utf-8", "replace"),
            }
            for letter in letters
        ]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return EXIT_OK
    for letter in letters:
        # Everything here came from a meter or a broker: no markup, controls escaped.
        console.print(
            printable(
                f"#{letter.id} {_iso(letter.received_ns)} {letter.device} {letter.source}: "
                f"{letter.reason}"
            ),
            markup=False,
            soft_wrap=True,
        )
        console.print(f"    {letter.payload[:300]!r}", markup=False, soft_wrap=True)
    console.print(f"{len(letters)} dead letter(s)", highlight=False)
    return EXIT_OK


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="milliseconds")
