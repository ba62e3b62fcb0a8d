"""Instrument datalogs in, ``Readings`` out: the pandas edge of ``hazmon analyze``.

The reader takes exports as detectors' PC tools write them and says how it read them:

- text files in UTF-8 (with or without BOM), UTF-16 (BOM, or NUL bytes that show it) or
  GB18030 (a superset of GBK, what Chinese-locale Excel and instrument tools write),
  tried as strict decodes in that order; ``.xlsx`` workbooks (first sheet or ``sheet``);
- the delimiter ``,`` ``;`` or tab, chosen as the one under which a header row with a
  time column is followed by rows of the same width;
- a metadata block above the header (instrument, serial, period, set points...) kept
  and shown; a units row under the header (``时间,CO,H2S`` then ``,ppm,ppm``);
- long layout (``time,device,quantity,value,unit``) and wide layout (a time column and
  one column per quantity: ``CO [ppm]``, ``CO (ppm)``, ``CO(ppm)``, ``CO（ppm）``,
  ``CO ppm``, ``CO_ppm``, ``一氧化碳(ppm)``, ``CO Peak (ppm)``);
- one timestamp column or split date and time-of-day columns; ISO times, ``dd/mm/yyyy``
  or ``mm/dd/yyyy`` only when the file itself tells which (some field above 12) or
  ``date_format`` says; epoch seconds, milliseconds, microseconds or nanoseconds told
  apart by magnitude, anything between refused.

Every name matched is data (``config/datalog_names.toml``); exports the automatic
reader cannot place are described by a datalog profile (``config/datalogs/``).
Values are converted to the quantity's canonical unit (the catalogue's linear
conversions; mg/m³ → ppm for gases through the molar mass at the reference state).
A blank value keeps its row as NaN; unreadable text keeps it as NaN flagged
SENSOR_FAULT.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.analysis.units import REFERENCE_20C, ReferenceState, mg_m3_to_ppm
from hazmon.config.catalogue import UnknownUnitError, load_catalogue
from hazmon.config.datalog import DatalogNames, DatalogProfile, load_datalog_names
from hazmon.config.errors import ConfigError
from hazmon.config.quality import Quality

#: Lines (or worksheet rows) searched for the header.
HEAD_LINES = 400
#: Rows under a header compared with its width when choosing the delimiter.
WIDTH_PROBE = 50
DELIMITERS = (",", ";", "\t")
NOT_STATED = "not stated"
#: Preference among columns of one quantity: the closest to the true exposure wins.
KIND_RANK = {"average": 0, "instantaneous": 1, NOT_STATED: 2, "peak": 3, "minimum": 4}
#: Epoch units by magnitude: (name, lowest, highest, ns per unit). The gaps between the
#: bands are refused: a stray digit must not become a date centuries away.
EPOCH_BANDS = (
    ("seconds", 1e8, 1e10, 1e9),
    ("milliseconds", 1e11, 1e13, 1e6),
    ("microseconds", 1e14, 1e16, 1e3),
    ("nanoseconds", 1e17, 9.2e18, 1.0),
)
_FULL_WIDTH = str.maketrans({"（": "(", "）": ")", "［": "[", "］": "]", "　": " ", "：": ":"})
_SQUARE = re.compile(r"^(?P<name>.*?)\s*\[(?P<unit>[^\]]*)\]\s*$")
_PAREN = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>.*)\)\s*$")
_OFFSET = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})$")
_NUMERIC_DATE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)"
_CLOCK = re.compile(r"^(?P<sep>[ T]+)\d{1,2}:\d{2}(?P<seconds>:\d{2})?(?P<fraction>\.\d+)?")
_DECIMAL_COMMA = r"^[+-]?\d+,\d+$"


class DatalogError(ConfigError):
    """A datalog cannot be read; the message names the file, the row or column, the fix.

    A subclass of :class:`ConfigError` so the CLI's one handler exits 2 with it, but
    worded as what it is: ``cannot read datalog X.csv: ...``.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            text = f"cannot read datalog {source}: {problems[0]}"
        else:
            text = f"cannot read datalog {source}:\n" + "\n".join(f"  {p}" for p in problems)
        ValueError.__init__(self, text)


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


