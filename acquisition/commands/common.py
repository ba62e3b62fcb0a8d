"""What several commands share: argument types, exit statuses, waiting for Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subcommands = argparse._SubParsersAction

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

#: Where the register commands (hazards, report) find the SQLite register by default.
DB_VARIABLE = "HAZMON_DB"


def register_url(args: argparse.Namespace) -> str | None:
    """The register's SQLAlchemy URL from ``--url``, ``--db`` or ``$HAZMON_DB``.

    ``None`` after printing why when none is given or the SQLite file does not exist:
    opening a missing path would create an empty register and answer "no hazards".
    """
    import os
    import sys
    from pathlib import Path

    if args.url:
        return str(args.url)
    path = args.db or os.environ.get(DB_VARIABLE)
    if not path:
        print(
            "hazmon: give --db PATH (the database hazmon demo prints), --url URL, "
            f"or set {DB_VARIABLE}",
            file=sys.stderr,
        )
        return None
    if not Path(path).exists():
        print(f"hazmon: no register at {path}", file=sys.stderr)
        return None
    return f"sqlite:///{Path(path)}"


def positive_seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


async def wait_for_stop(stop: asyncio.Event, duration: float | None) -> None:
    """Return after ``duration`` [s], on SIGINT or SIGTERM, or when ``stop`` is set.

    Sets ``stop`` on the way out so that every task watching it winds down.
    """
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal_number, stop.set)
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=duration)
    finally:
        stop.set()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal_number)
