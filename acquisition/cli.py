"""The ``hazmon`` command line: parses arguments and hands over to a command module."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from rich.console import Console

from hazmon import __version__
from hazmon.acquisition.commands import (
    alerts,
    analyze,
    check,
    demo,
    hazards,
    ingest,
    read,
    report,
    run,
    scan,
    serve,
    simulate,
    users,
)
from hazmon.acquisition.commands.common import EXIT_USAGE
from hazmon.config.errors import ConfigError
from hazmon.simulators.errors import SimulatorError

#: The subcommands, in the order ``--help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    demo,
    simulate,
    read,
    scan,
    check,
    run,
    ingest,
    alerts,
    analyze,
    hazards,
    report,
    serve,
    users,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hazmon",
        description=(
            "Instrument data for safety inspections: poll meters, flag every reading against "
            "the national standard limits, store it, and turn what breaks a limit into a "
            "hazard record."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hazmon {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hazmon`` command; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Piped to a file or another program (and no COLUMNS), Rich would assume 80 columns
    # and cut the addresses and findings people copy from the output.
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(width=200) if piped else Console()
    try:
        status: int = args.handler(args, console)
    except (ConfigError, SimulatorError) as error:
        print(f"hazmon: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
