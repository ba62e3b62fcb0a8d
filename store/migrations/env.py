"""Alembic environment: migrate over the connection the register hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes["connection"]
assert isinstance(connection, Connection)
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
