"""Inspections as the desk edits them: place, instruments, the hazards linked to them.

The register (:mod:`hazmon.store.hazards`) keeps an inspection's date, enterprise,
leader, experts and instruments; the place of the inspection lives in a table of its
own here so the register's schema stays as it is. Every edit is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, String, Table, func, select

from hazmon.store.hazards import (
    HazardNotFound,
    HazardRegister,
    Inspection,
    hazards_table,
    inspections_table,
    instruments_table,
)
from hazmon.store.hazards import metadata as register_metadata

inspection_places_table = Table(
    "inspection_places",
    register_metadata,
    Column("inspection_id", Integer, ForeignKey("inspections.id"), primary_key=True),
    Column("location", String(300), nullable=False),
)


class Inspections:
    """Create, edit and list inspections over an open :class:`HazardRegister`."""

    def __init__(self, register: HazardRegister) -> None:
        self.register = register

    def create(self, inspection: Inspection, location: str, *, actor: str) -> int:
        """Record an inspection and its place; return its id."""
        inspection_id = self.register.add_inspection(inspection, actor=actor)
        with self.register.engine.begin() as connection:
            connection.execute(
                inspection_places_table.insert().values(
                    inspection_id=inspection_id, location=location.strip()
                )
            )
        return inspection_id

    def edit(
        self, inspection_id: int, inspection: Inspection, location: str, *, actor: str
    ) -> None:
        """Replace an inspection's fields and instruments (audited with the new values)."""
        self.register.inspection(inspection_id)  # raises HazardNotFound
        with self.register.engine.begin() as connection:
            connection.execute(
                inspections_table.update()
                .where(inspections_table.c.id == inspection_id)
                .values(
                    date=inspection.date,
                    enterprise=inspection.enterprise,
                    leader=inspection.leader,
                    experts=json.dumps(list(inspection.experts), ensure_ascii=False),
                    source=inspection.source,
                )
            )
            connection.execute(
                instruments_table.delete().where(instruments_table.c.inspection_id == inspection_id)
            )
            for instrument in inspection.instruments:
                connection.execute(
                    instruments_table.insert().values(
                        inspection_id=inspection_id, **asdict(instrument)
                    )
                )
            connection.execute(
                inspection_places_table.delete().where(
                    inspection_places_table.c.inspection_id == inspection_id
                )
            )
            connection.execute(
                inspection_places_table.insert().values(
                    inspection_id=inspection_id, location=location.strip()
                )
            )
            self.register._append_audit(
                connection,
                None,
                actor,
                "inspection_edited",
                {"inspection_id": inspection_id, "location": location, **asdict(inspection)},
            )

    def location(self, inspection_id: int) -> str:
        """The place of an inspection ("" when none was given)."""
        with self.register.engine.connect() as connection:
            value = connection.execute(
                select(inspection_places_table.c.location).where(
                    inspection_places_table.c.inspection_id == inspection_id
                )
            ).scalar()
        return value or ""

    def listing(
        self,
        *,
        enterprise: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        """Inspections, newest first, with their place and number of hazards."""
        hazards = (
            select(hazards_table.c.inspection_id, func.count().label("hazards"))
            .group_by(hazards_table.c.inspection_id)
            .subquery()
        )
        query = (
            select(
                inspections_table,
                inspection_places_table.c.location,
                func.coalesce(hazards.c.hazards, 0).label("hazards"),
            )
            .outerjoin(
                inspection_places_table,
                inspection_places_table.c.inspection_id == inspections_table.c.id,
            )
            .outerjoin(hazards, hazards.c.inspection_id == inspections_table.c.id)
            .order_by(inspections_table.c.date.desc(), inspections_table.c.id.desc())
        )
        if enterprise:
            query = query.where(inspections_table.c.enterprise == enterprise)
        if date_from is not None:
            query = query.where(inspections_table.c.date >= date_from)
        if date_to is not None:
            query = query.where(inspections_table.c.date <= date_to)
        with self.register.engine.connect() as connection:
            rows = [dict(row._mapping) for row in connection.execute(query)]
        for row in rows:
            row["experts"] = json.loads(row["experts"])
            row["location"] = row["location"] or ""
        return rows

    def get(self, inspection_id: int) -> tuple[Inspection, str]:
        """An inspection and its place."""
        return self.register.inspection(inspection_id), self.location(inspection_id)

    def link(self, inspection_id: int, hazard_ids: list[int], *, actor: str) -> None:
        """Group hazards under an inspection (each change audited on its hazard)."""
        if not hazard_ids:
            raise HazardNotFound("give the hazards to link")
        for hazard_id in hazard_ids:
            self.register.assign_inspection(hazard_id, inspection_id, actor=actor)
