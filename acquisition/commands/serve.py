"""``hazmon serve``: the department's desk, a web app over the register and the store."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, Subcommands, fail

DB_VARIABLE = "HAZMON_DB"


def register(commands: Subcommands) -> None:
    """Add the ``serve`` parser."""
    parser = commands.add_parser(
        "serve",
        help=SUMMARIES["serve"],
        description=(
            "Serve the department's desk over the hazard register and the readings store "
            "(the SQLite file of `hazmon demo` / `hazmon run`, or a PostgreSQL register with "
            "--url). Bound to 127.0.0.1 unless --host says otherwise. Create accounts first "
            "with `hazmon users add`."
        ),
    )
    parser.add_argument(
        "--db", type=Path, metavar="PATH", help=f"SQLite database (or ${DB_VARIABLE})"
    )
    parser.add_argument("--url", metavar="URL", help="register SQLAlchemy URL (PostgreSQL)")
    parser.add_argument(
        "--readings", type=Path, metavar="PATH", help="readings SQLite file (default: --db)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--time-zone", default="Asia/Shanghai", help="the site's time zone (default Asia/Shanghai)"
    )
    parser.add_argument(
        "--secure-cookies", action="store_true", help="mark cookies Secure (behind TLS)"
    )
    parser.add_argument(
        "--secret-file",
        type=Path,
        metavar="PATH",
        help="file with the key that signs sessions (default: a new key each start)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, console: Console) -> int:
    """Serve until Ctrl-C; return the exit status."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    import uvicorn

    from hazmon.web.app import DeskSettings, create_app

    path = args.db or (Path(os.environ[DB_VARIABLE]) if os.environ.get(DB_VARIABLE) else None)
    if args.url is None and path is None:
        return fail(
            "serve", "no database given", f"give --db PATH, --url URL, or set {DB_VARIABLE}"
        )
    if args.url is None and path is not None and not path.exists():
        return fail(f"--db {path}", "no database there", f"run hazmon demo --db {path} first")
    try:
        ZoneInfo(args.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return fail(f"--time-zone {args.time_zone}", "not a known zone", "give e.g. Asia/Shanghai")
    secret = None
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            return fail(
                f"--secret-file {args.secret_file}",
                str(error.strerror),
                "give a readable file holding the secret",
            )
    settings = DeskSettings(
        register_url=args.url or f"sqlite:///{path}",
        readings=args.readings or path,
        time_zone=args.time_zone,
        secure_cookies=args.secure_cookies,
        secret=secret,
    )
    app = create_app(settings)
    console.print(f"hazmon desk on http://{args.host}:{args.port}/ (Ctrl-C stops)", markup=False)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", proxy_headers=True)
    return EXIT_OK
