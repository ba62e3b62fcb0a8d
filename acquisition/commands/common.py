"""What several commands share: argument types, exit statuses, errors, waiting for Ctrl-C.

Every command reports a failure in one voice, on stderr::

    hazmon: <what failed>: <why> — <what to do>

with exit status :data:`EXIT_USAGE` (2) for bad input, :data:`EXIT_PARTIAL` (1) for an
action refused or done in part, :data:`EXIT_UNREACHABLE` (3) when nothing answers. A
handler raises :class:`CommandError` (or returns :func:`fail`); the CLI turns the
errors of libraries it knows (config, simulators, SQLAlchemy, the file system) into the
same voice through :func:`explain`, so no bad input ends in a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subcommands = argparse._SubParsersAction

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

#: What ends a failure message when no better advice is at hand.
SEE_HELP = "see hazmon COMMAND --help"

# C0 and C1 controls (ESC starts ANSI sequences, CR/LF forge lines) and DEL; tab kept.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` safe for a terminal: each control character as a visible ``\\xNN``.

    Stored text (hazard fields, device names, broker payloads) may carry ANSI escapes
    or newlines; printed raw they could recolour the screen or forge a line such as a
    fake ``TAMPERED:`` report.

    Examples
    --------
    A newline followed by ``TAMPERED: …`` prints on one line, as ``\\x0aTAMPERED: …``.
    """
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", str(text))


class CommandError(Exception):
    """A command cannot go on: what failed, why, what to do, and the exit status.

    Parameters
    ----------
    what
        The thing that failed, as the user named it (``--db /tmp/x``, ``read``).
    why
        The cause, in the user's terms.
    fix
        What to do about it.
    status
        Exit status: :data:`EXIT_USAGE`, :data:`EXIT_PARTIAL` or :data:`EXIT_UNREACHABLE`.
    """

    def __init__(self, what: str, why: str, fix: str = SEE_HELP, status: int = 2) -> None:
        self.what = what
        self.why = why
        self.fix = fix
        self.status = status
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The one-line message, ``hazmon: <what>: <why> — <fix>``, control chars escaped."""
        # A list of problems keeps a line each, indented under the first.
        why = "\n  ".join(printable(line.strip()) for line in self.why.splitlines() if line.strip())
        text = f"hazmon: {printable(self.what)}: {why}"
        return f"{text} — {printable(self.fix)}" if self.fix else text


def fail(what: str, why: str, fix: str = SEE_HELP, status: int = 2) -> int:
    """Print a :class:`CommandError`'s message on stderr and return its exit status."""
    error = CommandError(what, why, fix, status)
    print(error.message, file=sys.stderr)
    return error.status


