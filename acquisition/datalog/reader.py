"""Reading a datalog file: the steps from bytes to a :class:`Datalog`."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.acquisition.datalog.headers import _known_unit
from hazmon.acquisition.datalog.layouts import _Context, _read_long, _read_wide
from hazmon.acquisition.datalog.metadata import _metadata, _metadata_kind
from hazmon.acquisition.datalog.result import Datalog
from hazmon.acquisition.datalog.roles import _roles
from hazmon.acquisition.datalog.summary import Ignored, ReadSummary
from hazmon.acquisition.datalog.table import (
    HEAD_LINES,
    _choose_delimiter,
    _csv_frame,
    _find_header,
    _split_lines,
    _text_table,
)
from hazmon.acquisition.datalog.times import _parse_times, _refuse_far_times, _refuse_unset_clock
from hazmon.acquisition.datalog.workbook import _workbook
from hazmon.analysis.readings import ChannelTable
from hazmon.analysis.units import REFERENCE_20C, ReferenceState
from hazmon.config.datalog import DatalogProfile, load_datalog_names
from hazmon.config.errors import ConfigError


def read_datalog(
    path: str | Path,
    *,
    reference: ReferenceState = REFERENCE_20C,
    utc_offset_hours: float = 8.0,
    site: str = "",
    profile: DatalogProfile | None = None,
    profile_source: str = "",
    sheet: str | None = None,
    date_format: str | None = None,
) -> Datalog:
    """Read a datalog export (CSV/TSV text or ``.xlsx``), long or wide layout.

    Parameters
    ----------
    path
        The export.
    reference
        Reference state of mg/m³ → ppm conversions.
    utc_offset_hours
        Offset of times written without one [h] (China Standard Time, +8, by default).
    profile
        A ``hazmon.datalog/1`` profile: what the export holds, where automatic reading
        cannot tell.
    sheet
        The worksheet of a workbook (default: the first).
    date_format
        A ``strftime`` format of the time column; settles day/month order.

    Raises
    ------
    DatalogError
        Naming the file, the line or column, and what would be valid.
    """
    path = Path(path)
    source = str(path)
    try:
        return _read(
            path,
            source,
            reference,
            utc_offset_hours,
            site,
            profile,
            profile_source,
            sheet,
            date_format,
        )
    except ConfigError:
        raise
    except (ValueError, TypeError, OverflowError, KeyError, IndexError, OSError) as error:
        # A last net: a file shaped in a way no check above foresaw still gets a message
        # naming it, never a traceback.
        raise DatalogError(
            source, [f"unexpected content ({type(error).__name__}: {error})"]
        ) from error


def _read(
    path: Path,
    source: str,
    reference: ReferenceState,
    utc_offset_hours: float,
    site: str,
    profile: DatalogProfile | None,
    profile_source: str,
    sheet: str | None,
    date_format: str | None,
) -> Datalog:
    names = load_datalog_names()
    if path.is_dir():
        raise DatalogError(source, ["is a directory; give the exported file"])
    if not path.exists():
        raise DatalogError(source, ["file not found; check the path"])
    settings = profile.read if profile is not None else None
    date_format = date_format or (settings.time_format if settings else None)
    workbook = path.suffix.lower() in (".xlsx", ".xlsm")
    summary = ReadSummary(file=source, format="xlsx" if workbook else "csv")
    summary.profile = profile_source
    if workbook:
        table = _workbook(path, source, sheet or (settings.sheet if settings else None))
        rows = table.rows or []
        header = _find_header(rows, names, profile)
        summary.sheet = table.sheet
        frame_rows: list[list[str]] = [] if header is None else rows[header + 1 :]
    else:
        table = _text_table(path, source, settings.encoding if settings else None)
        summary.encoding = table.encoding
        lines = table.text.splitlines()
        chosen = _choose_delimiter(lines[:HEAD_LINES], names, profile)
        if chosen is None:
            header, rows = None, _split_lines(lines[:HEAD_LINES], ",")
        else:
            summary.delimiter, rows, header = chosen
    if header is None:
        shown = "; ".join(" | ".join(cell for cell in row if cell) for row in rows[:3] if any(row))
        valid = ", ".join(names.columns.timestamp[:6] + names.columns.date[:2])
        raise DatalogError(
            source,
            [
                f"no header row with a time column in the first {HEAD_LINES} lines (a time "
                f"column is named like {valid}; delimiters tried: comma, semicolon, tab); "
                f"the file begins: {shown[:300]!r}; describe the export in a --datalog-profile"
            ],
        )
    header_cells = rows[header]
    summary.header_line = header + 1
    summary.metadata, summary.metadata_lines = _metadata(rows[:header], names)
    if workbook:
        width = max([len(header_cells), *(len(row) for row in frame_rows[:1])])
        frame = (
            pd.DataFrame([row + [""] * (width - len(row)) for row in frame_rows], dtype="string")
            if frame_rows
            else pd.DataFrame(columns=range(len(header_cells)), dtype="string")
        )
        line_numbers = np.arange(header + 2, header + 2 + len(frame), dtype=np.int64)
    else:
        frame, line_numbers = _csv_frame(
            table.text, summary.delimiter, header, header_cells, source
        )
    frame = (
        frame.iloc[:, : max(len(header_cells), 1)] if frame.shape[1] > len(header_cells) else frame
    )
    header_cells = header_cells + [""] * (frame.shape[1] - len(header_cells))
    frame.columns = pd.Index(range(frame.shape[1]))
    frame = frame.fillna("")
    # A units row under the header: no time in it, and a known unit in some cell.
    units_row: list[str] | None = None
    if len(frame):
        first = [str(cell) for cell in frame.iloc[0].tolist()]
        if any(_known_unit(cell, names) for cell in first if cell) and not any(
            re.search(r"\d{1,2}:\d{2}|\d{4}-\d|^[+-]?\d+([.,]\d*)?$", cell) for cell in first
        ):
            units_row = first
            frame, line_numbers = frame.iloc[1:], line_numbers[1:]
    filled = (frame != "").any(axis=1).to_numpy(bool)
    frame, line_numbers = frame[filled], line_numbers[filled]
    if not len(frame):
        raise DatalogError(
            source,
            [f"the header (line {header + 1}) has no rows of readings under it"],
        )
    roles = _roles(header_cells, names, profile)
    long_form = roles.quantity is not None and roles.value is not None and roles.unit is not None
    summary.layout = "long" if long_form else "wide"
    time_column = roles.timestamp if roles.timestamp is not None else roles.date
    assert time_column is not None  # the header was chosen for having one
    if roles.date is not None and roles.time_of_day is not None:
        date_text = frame[roles.date].str.replace(r"[ T]00:00:00$", "", regex=True)
        clock = frame[roles.time_of_day].str.replace(
            r"^1900-01-0\d[ T]|^1899-12-3\d[ T]", "", regex=True
        )
        times = (date_text.str.strip() + " " + clock.str.strip()).str.strip()
        time_name = f"{header_cells[roles.date]} + {header_cells[roles.time_of_day]}"
    else:
        times = frame[time_column]
        time_name = header_cells[time_column]
    # Event rows: text in an event column (and, with a profile, matching its words).
    event_mask = np.zeros(len(frame), bool)
    event_text = pd.Series([""] * len(frame), index=frame.index, dtype="string")
    for index in roles.events:
        cells = frame[index].str.strip()
        event_text = event_text.where(event_text != "", cells)
        marked = (cells != "").to_numpy(bool)
        if profile is not None and profile.events is not None and profile.events.match:
            words = "|".join(re.escape(word) for word in profile.events.match)
            marked &= cells.str.contains(rf"(?i)\b(?:{words})\b", regex=True).to_numpy(bool)
        event_mask |= marked
    roles_used = {
        i
        for i in (
            roles.timestamp,
            roles.date,
            roles.time_of_day,
            roles.device,
            roles.quantity,
            roles.value,
            roles.unit,
            roles.quality,
        )
        if i is not None
    }
    for index in roles.events:
        summary.ignored.append(
            Ignored(header_cells[index], "event column: its rows are listed as events")
        )
    for index in roles.bookkeeping:
        summary.ignored.append(Ignored(header_cells[index], "bookkeeping, nothing to evaluate"))
    decimal_comma = settings.decimal_comma if settings else None
    if summary.delimiter != ";" and decimal_comma is None:
        decimal_comma = False
    context = _Context(
        source=source,
        names=names,
        profile=profile,
        reference=reference,
        site=site,
        device=path.stem,
        summary=summary,
        decimal_comma=decimal_comma,
        metadata_kind=_metadata_kind(summary.metadata, names),
    )
    if long_form:
        skip = event_mask & (frame[roles.value].str.strip() == "").to_numpy(bool)
    else:
        candidates = [
            i
            for i in range(len(header_cells))
            if i not in roles_used and i not in roles.events and i not in roles.bookkeeping
        ]
        empty_values = (
            (frame[candidates] == "").all(axis=1).to_numpy(bool)
            if candidates
            else np.ones(len(frame), bool)
        )
        skip = event_mask & empty_values
    if profile is not None and profile.events is not None:
        skip = event_mask.copy()
    _note_events(summary, frame, line_numbers, times, event_text, event_mask)
    keep = ~skip
    frame, line_numbers, times = frame[keep], line_numbers[keep], times[keep]
    if not len(frame):
        raise DatalogError(
            source, ["every row under the header is an event; no readings to evaluate"]
        )
    ts, summary.time_zone, summary.time_format = _parse_times(
        times, line_numbers, time_name, utc_offset_hours, date_format, source
    )
    _refuse_far_times(ts, line_numbers, time_name, source)
    _refuse_unset_clock(ts, line_numbers, time_name, source, time.time_ns())
    channels = ChannelTable()
    kinds: dict[tuple[str, str, str, str, str], str] = {}
    if long_form:
        readings = _read_long(
            frame, line_numbers, ts, roles, header_cells, channels, kinds, context
        )
    else:
        readings = _read_wide(
            frame, ts, roles, header_cells, units_row, channels, kinds, context, candidates
        )
    summary.rows = len(frame)
    summary.readings = len(readings)
    if len(readings):
        summary.first_ns, summary.last_ns = int(readings.ts.min()), int(readings.ts.max())
    datalog = Datalog(
        source,
        summary.layout,
        readings,
        channels,
        summary.blank_values,
        read=summary,
        value_kinds=kinds,
    )
    datalog.warnings = [
        f"column {item.column!r}: {item.reason}"
        for item in summary.ignored
        if item.reason.startswith(("unknown", "no unit"))
    ]
    return datalog


def _note_events(
    summary: ReadSummary,
    frame: pd.DataFrame,
    lines: NDArray[np.int64],
    times: pd.Series,
    text: pd.Series,
    mask: NDArray[np.bool_],
) -> None:
    summary.event_rows = int(mask.sum())
    for row in np.flatnonzero(mask)[:20]:
        summary.events.append(
            {"line": int(lines[row]), "time": str(times.iloc[row]), "text": str(text.iloc[row])}
        )