@dataclass(slots=True)
class Datalog:
    """Readings parsed from a datalog, with their channel table and how they were read."""

    source: str
    layout: str
    readings: Readings
    channels: ChannelTable
    blank_values: int = 0
    warnings: list[str] = field(default_factory=list)
    read: ReadSummary | None = None
    value_kinds: dict[tuple[str, str, str, str, str], str] = field(default_factory=dict)
    """Channel key → what one reading is (average, peak, ... or ``not stated``)."""

    def value_kind(self, channel: Channel) -> str:
        """What one reading of ``channel`` is."""
        return self.value_kinds.get(channel.key, NOT_STATED)


def iso_utc(ts_ns: int) -> str:
    """``2026-03-02T01:00:00Z`` for a time [ns UTC]."""
    moment = dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- names


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(_FULL_WIDTH)).strip().lower()


def quantity_of(name: str, names: DatalogNames | None = None) -> str | None:
    """The catalogue quantity a column or row names (``CO`` → ``co``, ``一氧化碳`` → ``co``)."""
    names = names or load_datalog_names()
    catalogue = load_catalogue()
    key = _normal(name)
    for filler in names.filler:
        if key != filler:
            key = re.sub(rf"(^|[\s_\-]){re.escape(filler)}($|[\s_\-])", " ", key).strip()
            if not filler.isascii():
                key = key.replace(filler, "").strip()
    candidates = [key, re.sub(r"[\s.\-]+", "_", key), key.replace(" ", "")]
    for candidate in candidates:
        if candidate in catalogue.quantities:
            return candidate
        if candidate in names.quantities:
            return names.quantities[candidate]
    for quantity, spec in catalogue.quantities.items():
        if spec.name.lower() == key:
            return quantity
    return None


def _resolve_unit(text: str, quantity: str, names: DatalogNames) -> str:
    """The catalogue spelling of a unit written in an export."""
    written = text.translate(_FULL_WIDTH).strip()
    unit = names.units.get(written.lower(), written)
    canonical = load_catalogue().spec(quantity).unit
    # A bare % in a combustible-gas column is %LEL; in an oxygen column, %vol.
    if unit == "%" and canonical.startswith("%"):
        return canonical
    return unit


def _known_unit(text: str, names: DatalogNames) -> bool:
    written = text.translate(_FULL_WIDTH).strip().lower()
    if written in names.units:
        return True
    catalogue = load_catalogue()
    return any(
        written == spec.unit.lower() or written in (unit.lower() for unit in spec.units)
        for spec in catalogue.quantities.values()
    )


def _take_kind(name: str, names: DatalogNames) -> tuple[str, str | None]:
    """Remove a value-kind word (``Peak``, ``Avg``, ``峰值``) from a header name."""
    words = sorted(names.kind_words().items(), key=lambda item: -len(item[0]))
    lowered = name.lower()
    for word, kind in words:
        if word.isascii():
            pattern = rf"(^|[\s_\-/]){re.escape(word)}($|[\s_\-/])"
            if re.search(pattern, lowered):
                return re.sub(pattern, " ", lowered).strip(" _-/"), kind
        elif word in lowered:
            return lowered.replace(word, " ").strip(" _-/"), kind
    return lowered, None


def split_header(
    header: str, names: DatalogNames | None = None
) -> tuple[str, str | None, str | None]:
    """A quantity header's name, unit and value kind.

    ``CO [ppm]``, ``CO (ppm)``, ``CO(ppm)``, ``CO（ppm）``, ``CO ppm``, ``CO_ppm`` all give
    ``("co", "ppm", None)``; ``CO Peak (ppm)`` gives ``("co", "ppm", "peak")``.
    """
    names = names or load_datalog_names()
    text = re.sub(r"\s+", " ", header.translate(_FULL_WIDTH)).strip()
    name, unit = text, None
    tail = re.split(r"[ _](?=[^ _]+$)", text)
    if len(tail) == 2 and _known_unit(tail[1], names):
        name, unit = tail
    else:
        for pattern in (_SQUARE, _PAREN):
            match = pattern.match(text)
            if match is not None and match["name"]:
                name, unit = match["name"], match["unit"].strip()
                break
    name, kind = _take_kind(name, names)
    return name.strip(), unit, kind


# ------------------------------------------------------------------------ the file


@dataclass(slots=True)
class _Table:
    """The cells of a file before the header is known."""

    head: list[list[str]]
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    text: str = ""
    rows: list[list[str]] | None = None  # a workbook's rows, all of them


