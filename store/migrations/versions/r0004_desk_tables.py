"""The department's desk: accounts, comments, attachments, acknowledgements, places, and
the hazard list's indexes.

Before this revision the desk made these with ``create_all`` when it started, so a
register may have all, some or none of them: each is created only when missing, and a
register the desk never served gets them all. The tables are frozen here on purpose:
later changes are later revisions, never edits of this one.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_metadata = MetaData()

# The register's own tables, referred to by the foreign keys below (not created here).
Table("hazards", _metadata, Column("id", Integer, primary_key=True))
Table("events", _metadata, Column("id", Integer, primary_key=True))
Table("inspections", _metadata, Column("id", Integer, primary_key=True))

TABLES = (
    Table(
        "users",
        _metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("username", String(100), nullable=False, unique=True),
        Column("display_name", String(200), nullable=False),
        Column("role", String(16), nullable=False),
        Column("enterprise", String(200), nullable=True, comment="set for the enterprise role"),
        Column("password_hash", String(200), nullable=False),
        Column("locale", String(16), nullable=False, default="zh_CN"),
        Column("disabled", Boolean, nullable=False, default=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
    ),
    Table(
        "hazard_comments",
        _metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("author", String(200), nullable=False),
        Column("text", Text, nullable=False),
    ),
    Table(
        "hazard_attachments",
        _metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("author", String(200), nullable=False),
        Column("filename", String(300), nullable=False),
        Column("content_type", String(100), nullable=False),
        Column("size", BigInteger, nullable=False, comment="[bytes]"),
        Column("sha256", String(64), nullable=False),
        Column(
            "purpose", String(32), nullable=False, comment="photo | plan | rectification | other"
        ),
        Column("content", LargeBinary, nullable=False),
    ),
    Table(
        "alert_acknowledgements",
        _metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("by", String(200), nullable=False),
        Column("reason", Text, nullable=False),
    ),
    Table(
        "inspection_places",
        _metadata,
        Column("inspection_id", Integer, ForeignKey("inspections.id"), primary_key=True),
        Column("location", String(300), nullable=False),
    ),
)

#: The hazard list's filters and statistics (name → columns of ``hazards``).
INDEXES: dict[str, list[str]] = {
    "ix_hazards_enterprise_status": ["enterprise", "status"],
    "ix_hazards_status_deadline": ["status", "deadline"],
    "ix_hazards_created_at": ["created_at"],
    "ix_hazards_inspection_id": ["inspection_id"],
}


def upgrade() -> None:
    bind = op.get_bind()
    inspector = inspect(bind)
    existing = set(inspector.get_table_names())
    for table in TABLES:
        if table.name not in existing:
            table.create(bind)
    indexed = {index["name"] for index in inspector.get_indexes("hazards")}
    for name, columns in INDEXES.items():
        if name not in indexed:
            op.create_index(name, "hazards", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="hazards")
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
