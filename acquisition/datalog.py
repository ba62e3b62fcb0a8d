"""Instrument datalogs (CSV) in, ``Readings`` out: the pandas edge of ``hazmon analyze``.

Two layouts are read:

long
    One reading per row, columns ``time,device,quantity,value,unit`` (any order,
    header names case-insensitive; extra columns are ignored).
wide
    A ``time`` column and one column per quantity, the unit in brackets:
    ``time,CO [ppm],H2S [ppm],LEL [%LEL]``. The device is the file's stem.

Values are converted to the quantity's canonical unit (the catalogue's linear
conversions; mg/m³ → ppm for gases through the molar mass at the reference state).
Times with a UTC offset are taken as given; times without one are local time at
``utc_offset_hours`` (China Standard Time, UTC+8, by default); plain numbers are
seconds since 1970-01-01 UTC. A blank or unreadable value keeps its row as NaN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.analysis.units import REFERENCE_20C, ReferenceState, mg_m3_to_ppm
from hazmon.config.catalogue import UnknownUnitError, load_catalogue
from hazmon.config.errors import ConfigError
from hazmon.config.quality import Quality

LONG_COLUMNS = ("time", "device", "quantity", "value", "unit")
#: Column names instruments use for a quantity, beyond the catalogue's own names.
ALIASES = {
    "ex": "lel",
    "ch4": "lel",
    "%lel": "lel",
    "combustible": "lel",
    "oxygen": "o2",
    "tvoc": "voc",
    "pid": "voc",
    "pm2.5": "pm2_5",
    "la": "noise",
    "laeq": "noise",
    "spl": "noise",
    "lcpeak": "noise_peak",
    "peak": "noise_peak",
    "c6h6": "benzene",
    "dust": "dust_total",
    "total dust": "dust_total",
    "respirable dust": "dust_respirable",
}
_HEADER = re.compile(r"^\s*(?P<name>.+?)\s*\[(?P<unit>[^\]]*)\]\s*$")


class DatalogError(ConfigError):
    """A datalog cannot be read; the message names the file, the column or row, the fix."""


@dataclass(slots=True)
class Datalog:
    """Readings parsed from a datalog, with their channel table."""

    source: str
    layout: str
    readings: Readings
    channels: ChannelTable
    blank_values: int = 0
    warnings: list[str] = field(default_factory=list)


def quantity_of(name: str) -> str | None:
    """The catalogue quantity a column or row names (``CO`` → ``co``), or None."""
    catalogue = load_catalogue()
    key = name.strip().lower()
    if key in catalogue.quantities:
        return key
    key_underscore = re.sub(r"[\s.\-]+", "_", key)
    if key_underscore in catalogue.quantities:
        return key_underscore
    if key in ALIASES:
        return ALIASES[key]
    for quantity, spec in catalogue.quantities.items():
        if spec.name.lower() == key:
            return quantity
    return None


def _to_ns(times: pd.Series, utc_offset_hours: float, source: str) -> np.ndarray:
    numeric = pd.to_numeric(times, errors="coerce")
    if numeric.notna().all():
        return np.asarray(np.round(numeric.to_numpy(np.float64) * 1e9), dtype=np.int64)
    try:
        parsed = pd.to_datetime(times, utc=False, format="mixed")
    except (ValueError, TypeError) as error:
        raise DatalogError(
            source, [f"time: {error}; write ISO 8601 times (2026-03-01 08:00:00) or epoch seconds"]
        ) from error
    if parsed.dt.tz is None:
        parsed = parsed - pd.Timedelta(hours=utc_offset_hours)
        values = parsed.to_numpy("datetime64[ns]")
    else:
        values = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    if np.isnat(values).any():
        row = int(np.flatnonzero(np.isnat(values))[0]) + 2
        raise DatalogError(source, [f"row {row}: time is missing or unreadable"])
    return values.astype(np.int64)


def _convert(
    value: np.ndarray, quantity: str, unit: str, reference: ReferenceState, where: str
) -> np.ndarray:
    catalogue = load_catalogue()
    spec = catalogue.spec(quantity)
    unit = unit.strip()
    if unit in ("mg/m³", "mg/m3") and spec.unit == "ppm" and spec.molar_mass:
        return mg_m3_to_ppm(value, spec.molar_mass, reference)
    try:
        conversion = catalogue.conversion(quantity, unit or spec.unit)
    except UnknownUnitError as error:
        raise DatalogError(where, [str(error)]) from error
    return value * conversion.scale + conversion.offset


def _values(column: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Numbers, the quality of unreadable text, and how many were blank."""
    text = column.astype("string").str.strip()
    number = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    blank = text.isna() | (text == "")
    unreadable = ~blank.to_numpy(bool) & np.isnan(number)
    quality = np.where(unreadable, np.uint16(Quality.SENSOR_FAULT), np.uint16(0))
    return number, quality.astype(np.uint16), int(blank.sum())