def _decode(raw: bytes, source: str, encoding: str | None) -> tuple[str, str]:
    """The text of a file and the encoding it was read in."""
    if encoding:
        try:
            return raw.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as error:
            raise DatalogError(
                source, [f"not {encoding} text as the profile says: {error}"]
            ) from error
    if raw.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif raw[1:200:2].count(0) > 40:
        candidates = ["utf-16-le"]
    elif raw[0:200:2].count(0) > 40:
        candidates = ["utf-16-be"]
    else:
        candidates = ["utf-8", "gb18030"]
    for candidate in candidates:
        try:
            text = raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        return text, {"utf-8-sig": "utf-8 (BOM)", "gb18030": "gb18030 (GBK)"}.get(
            candidate, candidate
        )
    raise DatalogError(
        source,
        [
            "the text is neither UTF-8, UTF-16 nor GB18030/GBK; save it as UTF-8 CSV, or "
            'name the encoding in a --datalog-profile ([read] encoding = "...")'
        ],
    )


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _workbook(path: Path, source: str, sheet: str | None) -> _Table:
    import openpyxl  # a workbook is rare; do not load the library for CSV files

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise DatalogError(source, [f"not a readable .xlsx workbook: {error}"]) from error
    try:
        names = book.sheetnames
        if sheet is not None and sheet not in names:
            raise DatalogError(
                source, [f"no sheet {sheet!r}; the workbook's sheets: {', '.join(names)}"]
            )
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        rows = [
            [_cell_text(value) for value in row] for row in worksheet.iter_rows(values_only=True)
        ]
        title = worksheet.title
    finally:
        book.close()
    return _Table(head=rows[:HEAD_LINES], sheet=title, rows=rows)


def _text_table(path: Path, source: str, encoding: str | None) -> _Table:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as error:
        raise DatalogError(source, ["file not found; check the path"]) from error
    except IsADirectoryError as error:
        raise DatalogError(source, ["is a directory; give the exported file"]) from error
    except OSError as error:
        raise DatalogError(source, [f"cannot read the file: {error.strerror}"]) from error
    if not raw.strip():
        raise DatalogError(source, ["the file is empty"])
    if raw.startswith(b"PK\x03\x04"):
        raise DatalogError(source, ["this is a workbook (zip); name it .xlsx so it is read as one"])
    text, used = _decode(raw, source, encoding)
    return _Table(head=[], encoding=used, text=text)


def _split_lines(lines: Sequence[str], delimiter: str) -> list[list[str]]:
    return [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]


# ------------------------------------------------------------------ finding the header


@dataclass(slots=True)
class _Roles:
    """Which header cell is what."""

    timestamp: int | None = None
    date: int | None = None
    time_of_day: int | None = None
    device: int | None = None
    quantity: int | None = None
    value: int | None = None
    unit: int | None = None
    quality: int | None = None
    events: list[int] = field(default_factory=list)
    bookkeeping: list[int] = field(default_factory=list)


def _roles(header: list[str], names: DatalogNames, profile: DatalogProfile | None) -> _Roles:
    columns = names.columns
    roles = _Roles()
    lowered = [_normal(cell) for cell in header]

    def first(candidates: list[str], taken: set[int]) -> int | None:
        wanted = {word.lower() for word in candidates}
        return next(
            (i for i, cell in enumerate(lowered) if cell in wanted and i not in taken), None
        )

    taken: set[int] = set()
    if profile is not None:
        for index, cell in enumerate(header):
            spec = profile.column(cell)
            if spec is None or spec.role is None:
                continue
            taken.add(index)
            if spec.role == "event":
                roles.events.append(index)
            elif spec.role == "ignore":
                roles.bookkeeping.append(index)
            else:
                setattr(roles, spec.role, index)
    if roles.timestamp is None and roles.date is None:
        date = first(columns.date, taken)
        time_of_day = first(columns.time_of_day, taken | ({date} if date is not None else set()))
        if date is not None and time_of_day is not None:
            roles.date, roles.time_of_day = date, time_of_day
        else:
            timestamp = first(columns.timestamp, taken)
            # A date column alone holds the whole time.
            roles.timestamp = timestamp if timestamp is not None else date
    taken |= {i for i in (roles.timestamp, roles.date, roles.time_of_day) if i is not None}
    for role in ("device", "quantity", "value", "unit", "quality"):
        found = first(getattr(columns, role), taken)
        if found is not None:
            setattr(roles, role, found)
            taken.add(found)
    for index, cell in enumerate(lowered):
        if index in taken:
            continue
        if cell in {word.lower() for word in columns.event}:
            roles.events.append(index)
        elif cell in {word.lower() for word in columns.bookkeeping}:
            roles.bookkeeping.append(index)
    if profile is not None and profile.events is not None:
        wanted = profile.events.column.strip().lower()
        for index, cell in enumerate(lowered):
            if cell == wanted and index not in roles.events:
                roles.events.append(index)
    return roles


