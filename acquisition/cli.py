"""The ``hazmon`` command line: parses arguments and hands over to a command module.

Startup is kept light on purpose: this module imports only the standard library and
the command table :data:`hazmon.acquisition.commands.SUMMARIES`. ``hazmon --help`` and
``hazmon --version`` are answered from that table; any other call imports the one
command module it runs (and with it numpy, SQLAlchemy, pymodbus … as that command
needs), never the others.

Ctrl-C at any moment ends with ``hazmon: interrupted`` on stderr and exit status 130:
:func:`main` turns a ``KeyboardInterrupt`` raised while importing, parsing or running
into that message, and :func:`entry` (the console script) also covers the interpreter's
shutdown after :func:`main` has returned.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import typing
from collections.abc import Sequence
from types import FrameType

from hazmon import __version__
from hazmon.acquisition.commands import SUMMARIES

#: Exit status of a run ended by Ctrl-C (SIGINT): 128 + 2, as a shell reports it.
EXIT_INTERRUPTED = 130
INTERRUPTED_MESSAGE = "hazmon: interrupted"

DESCRIPTION = (
    "Instrument data for safety inspections: poll meters, flag every reading against "
    "the national standard limits, store it, and turn what breaks a limit into a "
    "hazard record."
)


#: Exit status of bad arguments (as ``commands.common.EXIT_USAGE``; not imported from
#: there, which would slow ``hazmon --help``).
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments, said in hazmon's one voice instead of argparse's ``error:``."""

    def __init__(self, prog: str, message: str) -> None:
        command = prog.removeprefix("hazmon").strip()
        what, why = command or "command line", message
        # "argument --timeout: '1e308': …" names the option: make it part of what failed.
        if message.startswith("argument "):
            option, _, why = message.removeprefix("argument ").partition(": ")
            what = f"{command} {option}".strip()
        help_call = f"hazmon {command} --help" if command else "hazmon --help"
        super().__init__(f"hazmon: {what}: {why} — see {help_call}")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors raise :class:`UsageError` rather than exit."""

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(self.prog, message)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported to register it.

    Parameters
    ----------
    command
        The subcommand whose full arguments are registered (its module is imported);
        every other subcommand gets a placeholder that carries only its one-line help.
        ``None`` registers none in full: enough for ``--help`` and ``--version``.
    """
    parser = _Parser(prog="hazmon", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"hazmon {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in SUMMARIES.items():
        if name == command:
            # A command of two words ("dead-letters") lives in a module of one.
            module = importlib.import_module(
                f"hazmon.acquisition.commands.{name.replace('-', '_')}"
            )
            module.register(commands)
        else:
            # No -h of its own: in the first pass "hazmon NAME --help" must reach the
            # real parser of NAME, not print an empty placeholder.
            commands.add_parser(name, help=summary, add_help=False)
    return parser


def _chosen_command(argv: list[str]) -> str | None:
    """The subcommand ``argv`` names, from a parse that imports no command module."""
    known, _ = build_parser().parse_known_args(argv)
    command: str | None = known.command
    return command


class _Startup:
    """SIGINT while the command's modules are imported: raise, and remember it.

    Extension modules may turn the ``KeyboardInterrupt`` raised inside their import into
    an ``ImportError`` (numpy does), which would otherwise end in a traceback. The
    default handler comes back before the command runs, so that ``asyncio.run`` and the
    commands' own SIGINT handling work as they always do.
    """

    def __init__(self) -> None:
        self.interrupted = False
        # (The annotation is never evaluated: importing typing would cost startup time.)
        self.previous: signal._HANDLER = None

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        self.interrupted = True
        raise KeyboardInterrupt

    def __enter__(self) -> _Startup:
        # signal.signal works only in the main thread; elsewhere (main() called from a
        # thread) an interrupt cannot reach this code anyway.
        with contextlib.suppress(ValueError):
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None


def _caused_by_interrupt(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _run(argv: list[str], startup: _Startup) -> int:
    if not argv:
        # A bare `hazmon` is a request for orientation, not a mistake: help, exit 0.
        build_parser().print_help()
        return 0
    with startup:
        try:
            args = build_parser(_chosen_command(argv)).parse_args(argv)
        except UsageError as error:
            print(error, file=sys.stderr)
            return EXIT_USAGE

        import logging

        from rich.console import Console

        from hazmon.acquisition.commands.common import EXIT_PARTIAL, explain

        logging.basicConfig(
            level=logging.DEBUG if args.verbose else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        # Piped to a file or another program (and no COLUMNS), Rich would assume 80
        # columns and cut the addresses and findings people copy from the output.
        piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
        console = Console(width=200) if piped else Console()
    if startup.interrupted:
        # The handler ran but its KeyboardInterrupt was swallowed: raised inside a
        # destructor or a garbage-collector callback, Python prints "Exception ignored"
        # and goes on (seen under load: the command then ran to its 600 s timeout).
        raise KeyboardInterrupt
    try:
        status: int = args.handler(args, console)
    except Exception as error:
        if startup.interrupted or _caused_by_interrupt(error):
            raise
        known = explain(error, args)
        if known is not None:
            print(known.message, file=sys.stderr)
            return known.status
        # A bug, not bad input: still one screen, the traceback only when asked for.
        logging.getLogger("hazmon").debug("unexpected error", exc_info=error)
        print(
            f"hazmon: {args.command}: unexpected {type(error).__name__}: {error} — "
            "run again with -v for the details and report them",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hazmon`` command; return the exit status.

    A ``KeyboardInterrupt`` anywhere (importing a command's modules, parsing, running),
    or an error it turned into, prints one line on stderr and returns 130.
    """
    startup = _Startup()
    try:
        return _run(sys.argv[1:] if argv is None else list(argv), startup)
    except Exception as error:
        if not (startup.interrupted or _caused_by_interrupt(error)):
            raise
    except KeyboardInterrupt:
        pass
    print(INTERRUPTED_MESSAGE, file=sys.stderr)
    return EXIT_INTERRUPTED


def _interrupted_while_exiting(signal_number: int, frame: FrameType | None) -> None:
    # Python is finalising (joining threads, closing files): there is no frame left to
    # raise KeyboardInterrupt into without a traceback, so leave at once.
    os.write(2, f"{INTERRUPTED_MESSAGE}\n".encode())
    os._exit(EXIT_INTERRUPTED)


def entry() -> int:
    """The ``hazmon`` console script: :func:`main`, then a quiet interpreter shutdown."""
    status = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    signal.signal(signal.SIGINT, _interrupted_while_exiting)
    return status


if __name__ == "__main__":
    sys.exit(entry())
