"""The quantity catalogue: canonical units and the unit conversions applied on entry."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hazmon.config.errors import ConfigError, read_bundled_toml, validate


class UnknownUnitError(ValueError):
    """A quantity or unit the catalogue does not know; the message lists the valid ones."""


class LinearConversion(BaseModel):
    """``canonical = value * scale + offset``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scale: float
    offset: float = 0.0


class QuantitySpec(BaseModel):
    """One quantity: its canonical unit and the other units accepted for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unit: str
    name: str
    molar_mass: float | None = Field(default=None, gt=0, description="[g/mol]")
    units: dict[str, LinearConversion] = Field(default_factory=dict)


class QuantityCatalogue(BaseModel):
    """All quantities hazmon knows, keyed by canonical name (``lel``, ``co``, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_: Literal["hazmon.quantities/1"] = Field(alias="schema")
    quantities: dict[str, QuantitySpec]

    def spec(self, quantity: str) -> QuantitySpec:
        """Return the spec of ``quantity``; :class:`UnknownUnitError` names the valid ones."""
        try:
            return self.quantities[quantity]
        except KeyError:
            valid = ", ".join(sorted(self.quantities))
            raise UnknownUnitError(f"unknown quantity {quantity!r}; valid: {valid}") from None

    def conversion(self, quantity: str, unit: str) -> LinearConversion:
        """The conversion from ``unit`` to the canonical unit of ``quantity``.

        Raises
        ------
        UnknownUnitError
            When the unit is not known for the quantity; the message lists the valid units.
        """
        spec = self.spec(quantity)
        if unit == spec.unit:
            return LinearConversion(scale=1.0)
        try:
            return spec.units[unit]
        except KeyError:
            valid = ", ".join([spec.unit, *spec.units])
            raise UnknownUnitError(
                f"unit {unit!r} is not known for quantity {quantity!r}; valid: {valid}"
            ) from None


@cache
def load_catalogue() -> QuantityCatalogue:
    """Load the bundled catalogue (``hazmon/config/quantities.toml``), once."""
    name, data = read_bundled_toml("quantities.toml")
    catalogue = validate(QuantityCatalogue, data, name)
    if not catalogue.quantities:
        raise ConfigError(name, ["quantities: empty; the catalogue needs at least one"])
    return catalogue
