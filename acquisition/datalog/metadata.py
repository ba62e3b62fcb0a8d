"""The metadata block above the header: instrument, serial, period, set points."""

from __future__ import annotations

from typing import Any

from hazmon.acquisition.datalog.headers import _FULL_WIDTH, _normal, _take_kind
from hazmon.config.datalog import DatalogNames


def _metadata(rows: list[list[str]], names: DatalogNames) -> tuple[dict[str, Any], list[str]]:
    """Recognised fields and the raw lines of the block above the header."""
    keys = names.metadata
    fields: dict[str, Any] = {}
    lines: list[str] = []
    lookup = {
        alias.lower(): name for name in type(keys).model_fields for alias in getattr(keys, name)
    }
    for row in rows:
        cells = [cell for cell in row if cell]
        if not cells:
            continue
        lines.append(" | ".join(cells))
        if len(cells) == 1:
            key, _, value = cells[0].translate(_FULL_WIDTH).partition(":")
            if not value:
                key, _, value = cells[0].partition("=")
        else:
            key, value = cells[0], " ".join(cells[1:])
        key = _normal(key).rstrip(":= ")
        value = value.strip()
        name = lookup.get(key)
        if name is None or not value:
            continue
        if name == "set_points":
            fields.setdefault("set_points", []).append(f"{key} = {value}")
        else:
            fields.setdefault(name, value)
    return fields, lines


def _metadata_kind(fields: dict[str, Any], names: DatalogNames) -> str | None:
    text = fields.get("value_kind")
    if not isinstance(text, str):
        return None
    _rest, kind = _take_kind(text, names)
    return kind