def _is_header(row: list[str], names: DatalogNames, profile: DatalogProfile | None) -> bool:
    if sum(bool(cell) for cell in row) < 2:
        return False
    roles = _roles(row, names, profile)
    return roles.timestamp is not None or roles.date is not None


def _find_header(
    rows: list[list[str]], names: DatalogNames, profile: DatalogProfile | None
) -> int | None:
    if profile is not None and profile.read.header_line is not None:
        index = profile.read.header_line - 1
        return index if index < len(rows) else None
    return next((i for i, row in enumerate(rows) if _is_header(row, names, profile)), None)


def _choose_delimiter(
    lines: list[str], names: DatalogNames, profile: DatalogProfile | None
) -> tuple[str, list[list[str]], int] | None:
    """The delimiter under which a header is followed by rows of its width."""
    wanted = (profile.read.delimiter,) if profile and profile.read.delimiter else DELIMITERS
    best: tuple[int, str, list[list[str]], int] | None = None
    for delimiter in wanted:
        rows = _split_lines(lines, delimiter)
        header = _find_header(rows, names, profile)
        if header is None:
            continue
        width = len(rows[header])
        following = [row for row in rows[header + 1 : header + 1 + WIDTH_PROBE] if any(row)]
        score = sum(len(row) == width for row in following) + 1
        if best is None or score > best[0]:
            best = (score, delimiter, rows, header)
    return None if best is None else best[1:]


# ------------------------------------------------------------------------ metadata


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


# ------------------------------------------------------------------------ times


def _format_hint(sample: str, day_first: bool) -> str:
    match = re.match(_NUMERIC_DATE, sample)
    if match is None:
        return ""
    separator, year = match[2], "%Y" if len(match[4]) == 4 else "%y"
    date = f"%d{separator}%m{separator}{year}" if day_first else f"%m{separator}%d{separator}{year}"
    clock = _CLOCK.match(sample[match.end() :])
    if clock is None:
        return date
    return (
        date
        + clock["sep"]
        + "%H:%M"
        + (":%S" if clock["seconds"] else "")
        + (".%f" if clock["fraction"] else "")
    )


def _epoch(
    number: NDArray[np.float64],
    integers: NDArray[np.int64] | None,
    lines: NDArray[np.int64],
    column: str,
    source: str,
) -> tuple[NDArray[np.int64], str]:
    magnitude = np.abs(number)
    median = float(np.median(magnitude))
    band = next((b for b in EPOCH_BANDS if b[1] <= median < b[2]), None)
    if band is None:
        raise DatalogError(
            source,
            [
                f"line {int(lines[0])}, column {column!r}: number times such as "
                f"{number[0]:.0f} are neither epoch seconds (10 digits), milliseconds (13), "
                "microseconds (16) nor nanoseconds (19) of a plausible date; write ISO "
                "times (2026-03-02 09:00:00) or give --date-format"
            ],
        )
    name, low, high, scale = band
    outside = (magnitude < low) | (magnitude >= high)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {number[row]:.0f} is not epoch "
                f"{name} like the rest of the column (a digit too many or too few?); "
                "correct that row"
            ],
        )
    described = f"epoch {name} (UTC)"
    if integers is not None:
        # Whole numbers stay int64: nanoseconds since 1970 exceed float64's 2**53.
        return integers * np.int64(scale), described
    return np.round(number * scale).astype(np.int64), described


