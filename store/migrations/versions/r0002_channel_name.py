"""A channel is named: events and evidence carry the profile's channel name.

Two channels of one quantity on one meter (a dual-cell CO meter's ``co_inlet`` and
``co_outlet``) were one channel to release 0.1.0. Rows made before this revision get
the empty name, which stands for the quantity itself.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("events", "hazard_evidence")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("name", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("name")
