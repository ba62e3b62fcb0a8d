"""How a datalog was read: the columns taken, those ignored, the times, the events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

NOT_STATED = "not stated"


@dataclass(frozen=True, slots=True)
class ColumnRead:
    """A column taken as readings."""

    column: str
    device: str
    quantity: str
    unit: str
    """The unit in the file (converted to ``canonical_unit`` on entry)."""
    canonical_unit: str
    value_kind: str
    """average, peak, minimum, instantaneous, or ``not stated``."""
    value_kind_from: str
    """header, profile, metadata, store, or ``nowhere``."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A column (or rows) not taken, with the reason."""

    column: str
    reason: str


@dataclass(slots=True)
class ReadSummary:
    """How a datalog was read: shown before the verdicts and under ``read`` in JSON."""

    file: str
    format: str
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    header_line: int = 0
    layout: str = ""
    profile: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    metadata_lines: list[str] = field(default_factory=list)
    columns: list[ColumnRead] = field(default_factory=list)
    rows: int = 0
    readings: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    time_zone: str = ""
    time_format: str = ""
    ignored: list[Ignored] = field(default_factory=list)
    event_rows: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    blank_values: int = 0

    def document(self) -> dict[str, Any]:
        """The ``read`` object of ``hazmon analyze --json`` (keys in DOCS)."""
        return {
            "file": self.file,
            "format": self.format,
            "encoding": self.encoding or None,
            "delimiter": self.delimiter or None,
            "sheet": self.sheet or None,
            "header_line": self.header_line or None,
            "layout": self.layout,
            "profile": self.profile or None,
            "metadata": self.metadata,
            "metadata_lines": self.metadata_lines,
            "columns": [
                {
                    "column": column.column,
                    "device": column.device,
                    "quantity": column.quantity,
                    "unit": column.unit,
                    "canonical_unit": column.canonical_unit,
                    "value_kind": column.value_kind,
                    "value_kind_from": column.value_kind_from,
                }
                for column in self.columns
            ],
            "rows": self.rows,
            "readings": self.readings,
            "first": None if self.first_ns is None else iso_utc(self.first_ns),
            "last": None if self.last_ns is None else iso_utc(self.last_ns),
            "time_zone": self.time_zone,
            "time_format": self.time_format,
            "ignored": [{"column": item.column, "reason": item.reason} for item in self.ignored],
            "events": {"rows": self.event_rows, "first": self.events},
            "blank_values": self.blank_values,
        }


def iso_utc(ts_ns: int) -> str:
    """``2026-03-02T01:00:00Z`` for a time [ns UTC]."""
    moment = dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")
