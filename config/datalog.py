"""Datalog exports: the names their tools write (``datalog_names.toml``) and the
datalog profile schema (``hazmon.datalog/1``) for exports the automatic reader cannot
place on its own.

A datalog profile says what a vendor tool's export holds: the table's encoding,
delimiter and header line, which column is which quantity in which unit, whether a row
is an average, a peak, a minimum or an instantaneous value, the time format, and which
rows are events (alarms, bump tests, calibrations, power on/off) rather than readings.
Bundled profiles live in ``config/datalogs/``; each names the manual it follows and what
that manual leaves unconfirmed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hazmon.config.catalogue import load_catalogue
from hazmon.config.errors import ConfigError, bundled_names, read_bundled_toml, read_toml, validate

DATALOG_SCHEMA = "hazmon.datalog/1"
NAMES_SCHEMA = "hazmon.datalog_names/1"

#: What one logged row of a column is.
ValueKind = Literal["average", "peak", "minimum", "instantaneous"]
VALUE_KINDS: tuple[str, ...] = ("average", "peak", "minimum", "instantaneous")


class _Strict(BaseModel):
    # No figure of a datalog profile (set points, offsets) can mean inf or nan.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ColumnNames(_Strict):
    """Header names of the columns that are not quantities (lower case)."""

    timestamp: list[str]
    date: list[str]
    time_of_day: list[str]
    device: list[str]
    quantity: list[str]
    value: list[str]
    unit: list[str]
    quality: list[str]
    event: list[str]
    bookkeeping: list[str]


class ValueKindWords(_Strict):
    """Words in a header or metadata value that say what a logged row is."""

    peak: list[str]
    average: list[str]
    minimum: list[str]
    instantaneous: list[str]


class MetadataKeys(_Strict):
    """Keys of a metadata block above the table, per recognised field."""

    instrument: list[str]
    serial: list[str]
    period: list[str]
    start: list[str]
    end: list[str]
    value_kind: list[str]
    set_points: list[str]
    user: list[str]
    site: list[str]


class DatalogNames(_Strict):
    """``config/datalog_names.toml``: every name the reader matches, as data."""

    datalog_schema: Literal["hazmon.datalog_names/1"] = Field(alias="schema")
    columns: ColumnNames
    filler: list[str]
    quantities: dict[str, str]
    units: dict[str, str]
    value_kinds: ValueKindWords
    metadata: MetadataKeys

    def kind_words(self) -> dict[str, str]:
        """Word (lower case) → value kind."""
        return {
            word.lower(): kind for kind in VALUE_KINDS for word in getattr(self.value_kinds, kind)
        }


@cache
def load_datalog_names() -> DatalogNames:
    """Load the bundled ``datalog_names.toml`` once; its quantities must be catalogued."""
    name, data = read_bundled_toml("datalog_names.toml")
    names = validate(DatalogNames, data, name)
    catalogue = load_catalogue()
    unknown = [
        f"quantities.{key} = {quantity!r}: not in the quantity catalogue"
        for key, quantity in names.quantities.items()
        if quantity not in catalogue.quantities
    ]
    if unknown:
        raise ConfigError(name, unknown)
    return names


class ReadSettings(_Strict):
    """How to find the table in the file (every key optional: the reader finds it)."""

    encoding: str | None = None
    """A Python codec name (``gb18030``, ``utf-16``); detected when absent."""
    delimiter: Literal[",", ";", "\t"] | None = None
    header_line: int | None = Field(default=None, ge=1)
    """1-based line (or worksheet row) of the header; found when absent."""
    sheet: str | None = None
    time_format: str | None = None
    """A ``strftime`` format of the time column (``%d/%m/%Y %H:%M:%S``)."""
    decimal_comma: bool | None = None
    """``12,5`` means 12.5; assumed with ``;`` delimiters when the values look so."""


class ColumnSpec(_Strict):
    """One column of the export.

    ``header`` is the header text exactly (case-insensitive); ``quantity`` a catalogue
    name; ``unit`` the unit its values are in; ``value_kind`` what one row is.
    """

    header: str = Field(min_length=1)
    quantity: str | None = None
    unit: str | None = None
    value_kind: ValueKind | None = None
    role: Literal["timestamp", "date", "time_of_day", "event", "ignore"] | None = None


class EventRows(_Strict):
    """Which rows are events, not readings: ``column`` not blank, or matching ``match``."""

    column: str = Field(min_length=1)
    match: list[str] = Field(default_factory=list)
    """Texts (case-insensitive, substring) that mark an event row; empty: any text."""


class DatalogProfile(_Strict):
    """A ``hazmon.datalog/1`` profile."""

    datalog_schema: Literal["hazmon.datalog/1"] = Field(alias="schema")
    name: str = Field(min_length=1)
    description: str = ""
    follows: str = Field(min_length=1)
    """The manual (title, edition, section, address) whose layout this profile follows."""
    unconfirmed: list[str] = Field(default_factory=list)
    """What the manual does not state and this profile therefore does not assume."""
    value_kind: ValueKind | None = None
    """What a row is when neither the column nor the file says."""
    quantity_value_kinds: dict[str, ValueKind] = Field(default_factory=dict)
    """Per quantity, when the manual says so (a logger keeping the O2 minimum)."""
    read: ReadSettings = ReadSettings()
    columns: list[ColumnSpec] = Field(default_factory=list)
    events: EventRows | None = None

    def column(self, header: str) -> ColumnSpec | None:
        """The spec of ``header`` (case-insensitive), or None."""
        key = header.strip().lower()
        return next((spec for spec in self.columns if spec.header.strip().lower() == key), None)


def _check_profile(profile: DatalogProfile, source: str) -> None:
    catalogue = load_catalogue()
    problems = []
    for index, spec in enumerate(profile.columns):
        if spec.quantity is not None and spec.quantity not in catalogue.quantities:
            valid = ", ".join(sorted(catalogue.quantities))
            problems.append(
                f"columns[{index}].quantity = {spec.quantity!r}: not a catalogue quantity; "
                f"valid: {valid}"
            )
        if spec.quantity is None and spec.role is None:
            problems.append(f"columns[{index}] ({spec.header!r}): give quantity (and unit) or role")
    if problems:
        raise ConfigError(source, problems)


def bundled_datalog_profiles() -> list[str]:
    """Names of the bundled datalog profiles."""
    return bundled_names("datalogs")


def load_datalog_profile(name_or_path: str) -> tuple[str, DatalogProfile]:
    """Load a datalog profile by bundled name or path; return its source and the profile.

    Raises
    ------
    ConfigError
        Naming the file, the key, the bad value and what would be valid.
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        source, data = str(path), read_toml(path)
    else:
        available = bundled_datalog_profiles()
        if name_or_path not in available:
            raise ConfigError(
                name_or_path,
                [
                    "no such datalog profile file, and no bundled one of that name; "
                    f"bundled: {', '.join(available)}; or give a path to a .toml file"
                ],
            )
        source, data = read_bundled_toml(f"datalogs/{name_or_path}.toml")
    version = data.get("schema")
    if version != DATALOG_SCHEMA:
        raise ConfigError(
            source, [f"schema = {version!r}: this hazmon reads schema = {DATALOG_SCHEMA!r}"]
        )
    profile = validate(DatalogProfile, data, source)
    _check_profile(profile, source)
    return source, profile
