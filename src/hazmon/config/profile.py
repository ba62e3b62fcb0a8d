"""The versioned schema of meter profiles (``hazmon.profile/1``) and their loader.

A profile declares a meter model once: for Modbus, which registers hold which
quantity, in what data type and byte/word order, with what scale and offset, and
which status-register bits mean what. Drivers decode with it; simulators encode with
it. Nothing about a meter model is written in code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hazmon.config.catalogue import load_catalogue
from hazmon.config.errors import ConfigError, bundled_names, read_bundled_toml, read_toml, validate
from hazmon.config.quality import FLAG_NAMES

PROFILE_SCHEMA = "hazmon.profile/1"

RegisterKind = Literal["holding", "input", "coil", "discrete_input"]
DataType = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "bit"
]
WordOrder = Literal["ABCD", "BADC", "CDAB", "DCBA"]
InstrumentClass = Literal[
    "gas", "leak", "dust", "noise", "temperature", "distance", "electrical", "vessel_pipe"
]
FlagName = Literal[FLAG_NAMES]  # type: ignore[valid-type]

#: Register kinds read one bit at a time (function codes 01 and 02).
BIT_KINDS: tuple[str, ...] = ("coil", "discrete_input")

#: Registers (16-bit words) each data type occupies; a ``bit`` occupies one register
#: (its bit ``bit``), or one coil or discrete input.
REGISTER_COUNT: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "int64": 4,
    "uint64": 4,
    "float32": 2,
    "float64": 4,
    "bit": 1,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RegisterRef(_Strict):
    """Another register the decoding of a field depends on (a decimal-point register)."""

    register_kind: Literal["holding", "input"] = Field(default="holding", alias="register")
    address: int = Field(ge=0, le=65535)


class Sentinel(_Strict):
    """A raw value the meter sends instead of a measurement, and the flag it means.

    ``value`` is compared with the raw decoded number, before scale, offset and decimal
    point (e.g. ``65535`` for a uint16 ``0xFFFF``, ``-1`` for an int16 ``0xFFFF``).
    A matching reading gets ``flag`` and value NaN, so that 0xFFFF × 0.1 = 6553.5 %LEL
    never reaches the limit rules.
    """

    value: float
    flag: FlagName = "SENSOR_FAULT"


class ModbusField(_Strict):
    """One measured value in the register map.

    The engineering value is ``raw * scale * 10**-n + offset`` in ``unit`` (``n`` read
    from ``decimal_point`` when given, else 0); it is then converted to the quantity's
    canonical unit (see ``quantities.toml``). ``range`` is the instrument's measuring
    range in ``unit``: values outside it get ``OVER_RANGE`` or ``UNDER_RANGE``.
    Coils and discrete inputs are ``type = "bit"``; a ``bit`` in a holding or input
    register names the bit with ``bit`` (0 = least significant).
    """

    channel: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    quantity: str
    substance: str | None = None
    unit: str
    register_kind: RegisterKind = Field(default="holding", alias="register")
    address: int = Field(ge=0, le=65535)
    type: DataType = "uint16"
    order: WordOrder = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    range: tuple[float, float] | None = None
    bit: int | None = Field(default=None, ge=0, le=15)
    decimal_point: RegisterRef | None = None
    sentinels: list[Sentinel] = Field(default_factory=list)

    @property
    def register_count(self) -> int:
        """Number of 16-bit registers (or bits, for coils) the field occupies."""
        return REGISTER_COUNT[self.type]

    @model_validator(mode="after")
    def _check(self) -> Self:
        catalogue = load_catalogue()
        if self.quantity not in catalogue.quantities:
            valid = ", ".join(sorted(catalogue.quantities))
            raise ValueError(f"quantity {self.quantity!r} is not in the catalogue; valid: {valid}")
        catalogue.conversion(self.quantity, self.unit)  # raises with the valid units
        if self.register_kind in BIT_KINDS and self.type != "bit":
            raise ValueError(
                f'a {self.register_kind} holds one bit: set type = "bit" (got {self.type!r})'
            )
        if self.register_kind in BIT_KINDS and (self.bit is not None or self.decimal_point):
            raise ValueError(f"a {self.register_kind} field takes neither bit nor decimal_point")
        if self.register_kind not in BIT_KINDS and self.type == "bit" and self.bit is None:
            raise ValueError("a bit in a register needs bit = 0..15 (0 = least significant)")
        if self.type != "bit" and self.bit is not None:
            raise ValueError(f'bit = {self.bit} is only for type = "bit"')
        if self.address + self.register_count > 65536:
            raise ValueError(f"a {self.type} at address {self.address} runs past register 65535")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [low, high] with low < high")
        return self


class StatusBit(_Strict):
    """A bit of the status register that sets a quality flag when it is 1."""

    bit: int = Field(ge=0, le=15)
    flag: FlagName
    channels: list[str] = Field(
        default_factory=list, description="channels the bit applies to; empty means all"
    )


class StringField(_Strict):
    """Text in registers (model, serial number): two characters per register.

    ``order`` ``ABCD``/``CDAB`` put the first character in the high byte of each
    register, ``BADC``/``DCBA`` in the low byte. Trailing NULs and spaces are dropped.
    """

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    register_kind: Literal["holding", "input"] = Field(default="holding", alias="register")
    address: int = Field(ge=0, le=65535)
    length: int = Field(ge=1, le=125, description="[registers]")
    order: WordOrder = "ABCD"


class StatusRegister(_Strict):
    """A 16-bit register whose bits report the meter's own state."""

    register_kind: Literal["holding", "input"] = Field(default="holding", alias="register")
    address: int = Field(ge=0, le=65535)
    bits: list[StatusBit] = Field(min_length=1)