def _parse_times(
    text: pd.Series,
    lines: NDArray[np.int64],
    column: str,
    utc_offset_hours: float,
    date_format: str | None,
    source: str,
) -> tuple[NDArray[np.int64], str, str]:
    """Times [ns UTC], the time zone as read, and the format used."""
    text = text.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(bool)
    if blank.any():
        row = int(np.flatnonzero(blank)[0])
        raise DatalogError(
            source, [f"line {int(lines[row])}, column {column!r}: no time; every row needs one"]
        )
    number = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    if date_format is None and not np.isnan(number).any():
        whole = text.str.fullmatch(r"[+-]?\d{1,19}").fillna(False).to_numpy(bool)
        fits = whole.all() and float(np.abs(number).max()) < 9.2e18
        integers: NDArray[np.int64] | None = None
        if fits:
            integers = np.asarray(text.astype("int64").to_numpy(np.int64), dtype=np.int64)
        ns, described = _epoch(number, integers, lines, column, source)
        return ns, "UTC (epoch)", described
    if "年" in str(text.iloc[0]):
        # 2026年3月2日 09:00 → 2026-3-2 09:00
        text = (
            text.str.replace(r"(\d)\s*年\s*", r"\1-", regex=True)
            .str.replace(r"(\d)\s*月\s*", r"\1-", regex=True)
            .str.replace(r"(\d)\s*日\s*", r"\1 ", regex=True)
            .str.strip()
        )
    has_offset = text.str.contains(_OFFSET, regex=True).to_numpy(bool)
    if has_offset.any() and not has_offset.all():
        row = int(np.flatnonzero(~has_offset)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {text.iloc[row]!r} has no UTC "
                "offset while other rows have one; write the offset on every row or none"
            ],
        )
    used = date_format or ""
    if date_format is None:
        used = _settle_day_month(text, lines, column, source) or _year_first(str(text.iloc[0]))
    if used:
        parsed = pd.to_datetime(text, format=used, errors="coerce", utc=bool(has_offset.all()))
        if date_format is None and parsed.isna().any():
            used = ""  # the first row's shape is not every row's: parse as ISO below
    if not used:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=bool(has_offset.all()))
        missing = parsed.isna()
        if missing.any():
            retry = pd.to_datetime(
                text[missing], format="mixed", errors="coerce", utc=bool(has_offset.all())
            )
            parsed = parsed.where(~missing, retry)
        used = "ISO 8601"
    bad = parsed.isna().to_numpy(bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        expected = f"the format {used!r}" if used != "ISO 8601" else "an ISO 8601 time"
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {text.iloc[row]!r} is not "
                f"{expected} (2026-03-02 09:00:00); correct the row or give --date-format"
            ],
        )
    if has_offset.all():
        values = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        zone = "from the file (UTC offsets written)"
    elif parsed.dt.tz is not None:
        values = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        zone = "from the file (--date-format %z)"
    else:
        values = (parsed - pd.Timedelta(hours=utc_offset_hours)).to_numpy("datetime64[ns]")
        zone = f"UTC{utc_offset_hours:+g} (not written in the file; --utc-offset)"
    return values.astype(np.int64), zone, used


def _year_first(sample: str) -> str:
    """The explicit format of a year-first time (``2026/3/2 09:00``): pandas parses an
    explicit format vectorised; inferring one per row is fifty times slower."""
    match = re.match(r"^\s*\d{4}([/.\-])\d{1,2}\1\d{1,2}(?!\d)", sample)
    if match is None or _OFFSET.search(sample):
        return ""
    separator = match[1]
    clock = _CLOCK.match(sample[match.end() :])
    date = f"%Y{separator}%m{separator}%d"
    if clock is None:
        return date if match.end() == len(sample.rstrip()) else ""
    rest = sample[match.end() + clock.end() :].strip()
    if rest:
        return ""
    return (
        date
        + clock["sep"]
        + "%H:%M"
        + (":%S" if clock["seconds"] else "")
        + (".%f" if clock["fraction"] else "")
    )


