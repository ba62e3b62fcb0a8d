"""Threshold tables with citations (``hazmon.standards/1``) and their loader.

Each rule row names its standard, clause and how far its value is confirmed; set
points given relative to an occupational exposure limit (OEL) in mg/m³ are resolved
to the quantity's canonical unit at the table's reference state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hazmon.config.catalogue import load_catalogue
from hazmon.config.errors import ConfigError, bundled_names, read_bundled_toml, validate

Confirmed = Literal["confirmed", "secondary", "unconfirmed"]
Direction = Literal["above", "below"]

#: Molar volume of an ideal gas at 0 °C and 101.325 kPa [L/mol].
MOLAR_VOLUME_STP = 22.414


def molar_volume(temperature_c: float, pressure_kpa: float) -> float:
    """Molar volume of an ideal gas [L/mol] at ``temperature_c`` [°C], ``pressure_kpa`` [kPa].

    ``V_m = 22.414 × (273.15 + t)/273.15 × 101.325/P`` (STANDARDS.md, ppm ↔ mg/m³).
    """
    return MOLAR_VOLUME_STP * (273.15 + temperature_c) / 273.15 * 101.325 / pressure_kpa


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OccupationalLimit(_Strict):
    """The OEL a toxic set point is relative to, with its own citation."""

    value: float = Field(gt=0)
    unit: Literal["mg/m³", "ppm"]
    basis: Literal["MAC", "PC-STEL", "PC-TWA"]
    standard: str
    clause: str
    confirmed: Confirmed


class SetPointSpec(_Strict):
    """One level's threshold: exactly one of ``above``, ``below``, ``above_oel``."""

    level: int = Field(ge=1, le=3)
    above: float | None = None
    below: float | None = None
    above_oel: float | None = Field(default=None, gt=0, description="multiple of the OEL")

    @model_validator(mode="after")
    def _one_threshold(self) -> Self:
        given = [
            name for name in ("above", "below", "above_oel") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of above, below, above_oel for level {self.level}; got {given}"
            )
        return self


class RuleSpec(_Strict):
    """A limit rule row as written in a standards table."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    quantity: str
    clause: str
    confirmed: Confirmed
    set_points: list[SetPointSpec] = Field(min_length=1)
    unit: str | None = None
    oel: OccupationalLimit | None = None
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Self:
        catalogue = load_catalogue()
        spec = catalogue.spec(self.quantity)
        uses_oel = any(point.above_oel is not None for point in self.set_points)
        if uses_oel and self.oel is None:
            raise ValueError("set points use above_oel but the rule has no oel table")
        if uses_oel and self.oel is not None and self.oel.unit == "mg/m³" and not spec.molar_mass:
            raise ValueError(f"quantity {self.quantity!r} has no molar_mass to convert mg/m³")
        uses_value = any(point.above_oel is None for point in self.set_points)
        if uses_value and self.unit is None:
            raise ValueError("set points with above/below need the rule's unit")
        if self.unit is not None:
            catalogue.conversion(self.quantity, self.unit)
        return self


class StandardsTable(_Strict):
    """A threshold table file."""

    schema_: Literal["hazmon.standards/1"] = Field(alias="schema")
    standard: str
    title: str
    reference_temperature: float = 20.0
    reference_pressure: float = Field(default=101.325, gt=0)
    rules: list[RuleSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class SetPoint:
    """A resolved threshold in the quantity's canonical unit."""

    level: int
    direction: Direction
    value: float


@dataclass(frozen=True, slots=True)
class LimitRule:
    """A resolved limit rule: thresholds in canonical units, with the citation."""

    id: str
    quantity: str
    unit: str
    standard: str
    clause: str
    confirmed: str
    set_points: tuple[SetPoint, ...]
    note: str = ""

    @property
    def citation(self) -> str:
        """``standard §clause``, for messages and hazard records."""
        return f"{self.standard} §{self.clause}"


def _resolve(table: StandardsTable, rule: RuleSpec) -> LimitRule:
    catalogue = load_catalogue()
    spec = catalogue.spec(rule.quantity)
    points = []
    for point in rule.set_points:
        if point.above_oel is not None:
            assert rule.oel is not None  # checked by RuleSpec
            oel = rule.oel.value
            if rule.oel.unit == "mg/m³":
                assert spec.molar_mass is not None
                volume = molar_volume(table.reference_temperature, table.reference_pressure)
                oel = oel * volume / spec.molar_mass  # mg/m³ -> ppm
            points.append(SetPoint(point.level, "above", point.above_oel * oel))
        else:
            assert rule.unit is not None
            conversion = catalogue.conversion(rule.quantity, rule.unit)
            raw = point.above if point.above is not None else point.below
            assert raw is not None
            direction: Direction = "above" if point.above is not None else "below"
            points.append(
                SetPoint(point.level, direction, raw * conversion.scale + conversion.offset)
            )
    return LimitRule(
        id=rule.id,
        quantity=rule.quantity,
        unit=spec.unit,
        standard=table.standard,
        clause=rule.clause,
        confirmed=rule.confirmed,
        set_points=tuple(points),
        note=rule.note,
    )


@cache
def load_standards_table(name: str) -> tuple[LimitRule, ...]:
    """Load a bundled standards table (``gbt50493-2019``) and resolve its rules."""
    available = bundled_names("standards")
    if name not in available:
        raise ConfigError(name, [f"no bundled standards table; available: {', '.join(available)}"])
    source, data = read_bundled_toml(f"standards/{name}.toml")
    table = validate(StandardsTable, data, source)
    ids = [rule.id for rule in table.rules]
    repeated = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
    if repeated:
        raise ConfigError(source, [f"rules: ids must be unique; repeated: {', '.join(repeated)}"])
    return tuple(_resolve(table, rule) for rule in table.rules)


def rules_by_quantity(table_names: tuple[str, ...]) -> dict[str, LimitRule]:
    """The instantaneous limit rule for each quantity, from the named tables.

    A later table's rule for the same quantity replaces an earlier one's.
    """
    rules: dict[str, LimitRule] = {}
    for name in table_names:
        for rule in load_standards_table(name):
            rules[rule.quantity] = rule
    return rules
