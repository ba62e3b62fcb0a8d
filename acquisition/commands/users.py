"""``hazmon users``: the desk's local accounts (add, passwd, disable, enable, list)."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from rich.console import Console

from hazmon.acquisition.commands import SUMMARIES
from hazmon.acquisition.commands.common import EXIT_OK, Subcommands, fail

DB_VARIABLE = "HAZMON_DB"
PASSWORD_VARIABLE = "HAZMON_PASSWORD"


def register(commands: Subcommands) -> None:
    """Add the ``users`` parser."""
    parser = commands.add_parser(
        "users",
        help=SUMMARIES["users"],
        description=(
            "Local accounts of `hazmon serve`. Roles: expert (records findings and "
            "inspections, verifies), officer (grades, deadlines, referrals, dismissals), "
            "enterprise (sees only its own enterprise's hazards; submits plan and "
            "rectification evidence), admin. The password is asked for, or read from "
            f"${PASSWORD_VARIABLE} when set (for scripts)."
        ),
    )
    parser.add_argument(
        "--db", type=Path, metavar="PATH", help=f"register SQLite file (or ${DB_VARIABLE})"
    )
    parser.add_argument("--url", metavar="URL", help="register SQLAlchemy URL (PostgreSQL)")
    actions = parser.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("expert", "officer", "enterprise", "admin"))
    add.add_argument("--name", help="display name, as the audit history shows it")
    add.add_argument("--enterprise", help="the enterprise (for the enterprise role)")
    add.add_argument("--locale", default="zh_CN", choices=("zh_CN", "en"))
    passwd = actions.add_parser("passwd", help="set a new password")
    passwd.add_argument("username")
    for name, text in (
        ("disable", "stop an account signing in"),
        ("enable", "let it sign in again"),
    ):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("username")
    actions.add_parser("list", help="list the accounts")
    parser.set_defaults(handler=run)


def _password() -> str:
    given = os.environ.get(PASSWORD_VARIABLE)
    if given is not None:
        return given
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the chosen account action; return the exit status."""
    from hazmon.store.accounts import AccountError, Accounts
    from hazmon.store.hazards import HazardRegister

    url = args.url or (
        f"sqlite:///{args.db or os.environ.get(DB_VARIABLE)}"
        if (args.db or os.environ.get(DB_VARIABLE))
        else None
    )
    if url is None:
        return fail(
            "users", "no database given", f"give --db PATH, --url URL, or set {DB_VARIABLE}"
        )
    try:
        with HazardRegister(url) as register:
            accounts = Accounts(register.engine)
            action = args.users_action
            if action == "add":
                user = accounts.add(
                    args.username,
                    _password(),
                    role=args.role,
                    display_name=args.name,
                    enterprise=args.enterprise,
                    locale=args.locale,
                )
                console.print(f"added {user.username} ({user.role})")
            elif action == "passwd":
                accounts.set_password(args.username, _password())
                console.print(f"password of {args.username} changed")
            elif action in ("disable", "enable"):
                accounts.set_disabled(args.username, action == "disable")
                console.print(f"{args.username} {action}d")
            else:
                for user in accounts.all():
                    state = "disabled" if user.disabled else "enabled"
                    console.print(
                        f"{user.username}\t{user.display_name}\t{user.role}\t"
                        f"{user.enterprise or ''}\t{state}",
                        markup=False,
                    )
    except (AccountError, ValueError) as error:
        return fail(f"users {args.users_action}", str(error), "see hazmon users --help")
    return EXIT_OK