def _settle_day_month(text: pd.Series, lines: NDArray[np.int64], column: str, source: str) -> str:
    """The format of ``dd/mm/yyyy`` or ``mm/dd/yyyy`` dates, when the file tells which.

    Returns "" when the dates are not of that form (year first, ISO).
    """
    parts = text.str.extract(_NUMERIC_DATE)
    matched = parts[0].notna().to_numpy(bool)
    if not matched.any():
        return ""
    if not matched.all():
        row = int(np.flatnonzero(~matched)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {text.iloc[row]!r} is written "
                "unlike the other rows' dates; write every date one way"
            ],
        )
    first = parts[0].astype(int).to_numpy()
    second = parts[2].astype(int).to_numpy()
    day_first = first > 12
    month_first = second > 12
    if day_first.any() and month_first.any():
        a, b = int(np.flatnonzero(day_first)[0]), int(np.flatnonzero(month_first)[0])
        raise DatalogError(
            source,
            [
                f"column {column!r}: line {int(lines[a])} ({text.iloc[a]}) can only be day "
                f"first, line {int(lines[b])} ({text.iloc[b]}) only month first; the dates "
                "are written two ways"
            ],
        )
    sample = str(text.iloc[0])
    if day_first.any() or month_first.any():
        return _format_hint(sample, bool(day_first.any()))
    differ = first != second
    if not differ.any():
        return _format_hint(sample, True)  # 03/03/2026: both readings are the same day
    row = int(np.flatnonzero(differ)[0])
    shown = str(text.iloc[row])
    day, month = _format_hint(shown, True), _format_hint(shown, False)
    as_day = dt.datetime.strptime(shown, day).strftime("%Y-%m-%d")
    as_month = dt.datetime.strptime(shown, month).strftime("%Y-%m-%d")
    raise DatalogError(
        source,
        [
            f"column {column!r}: the dates could be day/month or month/day (no day above 12 "
            f"settles it): line {int(lines[row])} {shown!r} is {as_day} read day first, "
            f"{as_month} read month first; give --date-format '{day}' (day first) or "
            f"--date-format '{month}' (month first)"
        ],
    )


# ------------------------------------------------------------------------ values


def _values(
    column: pd.Series, decimal_comma: bool | None
) -> tuple[NDArray[np.float64], NDArray[np.uint16], NDArray[np.bool_]]:
    """Numbers, the quality of unreadable text, and which were blank."""
    text = column.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(bool)
    if decimal_comma is not False:
        comma = text.str.fullmatch(_DECIMAL_COMMA).fillna(False).to_numpy(bool)
        if comma.any() and (decimal_comma or comma.sum() == (~blank).sum()):
            text = text.str.replace(",", ".", regex=False)
    # Not pd.to_numeric: its parser is not round-trip exact (20.900000000000002 → 20.9).
    # pd.to_numeric only finds the numbers (fast); astype reads them exactly.
    numeric = pd.to_numeric(text, errors="coerce").notna()
    number = text.where(numeric).astype("float64").to_numpy(np.float64, na_value=np.nan)
    unreadable = ~blank & np.isnan(number)
    quality = np.where(unreadable, np.uint16(Quality.SENSOR_FAULT), np.uint16(0))
    return np.asarray(number, dtype=np.float64), quality.astype(np.uint16), np.asarray(blank)


def _convert(
    value: NDArray[np.float64],
    quantity: str,
    unit: str,
    reference: ReferenceState,
    where: str,
    source: str,
) -> NDArray[np.float64]:
    catalogue = load_catalogue()
    spec = catalogue.spec(quantity)
    if unit in ("mg/m³", "mg/m3") and spec.unit == "ppm" and spec.molar_mass:
        return mg_m3_to_ppm(value, spec.molar_mass, reference)
    try:
        conversion = catalogue.conversion(quantity, unit or spec.unit)
    except UnknownUnitError as error:
        raise DatalogError(source, [f"{where}: {error}"]) from error
    return np.asarray(value * conversion.scale + conversion.offset, dtype=np.float64)


# ------------------------------------------------------------------------ reading


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


#: A row this far from the file's median time is a typo, not a reading [ns].
FAR_NS = 366 * 86400 * 10**9


def _refuse_far_times(
    ts: NDArray[np.int64], lines: NDArray[np.int64], column: str, source: str
) -> None:
    """Refuse a row dated a year or more away from the rest (a mistyped year)."""
    median = np.int64(np.median(ts))
    far = np.abs(ts - median) > FAR_NS
    if far.any():
        row = int(np.flatnonzero(far)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {iso_utc(int(ts[row]))} is more "
                f"than a year from the other rows (around {iso_utc(int(median))}); correct "
                "that row's date"
            ],
        )


