"""Threshold tables with citations (``hazmon.standards/1``) and their loader.

A table holds two kinds of row, each naming its standard, clause and how far its
value is confirmed (``confirmed``, ``secondary`` or ``unconfirmed``, as
``docs/standards.md`` grades it):

``[[rules]]``
    Alarm set points (several levels, upper or lower) for one quantity. Set points
    given relative to an occupational exposure limit (OEL) in mg/m³ are resolved to
    the quantity's canonical unit at the table's reference state.
``[[limits]]``
    One limit value each, of a named ``kind`` (``mac``, ``pc_twa``, ``pc_stel``,
    ``lex_8h``, ``wbgt``, ``upper``, ``lower`` ...), with qualifiers in ``where``
    (labour intensity, impulse count, component ...). Values stay in the unit the
    standard gives; :mod:`hazmon.analysis` converts them.

A site config overrides or adds ``limits`` rows by id (:class:`SiteLimits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    clause: str | None = Field(default=None, description="this level's clause, if its own")

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


#: The kinds of ``[[limits]]`` row and what their value means.
LIMIT_KINDS: dict[str, str] = {
    "mac": "maximum allowable concentration, compared with every reading",
    "pc_twa": "permissible concentration, 8-hour time-weighted average",
    "pc_stel": "permissible concentration, 15-minute short-term exposure limit",
    "excursion_factor": "multiple of PC-TWA an excursion is counted above",
    "excursion_cap_factor": "multiple of PC-TWA never to be exceeded",
    "excursion_max_duration": "longest allowed excursion [min]",
    "excursion_max_count": "most excursions allowed a day",
    "excursion_min_spacing": "shortest allowed time between excursions [min]",
    "mixture_index": "largest allowed sum of C_i / OEL_i",
    "action_fraction": "fraction of the OEL that is the action level",
    "lex_8h": "daily noise exposure level L_EX,8h",
    "lex_40h": "weekly noise exposure level L_EX,40h",
    "impulse_peak": "impulse-noise peak for a daily impulse count (where.max_impulses)",
    "short_shift_noise": "L_Aeq limit for a shorter shift (where.shift_hours)",
    "wbgt": "WBGT limit by labour intensity and exposure-time rate",
    "wbgt_hot_outdoor_allowance": "WBGT allowance where the outdoor design temperature ≥ 30 °C",
    "upper": "instantaneous upper limit: a reading above it fails",
    "lower": "instantaneous lower limit: a reading below it fails",
    "surface_temperature_max": "maximum surface temperature of an Ex temperature class",
    "rcd_trip_current": "largest rated residual operating current IΔn",
    "rcd_trip_time": "longest residual-current trip time [s]",
    "rcd_current_time_product": "largest IΔn · t [mA·s]",
    "leak_definition": "screening value at or above which a component leaks",
    "repair_threshold": "screening value at or above which a leak must be repaired",
    "next_inspection_max": "longest interval to the next thickness inspection [years]",
    "remaining_life_fraction": "fraction of the remaining life to the next inspection",
    "required_thickness": "required minimum wall thickness of one item",
}

LimitKind = Literal[
    "mac",
    "pc_twa",
    "pc_stel",
    "excursion_factor",
    "excursion_cap_factor",
    "excursion_max_duration",
    "excursion_max_count",
    "excursion_min_spacing",
    "mixture_index",
    "action_fraction",
    "lex_8h",
    "lex_40h",
    "impulse_peak",
    "short_shift_noise",
    "wbgt",
    "wbgt_hot_outdoor_allowance",
    "upper",
    "lower",
    "surface_temperature_max",
    "rcd_trip_current",
    "rcd_trip_time",
    "rcd_current_time_product",
    "leak_definition",
    "repair_threshold",
    "next_inspection_max",
    "remaining_life_fraction",
    "required_thickness",
]


class LimitSpec(_Strict):
    """One ``[[limits]]`` row as written in a standards table or a site config."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    kind: LimitKind
    clause: str = Field(min_length=1)
    confirmed: Confirmed
    value: float | None = None
    unit: str = ""
    quantity: str | None = None
    substance: str = ""
    molar_mass: float | None = Field(default=None, gt=0, description="[g/mol]")
    device: str | None = None
    standard: str | None = None
    default: bool = True
    where: dict[str, str | float | int | bool] = Field(default_factory=dict)
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.value is None and self.confirmed != "unconfirmed":
            raise ValueError("a row without a value must be confirmed = 'unconfirmed'")
        if self.quantity is not None:
            load_catalogue().spec(self.quantity)
        return self