def hide_password(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def explain(error: BaseException, args: argparse.Namespace | None = None) -> CommandError | None:
    """The :class:`CommandError` for an error a library raised, or ``None`` if unknown.

    Library modules are looked up in :data:`sys.modules`, never imported here: an error
    from a library can only come from a library already loaded.
    """
    if isinstance(error, CommandError):
        return error
    from hazmon.config.errors import ConfigError
    from hazmon.simulators.errors import SimulatorError

    if isinstance(error, ConfigError):
        # Config, datalog and analyze errors are worded "<what>: <why>; <what to do>"
        # (one problem) or "<what>:" and a line per problem.
        what, _, why = str(error).partition(":")
        if what == f"invalid config {error.source}" and len(error.problems) == 1:
            # Not "invalid config X: X: problem": the file once, then its one problem.
            why = error.problems[0]
        fix = ""
        if "\n" not in why.strip() and "; " in why:
            why, _, fix = why.rpartition("; ")
        return CommandError(what, why, fix)
    if isinstance(error, SimulatorError):
        return CommandError("simulator", str(error), "check the site's simulation settings")
    database = _database_error(error, args)
    if database is not None:
        return database
    if isinstance(error, OSError):
        name = error.filename if error.filename is not None else "file"
        why = error.strerror or str(error)
        if isinstance(error, ConnectionError | TimeoutError):
            return CommandError(str(name), why, "is it on and is the address right?", 3)
        return CommandError(str(name), why, "give a path hazmon can use")
    return None


def _database_error(error: BaseException, args: argparse.Namespace | None) -> CommandError | None:
    exc = sys.modules.get("sqlalchemy.exc")
    if exc is None or not isinstance(error, exc.SQLAlchemyError):
        return None
    url = getattr(args, "url", None)
    db = getattr(args, "db", None)
    what = f"--url {hide_password(url)}" if url else f"--db {db}" if db else "database"
    cause = str(getattr(error, "orig", None) or error).splitlines()[0]
    if isinstance(error, exc.NoSuchModuleError):
        return CommandError(
            what,
            "unknown database kind",
            "give sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
        )
    if isinstance(error, exc.ArgumentError):
        return CommandError(
            what, "not a database URL", "give sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    if isinstance(error, exc.OperationalError) and not (db and not url):
        return CommandError(what, cause, "is the database server running and reachable?", 3)
    if isinstance(error, exc.DatabaseError):
        return CommandError(
            what, f"not a hazmon database ({cause})", "give the database hazmon demo or run made"
        )
    return CommandError(what, cause, "check the database and run again")


#: Where the register commands (hazards, report) find the SQLite register by default.
DB_VARIABLE = "HAZMON_DB"


def register_url(args: argparse.Namespace) -> str | None:
    """The register's SQLAlchemy URL from ``--url``, ``--db`` or ``$HAZMON_DB``.

    ``None`` after printing why when none is given or the SQLite file does not exist:
    opening a missing path would create an empty register and answer "no hazards".
    """
    import os
    from pathlib import Path

    if args.url:
        return str(args.url)
    path = args.db or os.environ.get(DB_VARIABLE)
    if not path:
        fail(
            "register",
            "no database given",
            f"give --db PATH (the database hazmon demo prints), --url URL, or set {DB_VARIABLE}",
        )
        return None
    if not Path(path).exists():
        fail(
            f"--db {path}", "no register at that path", "give the database hazmon demo or run made"
        )
        return None
    if Path(path).is_dir():
        fail(f"--db {path}", "is a folder", "give the database file inside it")
        return None
    return f"sqlite:///{Path(path)}"


#: The longest duration any option takes [s]: one year. Longer ones (``1e308``) are
#: typos, and past about 1e9 s the event loop's clock arithmetic overflows.
MAX_SECONDS = 366 * 86400.0

#: The longest reply timeout [s]: a meter that has not answered in 10 min never will.
MAX_REPLY_SECONDS = 600.0


def positive_seconds(text: str, limit: float = MAX_SECONDS) -> float:
    """argparse type: a positive, finite number of seconds, at most ``limit`` [s]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= limit:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a positive number of seconds up to {limit:.0f}"
        )
    return value


def positive_integer(text: str) -> int:
    """argparse type: a record id, a whole number from 1 up."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number from 1 up")
    return value


def utc_offset_hours(text: str) -> float:
    """argparse type: a UTC offset [h], finite and within -14 … +14 (the world's range)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of hours") from None
    if not -14 <= value <= 14:
        raise argparse.ArgumentTypeError(f"{text!r}: give hours from -14 to 14, e.g. 8 for CST")
    return value


def reply_seconds(text: str) -> float:
    """argparse type: a reply timeout, positive and at most :data:`MAX_REPLY_SECONDS`."""
    return positive_seconds(text, MAX_REPLY_SECONDS)


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


def add_readings_options(parser: argparse.ArgumentParser) -> None:
    """``--readings PATH | --readings-url URL``: where a command finds evidence readings."""
    readings = parser.add_mutually_exclusive_group()
    readings.add_argument(
        "--readings",
        type=Path,
        metavar="PATH",
        help="SQLite time-series file holding the evidence (default: the --db file)",
    )
    readings.add_argument(
        "--readings-url",
        metavar="URL",
        help="VictoriaMetrics holding the evidence, e.g. http://127.0.0.1:8428",
    )