def _csv_frame(
    text: str, delimiter: str, header: int, header_cells: list[str], source: str
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            skiprows=header + 1,
            names=range(len(header_cells)),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            skipinitialspace=True,
            index_col=False,
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=range(len(header_cells)), dtype="string")
    except pd.errors.ParserError as error:
        raise DatalogError(
            source,
            [
                f"below the header (line {header + 1}): {error}; each row needs the header's "
                f"{len(header_cells)} fields"
            ],
        ) from error
    frame = frame.astype("string")
    return frame, np.arange(header + 2, header + 2 + len(frame), dtype=np.int64)


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


# ------------------------------------------------------------------------ stores


def read_store(
    target: str,
    *,
    site: str | None = None,
    device: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Datalog:
    """Readings already in a hazmon store, as a :class:`Datalog` the evaluator takes.

    Parameters
    ----------
    target
        A SQLite store file, or the ``http://host:port`` of a VictoriaMetrics node the
        line-protocol store wrote to (InfluxDB itself is not read back).
    site, device
        Keep only channels of this site / device.
    start_ns, end_ns
        Keep readings with ``start_ns <= ts <= end_ns`` [ns UTC].

    Raises
    ------
    DatalogError
        The store is missing, not a store, unreachable, or holds no matching readings.
    """
    import sqlite3

    from hazmon.store.timeseries import WindowReader
    from hazmon.store.timeseries.influx_client import StoreUnavailable
    from hazmon.store.timeseries.line_protocol import VictoriaMetricsReader
    from hazmon.store.timeseries.sqlite import SqliteTimeSeries

    reader: WindowReader
    if target.startswith(("http://", "https://")):
        kind = "victoria-metrics"
        vm = VictoriaMetricsReader(target)
        reader, lister = vm, vm.list_channels
    else:
        kind = "sqlite"
        path = Path(target)
        if path.is_dir():
            raise DatalogError(target, ["is a directory; give the hazmon SQLite store file"])
        if not path.is_file():
            raise DatalogError(target, ["no such store file; check the path (hazmon demo --db)"])
        store = SqliteTimeSeries(path)
        reader, lister = store, store.list_channels
    start = -(2**62) if start_ns is None else start_ns
    end = 2**62 if end_ns is None else end_ns
    summary = ReadSummary(file=target, format=kind, layout="store")
    summary.time_zone = "UTC (stored)"
    summary.time_format = "ns since 1970 (stored)"
    try:
        if isinstance(reader, SqliteTimeSeries):
            reader.open()
        known = lister()
        chosen = [
            channel
            for channel in known
            if (site is None or channel.site == site)
            and (device is None or channel.device == device)
        ]
        if not chosen:
            found = sorted({f"site {c.site!r} device {c.device!r}" for c in known})
            raise DatalogError(
                target,
                [
                    f"no channels for site {site!r} device {device!r}; the store holds: "
                    f"{', '.join(found) or 'nothing'}"
                ],
            )
        channels = ChannelTable()
        parts: list[Readings] = []
        kinds: dict[tuple[str, str, str, str, str], str] = {}
        for channel in chosen:
            window = reader.read_window(channel, start, end)
            number = channels.add(channel)
            kinds[channel.key] = "instantaneous"
            parts.append(
                Readings.from_columns(
                    window.ts,
                    np.full(len(window.ts), number, np.int32),
                    window.value,
                    window.quality,
                )
            )
            summary.columns.append(
                ColumnRead(
                    f"{channel.site}/{channel.device}/{channel.quantity}",
                    channel.device,
                    channel.quantity,
                    channel.unit,
                    channel.unit,
                    "instantaneous",
                    "store (polled readings)",
                )
            )
    except sqlite3.DatabaseError as error:
        raise DatalogError(target, [f"not a hazmon SQLite store: {error}"]) from error
    except StoreUnavailable as error:
        raise DatalogError(target, [f"cannot read the store: {error}"]) from error
    finally:
        reader.close()
    readings = Readings.concat(parts)
    if not len(readings):
        raise DatalogError(target, ["no readings in the chosen window (--from/--to)"])
    summary.rows = summary.readings = len(readings)
    summary.first_ns, summary.last_ns = int(readings.ts.min()), int(readings.ts.max())
    summary.blank_values = int(np.isnan(readings.value).sum())
    return Datalog(
        target, "store", readings, channels, summary.blank_values, read=summary, value_kinds=kinds
    )
