"""The hazard register: events and the hazard records they raise, with evidence links.

Written with SQLAlchemy Core so that the same code runs on the embedded SQLite
default and on a department's PostgreSQL. A hazard record starts in
``pending_review``: an expert confirms (general or major) or dismisses it; the
rectification workflow of the inspection notice follows (see DESIGN.md).

Evidence is stored by channel identity (site, device, quantity, substance) and time
window rather than by a row id of the time-series store, so the register can live in
another database than the readings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    select,
)
from sqlalchemy.engine import Engine

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel
from hazmon.config.standards import LimitRule

metadata = MetaData()

events_table = Table(
    "events",
    metadata,
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

hazards_table = Table(
    "hazards",
    metadata,
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
)

evidence_table = Table(
    "hazard_evidence",
    metadata,
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

PENDING_REVIEW = "pending_review"


@dataclass(frozen=True, slots=True)
class HazardContext:
    """Who and where a hazard is recorded for."""

    enterprise: str
    location: str
    source: str = "supervision_inspection"


def _format_value(value: float) -> str:
    return f"{value:.3g}"


class HazardRegister:
    """Events and hazard records in a database reached by SQLAlchemy URL.

    Parameters
    ----------
    url
        ``sqlite:///path.db`` (the default store) or ``postgresql+psycopg://...``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    def open(self) -> None:
        """Connect and create the tables when missing."""
        if self._engine is None:
            self._engine = create_engine(self.url)
            metadata.create_all(self._engine)

    def close(self) -> None:
        """Release the connections (idempotent)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError(f"hazard register {self.url} is not open; call open() first")
        return self._engine

    def record_event(
        self,
        event: Event,
        channel: Channel,
        rule: LimitRule,
        context: HazardContext,
        *,
        create_hazard: bool,
        evidence_margin_ns: int = 0,
    ) -> tuple[int, int | None]:
        """Store an event and, when asked, the hazard record it raises.

        Parameters
        ----------
        evidence_margin_ns : [ns]
            Added before the start and after the end of the event to form the
            evidence window, so the record shows the readings leading up to it.

        Returns
        -------
        (event_id, hazard_id or None)
        """
        broken = [
            point.value
            for point in rule.set_points
            if point.level <= event.max_level
            and (1 if point.direction == "above" else -1) == event.side
        ]
        limit_value = (max(broken) if event.side > 0 else min(broken)) if broken else None
        with self.engine.begin() as connection:
            event_id = connection.execute(
                events_table.insert().values(
                    site=channel.site,
                    device=channel.device,
                    quantity=channel.quantity,
                    substance=channel.substance,
                    unit=channel.unit,
                    rule_id=rule.id,
                    level=event.max_level,
                    side=event.side,
                    start_ts=event.start_ts,
                    end_ts=event.end_ts,
                    peak=event.peak,
                    peak_ts=event.peak_ts,
                    duration_s=event.duration_s,
                    samples=event.samples,
                    limit_value=limit_value,
                )
            ).inserted_primary_key
            assert event_id is not None
            event_id = event_id[0]
            if not create_hazard:
                return int(event_id), None
            relation = "at or above" if event.side > 0 else "below"
            extreme = "peak" if event.side > 0 else "lowest"
            limit_text = (
                f"{relation} the set point {_format_value(limit_value)} {channel.unit}"
                if limit_value is not None
                else "past its set point"
            )
            finding = (
                f"{channel.quantity} on {channel.device} reached level A{event.max_level}: "
                f"{limit_text} for {event.duration_s:.1f} s, "
                f"{extreme} {_format_value(event.peak)} {channel.unit}"
            )
            hazard_id = connection.execute(
                hazards_table.insert().values(
                    created_at=dt.datetime.now(dt.UTC),
                    status=PENDING_REVIEW,
                    source=context.source,
                    enterprise=context.enterprise,
                    location=context.location,
                    finding=finding,
                    rule_id=rule.id,
                    standard=rule.standard,
                    clause=rule.clause,
                )
            ).inserted_primary_key
            assert hazard_id is not None
            hazard_id = hazard_id[0]
            connection.execute(
                evidence_table.insert().values(
                    hazard_id=hazard_id,
                    event_id=event_id,
                    site=channel.site,
                    device=channel.device,
                    quantity=channel.quantity,
                    substance=channel.substance,
                    start_ts=event.start_ts - evidence_margin_ns,
                    end_ts=event.end_ts + evidence_margin_ns,
                )
            )
        return int(event_id), int(hazard_id)

    def count(self, table: Table) -> int:
        """Rows in ``table`` (``events_table``, ``hazards_table``, ``evidence_table``)."""
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())

    def hazards(self) -> list[dict[str, object]]:
        """Every hazard record with its evidence rows, oldest first."""
        with self.engine.connect() as connection:
            records = [
                dict(row._mapping)
                for row in connection.execute(select(hazards_table).order_by(hazards_table.c.id))
            ]
            for record in records:
                record["evidence"] = [
                    dict(row._mapping)
                    for row in connection.execute(
                        select(evidence_table).where(evidence_table.c.hazard_id == record["id"])
                    )
                ]
        return records