def read_datalog(
    path: str | Path,
    *,
    reference: ReferenceState = REFERENCE_20C,
    utc_offset_hours: float = 8.0,
    site: str = "",
) -> Datalog:
    """Read a long- or wide-form CSV datalog.

    Raises
    ------
    DatalogError
        The file is missing, empty, has neither layout, or names an unknown quantity
        or unit (the message lists the valid ones).
    """
    path = Path(path)
    source = str(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError as error:
        raise DatalogError(source, ["file not found; check the path"]) from error
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DatalogError(source, [f"not a readable CSV file: {error}"]) from error
    columns = {name.strip().lower(): name for name in frame.columns}
    if "time" not in columns:
        raise DatalogError(
            source,
            [
                "no 'time' column; write long form (time,device,quantity,value,unit) or wide "
                "form (time,CO [ppm],...)"
            ],
        )
    channels = ChannelTable()
    if all(name in columns for name in LONG_COLUMNS):
        return _read_long(frame, columns, channels, source, reference, utc_offset_hours, site)
    return _read_wide(frame, columns, channels, path, reference, utc_offset_hours, site)


def _read_long(
    frame: pd.DataFrame,
    columns: dict[str, str],
    channels: ChannelTable,
    source: str,
    reference: ReferenceState,
    utc_offset_hours: float,
    site: str,
) -> Datalog:
    ts = _to_ns(frame[columns["time"]], utc_offset_hours, source)
    value, quality, blank = _values(frame[columns["value"]])
    channel = np.empty(len(frame), np.int32)
    device = frame[columns["device"]].str.strip()
    quantity_text = frame[columns["quantity"]].str.strip()
    unit = frame[columns["unit"]].str.strip()
    # A loop over distinct (device, quantity, unit) groups, not rows.
    groups = pd.DataFrame({"d": device, "q": quantity_text, "u": unit}).groupby(
        ["d", "q", "u"], sort=False
    )
    for group_key, rows in groups.indices.items():
        device_id, name, unit_text = (str(part) for part in cast(tuple[str, str, str], group_key))
        quantity = quantity_of(str(name))
        if quantity is None:
            valid = ", ".join(sorted(load_catalogue().quantities))
            raise DatalogError(
                source, [f"row {int(rows[0]) + 2}: unknown quantity {name!r}; valid: {valid}"]
            )
        canonical = load_catalogue().spec(quantity).unit
        number = channels.add(Channel(site, str(device_id), quantity, canonical))
        channel[rows] = number
        value[rows] = _convert(
            value[rows], quantity, str(unit_text), reference, f"{source}: row {int(rows[0]) + 2}"
        )
    readings = Readings.from_columns(ts, channel, value, quality)
    return Datalog(source, "long", readings, channels, blank)


def _read_wide(
    frame: pd.DataFrame,
    columns: dict[str, str],
    channels: ChannelTable,
    path: Path,
    reference: ReferenceState,
    utc_offset_hours: float,
    site: str,
) -> Datalog:
    source = str(path)
    ts = _to_ns(frame[columns["time"]], utc_offset_hours, source)
    parts: list[Readings] = []
    blanks = 0
    warnings: list[str] = []
    for header in frame.columns:
        if header.strip().lower() == "time":
            continue
        match = _HEADER.match(header)
        if match is None:
            warnings.append(f"column {header!r} has no [unit]; skipped")
            continue
        quantity = quantity_of(match["name"])
        if quantity is None:
            valid = ", ".join(sorted(load_catalogue().quantities))
            raise DatalogError(
                source, [f"column {header!r}: unknown quantity {match['name']!r}; valid: {valid}"]
            )
        canonical = load_catalogue().spec(quantity).unit
        number = channels.add(Channel(site, path.stem, quantity, canonical))
        value, quality, blank = _values(frame[header])
        blanks += blank
        value = _convert(value, quantity, match["unit"], reference, f"{source}: column {header!r}")
        parts.append(Readings.from_columns(ts, np.full(len(ts), number, np.int32), value, quality))
    if not parts:
        raise DatalogError(
            source,
            [
                "no quantity columns; name them like 'CO [ppm]', or use the long form "
                "time,device,quantity,value,unit"
            ],
        )
    return Datalog(source, "wide", Readings.concat(parts), channels, blanks, warnings)