class ModbusSection(_Strict):
    """The register map of a Modbus meter."""

    max_registers_per_read: int = Field(default=125, ge=1, le=125)
    max_bits_per_read: int = Field(default=2000, ge=1, le=2000)
    gap_fill: int = Field(
        default=4, ge=0, le=124, description="unused registers one read may span [registers]"
    )
    gap_fill_bits: int = Field(
        default=32, ge=0, le=1999, description="unused coils/inputs one read may span [bits]"
    )
    fields: list[ModbusField] = Field(min_length=1)
    status: StatusRegister | None = None
    strings: list[StringField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Self:
        channels = [field.channel for field in self.fields]
        duplicates = sorted({name for name in channels if channels.count(name) > 1})
        if duplicates:
            raise ValueError(f"channel names must be unique; repeated: {', '.join(duplicates)}")
        if self.status is not None:
            for status_bit in self.status.bits:
                unknown = sorted(set(status_bit.channels) - set(channels))
                if unknown:
                    raise ValueError(
                        f"status bit {status_bit.bit} names unknown channels {unknown}; "
                        f"valid: {', '.join(channels)}"
                    )
        return self


class Calibration(_Strict):
    """Calibration metadata of the instrument model (the unit's own date is in the site)."""

    interval_days: int = Field(default=365, ge=1)
    warmup_seconds: float = Field(default=0.0, ge=0)


class Profile(_Strict):
    """A meter model, schema ``hazmon.profile/1``."""

    schema_: Literal["hazmon.profile/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    manufacturer: str = "generic"
    model: str = ""
    instrument_class: InstrumentClass
    calibration: Calibration = Calibration()
    modbus: ModbusSection


def _resolve(name_or_path: str) -> tuple[str, dict[str, object]]:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return str(path), read_toml(path)
    available = bundled_names("profiles")
    if name_or_path not in available:
        raise ConfigError(
            name_or_path,
            [
                "no such profile file, and no bundled profile of that name; "
                f"bundled profiles: {', '.join(available)}; or give a path to a .toml file"
            ],
        )
    return read_bundled_toml(f"profiles/{name_or_path}.toml")


def load_profile(name_or_path: str) -> Profile:
    """Load a profile by bundled name (``generic-4gas``) or by path to a TOML file.

    Raises
    ------
    ConfigError
        Naming the file, the key, the bad value and what would be valid.
    """
    source, data = _resolve(name_or_path)
    version = data.get("schema")
    if version != PROFILE_SCHEMA:
        raise ConfigError(
            source, [f"schema = {version!r}: this hazmon reads schema = {PROFILE_SCHEMA!r}"]
        )
    return validate(Profile, data, source)


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped with hazmon."""
    return bundled_names("profiles")
