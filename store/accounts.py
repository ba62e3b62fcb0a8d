"""Local accounts of the desk: who may sign in, with which role, for which enterprise.

The table shares the hazard register's SQLAlchemy ``metadata``, so it lives in the same
database as the hazards whose audit history names these users. Passwords are hashed with
argon2id (argon2-cffi); the hash carries its own salt and parameters, so a stronger
setting later re-hashes on the next sign-in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, select
from sqlalchemy.engine import Engine

from hazmon.store.hazards import HazardError, metadata

Role = Literal["expert", "officer", "enterprise", "admin"]
ROLES: tuple[str, ...] = get_args(Role)

users_table = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("enterprise", String(200), nullable=True, comment="set for the enterprise role"),
    Column("password_hash", String(200), nullable=False),
    Column("locale", String(16), nullable=False, default="zh_CN"),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a wrong name costs as long as a
#: wrong password and the answer time does not tell which names exist.
_DUMMY_HASH = _hasher.hash("hazmon: no such user")
MIN_PASSWORD_LENGTH = 8


class AccountError(HazardError):
    """An account operation that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    """A signed-in person; ``enterprise`` is set for (and only for) the enterprise role."""

    id: int
    username: str
    display_name: str
    role: str
    enterprise: str | None
    locale: str
    disabled: bool

    @property
    def actor(self) -> str:
        """How the audit history names this user: ``display name (username)``."""
        return f"{self.display_name} ({self.username})"


def _user(row: object) -> User:
    mapping = row._mapping  # type: ignore[attr-defined]
    return User(
        id=mapping["id"],
        username=mapping["username"],
        display_name=mapping["display_name"],
        role=mapping["role"],
        enterprise=mapping["enterprise"],
        locale=mapping["locale"],
        disabled=bool(mapping["disabled"]),
    )


class Accounts:
    """Users over the register's engine (``HazardRegister.engine``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(
                f"the password has {len(password)} characters; give at least {MIN_PASSWORD_LENGTH}"
            )

    def add(
        self,
        username: str,
        password: str,
        *,
        role: str,
        display_name: str | None = None,
        enterprise: str | None = None,
        locale: str = "zh_CN",
    ) -> User:
        """Create an account; an enterprise account must name its enterprise."""
        username = username.strip()
        if not username:
            raise AccountError("give a user name")
        if role not in ROLES:
            raise AccountError(f"role {role!r}: give one of {', '.join(ROLES)}")
        if role == "enterprise" and not (enterprise and enterprise.strip()):
            raise AccountError("an enterprise account needs --enterprise NAME")
        if role != "enterprise" and enterprise:
            raise AccountError(f"only an enterprise account has an enterprise, not a {role}")
        self._check_password(password)
        with self.engine.begin() as connection:
            exists = connection.execute(
                select(users_table.c.id).where(users_table.c.username == username)
            ).first()
            if exists is not None:
                raise AccountError(f"user {username!r} exists; use `hazmon users passwd`")
            connection.execute(
                users_table.insert().values(
                    username=username,
                    display_name=(display_name or username).strip(),
                    role=role,
                    enterprise=enterprise.strip() if enterprise else None,
                    password_hash=_hasher.hash(password),
                    locale=locale,
                    disabled=False,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        user = self.get(username)
        assert user is not None
        return user

    def get(self, username: str) -> User | None:
        """The account ``username``, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(users_table).where(users_table.c.username == username)
            ).first()
        return None if row is None else _user(row)

    def by_id(self, user_id: int) -> User | None:
        """The account with database id ``user_id``, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(select(users_table).where(users_table.c.id == user_id)).first()
        return None if row is None else _user(row)

    def all(self) -> list[User]:
        """Every account, by user name."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(users_table).order_by(users_table.c.username)).all()
        return [_user(row) for row in rows]

    def _set(self, username: str, **values: object) -> None:
        with self.engine.begin() as connection:
            changed = connection.execute(
                users_table.update().where(users_table.c.username == username).values(**values)
            ).rowcount
        if not changed:
            raise AccountError(f"no user {username!r}")

    def set_password(self, username: str, password: str) -> None:
        """Replace the password of ``username``."""
        self._check_password(password)
        self._set(username, password_hash=_hasher.hash(password))

    def set_disabled(self, username: str, disabled: bool = True) -> None:
        """Disable (or enable again) an account; a disabled one cannot sign in."""
        self._set(username, disabled=disabled)

    def set_locale(self, username: str, locale: str) -> None:
        """The language the desk shows this user."""
        self._set(username, locale=locale)

    def authenticate(self, username: str, password: str) -> User | None:
        """The enabled account whose password this is, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(users_table).where(users_table.c.username == username.strip())
            ).first()
        stored = row._mapping["password_hash"] if row is not None else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        user = _user(row)
        if user.disabled:
            return None
        if _hasher.check_needs_rehash(stored):
            self._set(user.username, password_hash=_hasher.hash(password))
        return user