class StandardsTable(_Strict):
    """A threshold table file."""

    schema_: Literal["hazmon.standards/1"] = Field(alias="schema")
    standard: str
    title: str
    reference_temperature: float = 20.0
    reference_pressure: float = Field(default=101.325, gt=0)
    rules: list[RuleSpec] = Field(default_factory=list)
    limits: list[LimitSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.rules and not self.limits:
            raise ValueError("a standards table needs at least one [[rules]] or [[limits]] row")
        return self


@dataclass(frozen=True, slots=True)
class SetPoint:
    """A resolved threshold in the quantity's canonical unit."""

    level: int
    direction: Direction
    value: float
    #: The level's own clause ("" : the rule's).
    clause: str = ""


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
    #: What the set points rest on (the OEL, its citation and the reference state).
    basis: str = ""

    @property
    def citation(self) -> str:
        """``standard §clause``, for messages and hazard records."""
        return f"{self.standard} §{self.clause}"


#: How a toxic set point picks its OEL from GBZ 2.1-2019 (a site setting).
OelBasis = Literal["mac_else_twa", "mac_else_stel_else_twa", "table"]
#: The default: MAC where the substance has one, else PC-TWA, as the GB/T 50493-2019
#: appendix table reproduced by secondary sources gives it (CO A1/A2 20/40 mg/m³);
#: see docs/standards.md.
DEFAULT_OEL_BASIS: OelBasis = "mac_else_twa"
_BASIS_ORDER: dict[str, tuple[str, ...]] = {
    "mac_else_twa": ("mac", "pc_twa"),
    "mac_else_stel_else_twa": ("mac", "pc_stel", "pc_twa"),
}
_BASIS_NAMES = {"mac": "MAC", "pc_twa": "PC-TWA", "pc_stel": "PC-STEL"}


def _chosen_oel(rule: RuleSpec, basis: str) -> OccupationalLimit | None:
    """The rule's OEL under ``basis``, from the bundled GBZ 2.1-2019 rows."""
    if rule.oel is None or basis == "table":
        return rule.oel
    rows = {
        row.kind: row
        for row in load_limit_rows("gbz2.1-2019")
        if row.quantity == rule.quantity and row.default and row.value is not None
    }
    for kind in _BASIS_ORDER[basis]:
        row = rows.get(kind)
        if row is not None and row.value is not None and row.unit in ("mg/m³", "ppm"):
            unit: Literal["mg/m³", "ppm"] = "ppm" if row.unit == "ppm" else "mg/m³"
            confirmed: Confirmed = (
                "secondary"
                if row.confirmed == "secondary"
                else "confirmed"
                if row.confirmed == "confirmed"
                else "unconfirmed"
            )
            return OccupationalLimit(
                value=row.value,
                unit=unit,
                basis=_BASIS_NAMES[kind],
                standard=row.standard,
                clause=row.clause,
                confirmed=confirmed,
            )
    return rule.oel


def _resolve(
    table: StandardsTable,
    rule: RuleSpec,
    reference_temperature: float | None = None,
    reference_pressure: float | None = None,
    oel_basis: str = "table",
) -> LimitRule:
    catalogue = load_catalogue()
    spec = catalogue.spec(rule.quantity)
    temperature = (
        table.reference_temperature if reference_temperature is None else reference_temperature
    )
    pressure = table.reference_pressure if reference_pressure is None else reference_pressure
    chosen = _chosen_oel(rule, oel_basis)
    basis = ""
    points = []
    for point in rule.set_points:
        if point.above_oel is not None:
            assert chosen is not None  # checked by RuleSpec
            oel = chosen.value
            if chosen.unit == "mg/m³":
                assert spec.molar_mass is not None
                volume = molar_volume(temperature, pressure)
                oel = oel * volume / spec.molar_mass  # mg/m³ -> ppm
            basis = (
                f"{chosen.basis} {chosen.value:g} {chosen.unit} ({chosen.standard} "
                f"{chosen.clause}, {chosen.confirmed}) = {oel:.4g} {spec.unit} at "
                f"{temperature:g} °C, {pressure:g} kPa; OEL basis {oel_basis}"
            )
            points.append(SetPoint(point.level, "above", point.above_oel * oel, point.clause or ""))
        else:
            assert rule.unit is not None
            conversion = catalogue.conversion(rule.quantity, rule.unit)
            raw = point.above if point.above is not None else point.below
            assert raw is not None
            direction: Direction = "above" if point.above is not None else "below"
            points.append(
                SetPoint(
                    point.level,
                    direction,
                    raw * conversion.scale + conversion.offset,
                    point.clause or "",
                )
            )
    if not basis:
        basis = f"set points as the clause gives them [{rule.unit}]"
    return LimitRule(
        id=rule.id,
        quantity=rule.quantity,
        unit=spec.unit,
        standard=table.standard,
        clause=rule.clause,
        confirmed=rule.confirmed,
        set_points=tuple(points),
        note=rule.note,
        basis=basis,
    )


@cache
def _load_table(name: str) -> StandardsTable:
    available = bundled_names("standards")
    if name not in available:
        raise ConfigError(name, [f"no bundled standards table; available: {', '.join(available)}"])
    source, data = read_bundled_toml(f"standards/{name}.toml")
    table = validate(StandardsTable, data, source)
    ids = [rule.id for rule in table.rules] + [limit.id for limit in table.limits]
    repeated = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
    if repeated:
        raise ConfigError(source, [f"rules: ids must be unique; repeated: {', '.join(repeated)}"])
    return table


@cache
def load_standards_table(name: str) -> tuple[LimitRule, ...]:
    """Load a bundled standards table (``gbt50493-2019``) and resolve its set-point rules.

    A table with only ``[[limits]]`` rows yields no rules.
    """
    table = _load_table(name)
    return tuple(_resolve(table, rule) for rule in table.rules)


@cache
def resolved_rules(
    name: str, reference_temperature: float, reference_pressure: float, oel_basis: str
) -> tuple[LimitRule, ...]:
    """A table's rules at a site's reference state and OEL basis (see :class:`SiteLimits`)."""
    table = _load_table(name)
    return tuple(
        _resolve(table, rule, reference_temperature, reference_pressure, oel_basis)
        for rule in table.rules
    )


@dataclass(frozen=True, slots=True)
class LimitRow:
    """A ``[[limits]]`` row with its citation resolved.

    ``value`` is in ``unit`` as the standard gives it (``mg/m³`` for GBZ 2.1 OELs);
    ``None`` where the value was not found (then ``confirmed`` is ``unconfirmed``).
    """

    id: str
    kind: str
    standard: str
    clause: str
    confirmed: str
    value: float | None
    unit: str
    quantity: str | None = None
    substance: str = ""
    molar_mass: float | None = None
    device: str | None = None
    default: bool = True
    where: tuple[tuple[str, str | float | int | bool], ...] = ()
    note: str = ""
    source: str = ""

    @property
    def citation(self) -> str:
        """``standard §clause``, for verdicts and hazard records."""
        return f"{self.standard} §{self.clause}"

    def qualifier(self, key: str) -> str | float | int | bool | None:
        """The ``where`` qualifier ``key``, or ``None``."""
        return dict(self.where).get(key)


def _row(spec: LimitSpec, standard: str, source: str) -> LimitRow:
    molar_mass = spec.molar_mass
    if molar_mass is None and spec.quantity is not None:
        molar_mass = load_catalogue().spec(spec.quantity).molar_mass
    return LimitRow(
        id=spec.id,
        kind=spec.kind,
        standard=spec.standard or standard,
        clause=spec.clause,
        confirmed=spec.confirmed,
        value=spec.value,
        unit=spec.unit,
        quantity=spec.quantity,
        substance=spec.substance,
        molar_mass=molar_mass,
        device=spec.device,
        default=spec.default,
        where=tuple(sorted(spec.where.items())),
        note=spec.note,
        source=source,
    )


def bundled_standards() -> list[str]:
    """Names of the bundled standards tables."""
    return bundled_names("standards")


@cache
def load_limit_rows(name: str) -> tuple[LimitRow, ...]:
    """The ``[[limits]]`` rows of a bundled standards table, resolved."""
    table = _load_table(name)
    return tuple(_row(spec, table.standard, name) for spec in table.limits)


#: Alarm levels as a site names them (GB/T 50493-2019: A1, A2).
AlarmLevelName = Literal["A1", "A2", "critical"]


def _default_latching() -> dict[str, list[AlarmLevelName]]:
    """The combustible-gas A2 alarm latches (GB/T 50493-2019 practice)."""
    return {"lel": ["A2"]}


class SiteLimits(_Strict):
    """Per-site limit settings (``[limits]`` in a site config).

    ``rows`` replace bundled ``[[limits]]`` rows of the same id or add new ones (a
    site's stricter internal limit, the required thickness of one vessel); ``select``
    applies rows that are off by default (a leak definition for pumps); the rest picks
    the matrix cells that depend on the workplace.
    """

    rows: list[LimitSpec] = Field(default_factory=list)
    select: list[str] = Field(default_factory=list)
    tables: tuple[str, ...] | None = None
    reference_temperature: float = Field(default=20.0, description="[°C] for ppm ↔ mg/m³")
    reference_pressure: float = Field(default=101.325, gt=0, description="[kPa]")
    labour_intensity: Literal["I", "II", "III", "IV"] | None = None
    exposure_rate: float | None = Field(default=None, gt=0, le=100, description="[%]")
    hot_outdoor_design: bool = False
    temperature_class: Literal["T1", "T2", "T3", "T4", "T5", "T6"] | None = None
    standard: str = "site"
    oel_basis: OelBasis = Field(
        default=DEFAULT_OEL_BASIS,
        description="OEL of toxic set points: mac_else_twa, mac_else_stel_else_twa or table",
    )
    a1_is_hazard: bool = Field(default=False, description="A1 events become hazards too")
    shift_break_hours: float = Field(
        default=2.0, gt=0, description="[h] a longer pause between readings starts a new shift"
    )
    shift_start: str | None = Field(
        default=None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="declared local shift start HH:MM; shifts are 24 h from it",
    )
    shift_hours: float = Field(default=8.0, gt=0, le=24, description="[h] nominal shift")
    min_coverage: float = Field(
        default=1.0, ge=0, le=1, description="sampled fraction below which a pass is not judged"
    )
    work_days_per_week: int | None = Field(default=None, ge=1, le=7)
    alarm_hysteresis: dict[str, float] = Field(
        default_factory=dict,
        description="[canonical unit] per quantity: an alarm clears only this far past "
        "its set point (lel = 3.0)",
    )
    alarm_min_seconds: dict[str, float] = Field(
        default_factory=dict,
        description="[s] per quantity: a set point must be passed this long to alarm",
    )
    alarm_latching: dict[str, list[AlarmLevelName]] = Field(
        default_factory=_default_latching,
        description="levels per quantity that stay raised until acknowledged",
    )

    @field_validator("alarm_hysteresis", "alarm_min_seconds")
    @classmethod
    def _not_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for quantity, amount in value.items():
            if not amount >= 0:
                raise ValueError(f"{quantity} = {amount}: must be 0 or more")
        return value

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            _load_table(name)
        return value


#: The tables whose ``[[limits]]`` rows apply unless a site names others.
DEFAULT_LIMIT_TABLES = (
    "gbz2.1-2019",
    "gbz2.2-2007",
    "ex-temperature-classes",
    "electrical",
    "leaks",
    "wall-thickness",
)


def effective_limit_rows(site: SiteLimits | None = None) -> tuple[LimitRow, ...]:
    """The limit rows that apply: bundled rows, replaced or extended by the site's.

    Rows with ``default = false`` apply only when the site names their id in
    ``select``. A site row with the id of a bundled row replaces it.
    """
    site = site or SiteLimits()
    rows: dict[str, LimitRow] = {}
    for name in site.tables or DEFAULT_LIMIT_TABLES:
        for row in load_limit_rows(name):
            rows[row.id] = row
    for spec in site.rows:
        rows[spec.id] = _row(spec, site.standard, "site")
    selected = set(site.select)
    return tuple(row for row in rows.values() if row.default or row.id in selected)


def rules_by_quantity(
    table_names: tuple[str, ...], site: SiteLimits | None = None
) -> dict[str, LimitRule]:
    """The instantaneous limit rule for each quantity, from the named tables.

    A later table's rule for the same quantity replaces an earlier one's. Set points
    relative to an OEL follow the site's ``reference_temperature``, ``reference_pressure``
    and ``oel_basis`` (defaults: 20 °C, 101.325 kPa, MAC else PC-TWA).
    """
    site = site or SiteLimits()
    rules: dict[str, LimitRule] = {}
    for name in table_names:
        for rule in resolved_rules(
            name, site.reference_temperature, site.reference_pressure, site.oel_basis
        ):
            rules[rule.quantity] = rule
    return rules
