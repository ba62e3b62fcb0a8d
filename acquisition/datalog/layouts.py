"""Long (``time,device,quantity,value,unit``) and wide (a column per quantity) layouts
to readings and channels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.acquisition.datalog.headers import _resolve_unit, quantity_of, split_header
from hazmon.acquisition.datalog.roles import _Roles
from hazmon.acquisition.datalog.summary import NOT_STATED, ColumnRead, Ignored, ReadSummary
from hazmon.acquisition.datalog.values import _convert, _values
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.analysis.units import ReferenceState
from hazmon.config.catalogue import load_catalogue
from hazmon.config.datalog import DatalogNames, DatalogProfile

#: Preference among columns of one quantity: the closest to the true exposure wins.
KIND_RANK = {"average": 0, "instantaneous": 1, NOT_STATED: 2, "peak": 3, "minimum": 4}


@dataclass(slots=True)
class _Context:
    source: str
    names: DatalogNames
    profile: DatalogProfile | None
    reference: ReferenceState
    site: str
    device: str
    summary: ReadSummary
    decimal_comma: bool | None
    metadata_kind: str | None

    def kind(self, quantity: str, header_kind: str | None, header: str) -> tuple[str, str]:
        """What one value of a column is, and what said so."""
        if header_kind is not None:
            return header_kind, "header"
        profile = self.profile
        if profile is not None:
            spec = profile.column(header)
            if spec is not None and spec.value_kind is not None:
                return spec.value_kind, "profile"
            if quantity in profile.quantity_value_kinds:
                return profile.quantity_value_kinds[quantity], "profile"
        if self.metadata_kind is not None:
            return self.metadata_kind, "metadata"
        if profile is not None and profile.value_kind is not None:
            return profile.value_kind, "profile"
        return NOT_STATED, "nowhere"


def _read_long(
    frame: pd.DataFrame,
    lines: NDArray[np.int64],
    ts: NDArray[np.int64],
    roles: _Roles,
    header: list[str],
    channels: ChannelTable,
    kinds: dict[tuple[str, str, str, str, str], str],
    context: _Context,
) -> Readings:
    assert roles.quantity is not None
    assert roles.value is not None
    assert roles.unit is not None
    value, quality, blank = _values(frame[roles.value], context.decimal_comma)
    context.summary.blank_values += int(blank.sum())
    if roles.quality is not None:
        flags = pd.to_numeric(frame[roles.quality], errors="coerce").to_numpy(
            np.float64, na_value=0.0
        )
        quality = quality | flags.astype(np.uint16)
    channel = np.empty(len(frame), np.int32)
    device = (
        frame[roles.device].str.strip()
        if roles.device is not None
        else pd.Series([context.device] * len(frame), index=frame.index, dtype="string")
    )
    groups = pd.DataFrame(
        {"d": device, "q": frame[roles.quantity].str.strip(), "u": frame[roles.unit].str.strip()}
    ).groupby(["d", "q", "u"], sort=False)
    # A loop over distinct (device, quantity, unit) groups, not rows.
    for group_key, rows in groups.indices.items():
        device_id, name, unit_text = (str(part) for part in cast(tuple[str, str, str], group_key))
        line = int(lines[int(rows[0])])
        quantity = quantity_of(name, context.names)
        if quantity is None:
            valid = ", ".join(sorted(load_catalogue().quantities))
            raise DatalogError(
                context.source,
                [
                    f"line {line}, column {header[roles.quantity]!r}: unknown quantity {name!r}; "
                    f"valid: {valid} (or a name in datalog_names.toml)"
                ],
            )
        canonical = load_catalogue().spec(quantity).unit
        unit = _resolve_unit(unit_text, quantity, context.names)
        kind, kind_from = context.kind(quantity, None, name)
        number = channels.add(Channel(context.site, device_id, quantity, canonical))
        kinds[channels.channels[number].key] = kind
        channel[rows] = number
        value[rows] = _convert(
            value[rows], quantity, unit, context.reference, f"line {line}", context.source
        )
        context.summary.columns.append(
            ColumnRead(name, device_id, quantity, unit or canonical, canonical, kind, kind_from)
        )
    return Readings.from_columns(ts, channel, value, quality)


def _read_wide(
    frame: pd.DataFrame,
    ts: NDArray[np.int64],
    roles: _Roles,
    header: list[str],
    units_row: list[str] | None,
    channels: ChannelTable,
    kinds: dict[tuple[str, str, str, str, str], str],
    context: _Context,
    candidates: list[int],
) -> Readings:
    summary = context.summary
    catalogue = load_catalogue()
    taken: dict[str, tuple[int, str, str, str | None, str, str]] = {}
    for index in candidates:
        cell = header[index]
        if not cell:
            if (frame[index] != "").any():
                summary.ignored.append(Ignored(f"#{index + 1}", "no header text; not read"))
            continue
        spec = context.profile.column(cell) if context.profile is not None else None
        name, unit, header_kind = split_header(cell, context.names)
        quantity = (
            spec.quantity
            if spec is not None and spec.quantity
            else quantity_of(name, context.names)
        )
        if spec is not None and spec.unit:
            unit = spec.unit
        if quantity is None:
            valid = ", ".join(sorted(q for q in catalogue.quantities if "." not in q))
            summary.ignored.append(
                Ignored(
                    cell,
                    f"unknown quantity {name!r}; valid: {valid} (or add the name to "
                    "datalog_names.toml, or map it in a --datalog-profile)",
                )
            )
            continue
        if not unit and units_row is not None and index < len(units_row):
            unit = units_row[index] or None
        if not unit:
            summary.ignored.append(
                Ignored(
                    cell,
                    f"no unit; write it in the header ('{name.upper()} [ppm]') or "
                    "give it in a --datalog-profile",
                )
            )
            continue
        unit = _resolve_unit(unit, quantity, context.names)
        kind, kind_from = context.kind(quantity, header_kind, cell)
        previous = taken.get(quantity)
        if previous is not None and KIND_RANK[previous[4]] <= KIND_RANK[kind]:
            summary.ignored.append(
                Ignored(
                    cell,
                    f"{quantity} is read from {header[previous[0]]!r} ({previous[4]}); "
                    "one column per quantity",
                )
            )
            continue
        if previous is not None:
            summary.ignored.append(
                Ignored(
                    header[previous[0]],
                    f"{quantity} is read from {cell!r} ({kind}); one column per quantity",
                )
            )
        taken[quantity] = (index, quantity, unit, header_kind, kind, kind_from)
    if not taken:
        problems = [f"column {item.column!r}: {item.reason}" for item in summary.ignored]
        raise DatalogError(
            context.source,
            [
                "no quantity columns; name them like 'CO [ppm]', 'CO (ppm)' or '一氧化碳(ppm)', or "
                "use the long layout time,device,quantity,value,unit",
                *problems,
            ],
        )
    if roles.device is not None:
        device = frame[roles.device].str.strip()
        device = device.where(device != "", context.device)
    else:
        device = pd.Series([context.device] * len(frame), index=frame.index, dtype="string")
    codes, uniques = pd.factorize(device)
    parts: list[Readings] = []
    for index, quantity, unit, _header_kind, kind, kind_from in sorted(taken.values()):
        canonical = catalogue.spec(quantity).unit
        value, quality, blank = _values(frame[index], context.decimal_comma)
        summary.blank_values += int(blank.sum())
        value = _convert(
            value, quantity, unit, context.reference, f"column {header[index]!r}", context.source
        )
        channel = np.empty(len(frame), np.int32)
        # A loop over the devices of the file, not its rows.
        for code, device_id in enumerate(uniques):
            number = channels.add(Channel(context.site, str(device_id), quantity, canonical))
            kinds[channels.channels[number].key] = kind
            channel[codes == code] = number
            summary.columns.append(
                ColumnRead(
                    header[index], str(device_id), quantity, unit, canonical, kind, kind_from
                )
            )
        parts.append(Readings.from_columns(ts, channel, value, quality))
    return Readings.concat(parts)
