"""Comments, attachments and alert acknowledgements kept beside the hazard register.

Each one enters the register's audit chain in the same transaction as its row: a
comment with its text, an attachment with the SHA-256 of its content, so a photo
replaced later no longer matches the hash its audit entry recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    select,
)

from hazmon.store.hazards import HazardNotFound, HazardRegister, events_table, hazards_table
from hazmon.store.hazards import metadata as register_metadata

comments_table = Table(
    "hazard_comments",
    register_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("author", String(200), nullable=False),
    Column("text", Text, nullable=False),
)

attachments_table = Table(
    "hazard_attachments",
    register_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hazard_id", Integer, ForeignKey("hazards.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("author", String(200), nullable=False),
    Column("filename", String(300), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False, comment="[bytes]"),
    Column("sha256", String(64), nullable=False),
    Column("purpose", String(32), nullable=False, comment="photo | plan | rectification | other"),
    Column("content", LargeBinary, nullable=False),
)

acknowledgements_table = Table(
    "alert_acknowledgements",
    register_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(200), nullable=False),
    Column("reason", Text, nullable=False),
)

PURPOSES = ("photo", "plan", "rectification", "other")
#: Largest attachment accepted [bytes].
MAX_ATTACHMENT = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment's description (its content is read with :meth:`Annotations.content`)."""

    id: int
    hazard_id: int
    at: dt.datetime
    author: str
    filename: str
    content_type: str
    size: int
    sha256: str
    purpose: str


class Annotations:
    """Comments, attachments and acknowledgements over an open :class:`HazardRegister`."""

    def __init__(self, register: HazardRegister) -> None:
        self.register = register

    def _exists(self, hazard_id: int) -> None:
        with self.register.engine.connect() as connection:
            found = connection.execute(
                select(hazards_table.c.id).where(hazards_table.c.id == hazard_id)
            ).first()
        if found is None:
            raise HazardNotFound("no hazard %(id)s", id=hazard_id)

    def add_comment(self, hazard_id: int, text: str, *, actor: str) -> int:
        """Add a comment to a hazard; return its id."""
        text = text.strip()
        if not text:
            raise HazardNotFound("give the comment's text")
        self._exists(hazard_id)
        with self.register.engine.begin() as connection:
            inserted = connection.execute(
                comments_table.insert().values(
                    hazard_id=hazard_id, at=dt.datetime.now(dt.UTC), author=actor, text=text
                )
            ).inserted_primary_key
            assert inserted is not None
            comment_id = int(inserted[0])
            self.register._append_audit(
                connection, hazard_id, actor, "comment", {"comment_id": comment_id, "text": text}
            )
        return comment_id

    def comments(self, hazard_id: int) -> list[dict[str, Any]]:
        """A hazard's comments, oldest first."""
        with self.register.engine.connect() as connection:
            rows = connection.execute(
                select(comments_table)
                .where(comments_table.c.hazard_id == hazard_id)
                .order_by(comments_table.c.id)
            ).all()
        return [dict(row._mapping) for row in rows]

    def add_attachment(
        self,
        hazard_id: int,
        filename: str,
        content: bytes,
        *,
        actor: str,
        content_type: str = "application/octet-stream",
        purpose: str = "other",
    ) -> Attachment:
        """Store a file with a hazard; its SHA-256 enters the audit chain."""
        if purpose not in PURPOSES:
            raise HazardNotFound(
                "purpose %(purpose)r: give one of %(purposes)s", purpose=purpose, purposes=PURPOSES
            )
        if not content:
            raise HazardNotFound("%(filename)s: the file is empty", filename=filename)
        if len(content) > MAX_ATTACHMENT:
            raise HazardNotFound(
                "%(filename)s: %(size)s bytes is more than %(limit)s bytes",
                filename=filename,
                size=len(content),
                limit=MAX_ATTACHMENT,
            )
        self._exists(hazard_id)
        digest = hashlib.sha256(content).hexdigest()
        name = filename.replace("\\", "/").rsplit("/", 1)[-1][:300] or "attachment"
        now = dt.datetime.now(dt.UTC)
        with self.register.engine.begin() as connection:
            inserted = connection.execute(
                attachments_table.insert().values(
                    hazard_id=hazard_id,
                    at=now,
                    author=actor,
                    filename=name,
                    content_type=content_type[:100],
                    size=len(content),
                    sha256=digest,
                    purpose=purpose,
                    content=content,
                )
            ).inserted_primary_key
            assert inserted is not None
            attachment_id = int(inserted[0])
            self.register._append_audit(
                connection,
                hazard_id,
                actor,
                "attachment",
                {
                    "attachment_id": attachment_id,
                    "filename": name,
                    "sha256": digest,
                    "size": len(content),
                    "purpose": purpose,
                },
            )
        return Attachment(
            attachment_id, hazard_id, now, actor, name, content_type, len(content), digest, purpose
        )

    def attachments(self, hazard_id: int) -> list[Attachment]:
        """A hazard's attachments, oldest first (without their content)."""
        columns = [c for c in attachments_table.c if c.name != "content"]
        with self.register.engine.connect() as connection:
            rows = connection.execute(
                select(*columns)
                .where(attachments_table.c.hazard_id == hazard_id)
                .order_by(attachments_table.c.id)
            ).all()
        return [Attachment(**row._mapping) for row in rows]

    def content(self, attachment_id: int) -> tuple[Attachment, bytes]:
        """An attachment and its bytes; raises when the stored bytes lost their hash."""
        with self.register.engine.connect() as connection:
            row = connection.execute(
                select(attachments_table).where(attachments_table.c.id == attachment_id)
            ).first()
        if row is None:
            raise HazardNotFound("no attachment %(id)s", id=attachment_id)
        mapping = dict(row._mapping)
        content = bytes(mapping.pop("content"))
        if hashlib.sha256(content).hexdigest() != mapping["sha256"]:
            raise HazardNotFound(
                "attachment %(id)s was changed after it was stored: its content no longer "
                "matches the hash in the audit history",
                id=attachment_id,
            )
        return Attachment(**mapping), content

    def acknowledge(self, event_id: int, reason: str, *, actor: str) -> None:
        """Acknowledge an alert (an event): who and why; audited."""
        reason = reason.strip()
        if not reason:
            raise HazardNotFound("give the reason for the acknowledgement")
        with self.register.engine.begin() as connection:
            found = connection.execute(
                select(events_table.c.id).where(events_table.c.id == event_id)
            ).first()
            if found is None:
                raise HazardNotFound("no alert (event) %(id)s", id=event_id)
            connection.execute(
                acknowledgements_table.insert().values(
                    event_id=event_id, at=dt.datetime.now(dt.UTC), by=actor, reason=reason
                )
            )
            self.register._append_audit(
                connection, None, actor, "acknowledged", {"event_id": event_id, "reason": reason}
            )

    def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest events with their acknowledgement (if any), newest first."""
        query = (
            select(
                events_table,
                acknowledgements_table.c.by.label("ack_by"),
                acknowledgements_table.c.reason.label("ack_reason"),
                acknowledgements_table.c.at.label("ack_at"),
            )
            .outerjoin(
                acknowledgements_table, acknowledgements_table.c.event_id == events_table.c.id
            )
            .order_by(events_table.c.start_ts.desc(), events_table.c.id.desc())
            .limit(limit)
        )
        with self.register.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]
