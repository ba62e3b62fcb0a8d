"""The register's schema as release 0.1.0 made it (``create_all``, no Alembic).

A database made by that release has these tables and no ``alembic_version``; the
register stamps it with this revision and upgrades from here. The tables are frozen
here on purpose: later changes are later revisions, never edits of this one.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_metadata = MetaData()

events_table = Table(
    "events",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(200), nullable=False),
    Column("device", String(200), nullable=False),
    Column("quantity", String(64), nullable=False),
    Column("substance", String(64), nullable=False, default=""),
    Column("unit", String(32), nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("level", Integer, nullable=False),
    Column("side", Integer, nullable=False),
    Column("start_ts", BigInteger, nullable=False, comment="ns UTC"),
    Column("end_ts", BigInteger, nullable=False, comment="ns UTC"),
    Column("peak", Float, nullable=False, comment="canonical unit"),
    Column("peak_ts", BigInteger, nullable=False, comment="ns UTC"),
    Column("duration_s", Float, nullable=False),
    Column("samples", Integer, nullable=False),
    Column("limit_value", Float, nullable=True, comment="set point broken, canonical unit"),
)

inspections_table = Table(
    "inspections",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("date", Date, nullable=False),
    Column("enterprise", String(200), nullable=False),
    Column("leader", String(200), nullable=False, comment="the department's leader"),
    Column("experts", Text, nullable=False, comment="JSON list of expert names"),
    Column("source", String(32), nullable=False),
)

instruments_table = Table(
    "inspection_instruments",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("inspection_id", Integer, ForeignKey("inspections.id"), nullable=False),
    Column("device", String(200), nullable=False),
    Column("model", String(200), nullable=False),
    Column("serial", String(200), nullable=False),
    Column("calibration_due", Date, nullable=False),
)

hazards_table = Table(
    "hazards",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(32), nullable=False),
    Column("source", String(32), nullable=False),
    Column("enterprise", String(200), nullable=False),
    Column("location", String(200), nullable=False),
    Column("finding", Text, nullable=False),
    Column("rule_id", String(200), nullable=False),
    Column("standard", String(100), nullable=False),
    Column("clause", String(100), nullable=False),
    Column("grade", String(16), nullable=True, comment="general | major, set on review"),
    Column("deadline", DateTime(timezone=True), nullable=True),
    Column("responsible_unit", String(200), nullable=True),
    Column("responsible_person", String(200), nullable=True),
    Column("inspection_id", Integer, ForeignKey("inspections.id"), nullable=True),
    Column("penalty_basis", Boolean, nullable=False, default=False),
    Column("dismissed_reason", Text, nullable=True),
    Column("plan_measures", Text, nullable=True),
    Column("plan_funds", Text, nullable=True),
    Column("plan_contingency", Text, nullable=True),
    Column("rectification_note", Text, nullable=True),
    Column("closed_on_spot", Boolean, nullable=False, default=False),
    Column("verified_by", String(200), nullable=True),
    Column("verification_note", Text, nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("audit_head", String(64), nullable=True, comment="hash of the newest audit entry"),
)

evidence_table = Table(
    "hazard_evidence",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=True),
    Column("site", String(200), nullable=False),
    Column("device", String(200), nullable=False),
    Column("quantity", String(64), nullable=False),
    Column("substance", String(64), nullable=False, default=""),
    Column("start_ts", BigInteger, nullable=False, comment="ns UTC, window start"),
    Column("end_ts", BigInteger, nullable=False, comment="ns UTC, window end"),
)

referrals_table = Table(
    "hazard_referrals",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
    Column("kind", String(32), nullable=False, comment="case_filed | transferred"),
    Column("department", String(200), nullable=False),
    Column("reference", String(200), nullable=False, default=""),
    Column("note", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
)

audit_table = Table(
    "hazard_audit",
    _metadata,
    # Numbered by the register, not the database, so that a gap is a deleted entry.
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("hazard_id", Integer, nullable=True),
    Column("at", String(40), nullable=False, comment="ISO 8601 UTC, hashed as written"),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False, comment="canonical JSON"),
    Column("state_hash", String(64), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_head_table = Table(
    "hazard_audit_head",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)


def upgrade() -> None:
    _metadata.create_all(op.get_bind())


def downgrade() -> None:
    _metadata.drop_all(op.get_bind())
