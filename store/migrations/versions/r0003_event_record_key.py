"""Events carry an idempotency key: a register copy replayed from the spool is stored once.

The acquisition service writes closed events to a local durable spool first and copies
them to the register in the background (:mod:`hazmon.acquisition.register_writer`). A
copy interrupted after the register committed, before the spool forgot the item, is
sent again; the key, unique, makes the second copy a no-op. Rows made before this
revision have no key (NULL, which a unique index allows many times).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("record_key", sa.String(32), nullable=True))
    op.create_index("ix_events_record_key", "events", ["record_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_events_record_key", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("record_key")
