"""The versioned schema of meter profiles (``hazmon.profile/1``) and their loader.

A profile declares a meter model once, in exactly one transport section:

- ``[modbus]``: which registers hold which quantity, in what data type and byte/word
  order, with what scale and offset, and which status-register bits mean what;
- ``[frame]``: a built-in binary frame format of a serial sensor module
  (``pms5003``, ``sds011``, ``winsen_ze``) and which frame field feeds which channel;
- ``[ascii]``: a serial meter speaking text, either a stream of lines or answers to a
  query command, parsed by a regular expression with one named group per channel;
- ``[mqtt]``: a wireless meter or gateway publishing JSON: the topic filter, a field
  path per channel and where the timestamp is.

``[[derived]]`` channels are weighted sums of other channels of the same meter (WBGT
from the globe and the natural wet-bulb temperature). :attr:`Profile.channels` lists
every channel, whatever the section. Drivers decode with a profile; simulators encode
with it. Nothing about a meter model is written in code.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
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
    # A scale or range of inf or nan would turn every reading into a fault or a lie.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False
    )


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
    resolution: float | None = Field(default=None, gt=0, description="[unit]")
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


def _check_quantity(quantity: str, unit: str) -> None:
    catalogue = load_catalogue()
    if quantity not in catalogue.quantities:
        valid = ", ".join(sorted(catalogue.quantities))
        raise ValueError(f"quantity {quantity!r} is not in the catalogue; valid: {valid}")
    catalogue.conversion(quantity, unit)  # raises with the valid units


class ChannelField(_Strict):
    """What every non-Modbus channel declares: its name, quantity, unit and the
    instrument's measuring range and resolution.

    The engineering value is ``raw * scale + offset`` in ``unit``; it is then converted
    to the quantity's canonical unit. Values outside ``range`` (in ``unit``) get
    ``OVER_RANGE`` or ``UNDER_RANGE``.
    """

    channel: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    quantity: str
    substance: str | None = None
    unit: str
    scale: float = 1.0
    offset: float = 0.0
    range: tuple[float, float] | None = None
    resolution: float | None = Field(default=None, gt=0, description="[unit]")

    @model_validator(mode="after")
    def _check_channel(self) -> Self:
        _check_quantity(self.quantity, self.unit)
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [low, high] with low < high")
        return self


FrameFormat = Literal["pms5003", "sds011", "winsen_ze"]

#: The fields each built-in frame format carries (see :mod:`hazmon.drivers.frames` for
#: the datasheet layouts). Kept here so that a profile naming an unknown field fails
#: on load, with the valid names.
FRAME_FIELDS: dict[str, tuple[str, ...]] = {
    "pms5003": (
        "pm1_0_cf1",
        "pm2_5_cf1",
        "pm10_cf1",
        "pm1_0",
        "pm2_5",
        "pm10",
        "count_0_3",
        "count_0_5",
        "count_1_0",
        "count_2_5",
        "count_5_0",
        "count_10",
    ),
    "sds011": ("pm2_5", "pm10"),
    "winsen_ze": ("concentration", "full_range", "concentration_mass"),
}


class FrameField(ChannelField):
    """A channel read from a field of a binary frame (``field``, e.g. ``pm2_5``)."""

    field: str


class FrameSection(_Strict):
    """A serial sensor module sending a built-in binary frame format.

    ``mode = "active"``: the module uploads a frame on its own (PMS5003, SDS011,
    Winsen active upload); ``mode = "query"``: it answers the Winsen question
    ``FF 01 86 00 00 00 00 00 79``. ``gas_code`` is the Winsen gas byte of an
    active-upload frame (0x04 CO, ...) and ``full_range`` the full range its uploads
    announce (datasheet, module unit): frames naming another gas or range are noise,
    as is a question's answer in active mode.
    """

    format: FrameFormat
    mode: Literal["active", "query"] = "active"
    gas_code: int | None = Field(default=None, ge=0, le=255)
    full_range: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Winsen upload full range"
    )
    fields: list[FrameField] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        valid = FRAME_FIELDS[self.format]
        for frame_field in self.fields:
            if frame_field.field not in valid:
                raise ValueError(
                    f"frame format {self.format} has no field {frame_field.field!r}; "
                    f"valid: {', '.join(valid)}"
                )
        if self.mode == "query" and self.format != "winsen_ze":
            raise ValueError(f'mode = "query" is for format = "winsen_ze", not {self.format!r}')
        if self.full_range is not None and (self.format != "winsen_ze" or self.mode != "active"):
            raise ValueError('full_range is for format = "winsen_ze", mode = "active"')
        if self.mode == "query" and any(f.field == "full_range" for f in self.fields):
            raise ValueError("the Winsen query answer carries no full_range field")
        return self


class AsciiField(ChannelField):
    """A channel read from the named group ``group`` (default: the channel name) of
    the section's pattern. Text that is no number (``----``, ``OL``) reads NaN with
    ``SENSOR_FAULT``."""

    group: str | None = None

    @property
    def group_name(self) -> str:
        """The regex group holding the value."""
        return self.group or self.channel


class AsciiSection(_Strict):
    """A serial meter speaking text.

    ``mode = "stream"``: the meter prints a line per measurement. ``mode = "query"``:
    hazmon sends ``command`` followed by ``command_terminator`` and reads one answer
    line within ``timeout`` [s]. Lines end with ``terminator``. ``pattern`` is a regular
    expression (Python syntax, searched in the line) with one named group per field;
    ``sample`` is a Python format string the simulators print (channel names as keys),
    and must match ``pattern``.
    """

    mode: Literal["stream", "query"]
    pattern: str
    command: str | None = None
    terminator: str = "\r\n"
    command_terminator: str = "\r\n"
    timeout: float = Field(default=1.0, gt=0, le=60, description="[s]")
    encoding: Literal["ascii", "utf-8", "latin-1"] = "ascii"
    sample: str
    fields: list[AsciiField] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        try:
            compiled = re.compile(self.pattern)
        except re.error as error:
            raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {error}") from None
        missing = sorted({f.group_name for f in self.fields} - set(compiled.groupindex))
        if missing:
            raise ValueError(
                f"pattern has no named group for {missing}; write (?P<{missing[0]}>...)"
            )
        if self.mode == "query" and not self.command:
            raise ValueError('mode = "query" needs command = "..." (e.g. "MEAS?")')
        if self.mode == "stream" and self.command:
            raise ValueError('command is only for mode = "query"')
        if not self.terminator:
            raise ValueError('terminator must not be empty (e.g. "\\r\\n")')
        example = {f.channel: 1.0 for f in self.fields}
        try:
            line = self.sample.format(**example)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
            # A typo in a format spec ("{air.1f}") is an AttributeError, a stray brace
            # a ValueError: each is the profile author's to fix, never a traceback.
            channels = ", ".join(f.channel for f in self.fields)
            raise ValueError(
                f"sample {self.sample!r} is not a format string of the channels: "
                f"{type(error).__name__}: {error}; write e.g. {{{self.fields[0].channel}:.1f}} "
                f"(channels: {channels})"
            ) from None
        if compiled.search(line) is None:
            raise ValueError(f"sample {self.sample!r} gives {line!r}, which pattern does not match")
        return self


def mqtt_topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether ``topic`` matches ``topic_filter`` (MQTT 3.1.1 §4.7: ``+`` one level,
    ``#`` the rest, ``$``-topics only by an explicit first level)."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    if topic.startswith("$") and not topic_filter.startswith("$"):
        return False
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


class MqttField(ChannelField):
    """A channel read from the JSON payload at ``path``: keys joined by dots, list
    indices as numbers (``readings.0.value``). ``null`` or a non-number reads NaN with
    ``SENSOR_FAULT``."""

    path: str = Field(min_length=1)


class MqttSection(_Strict):
    """A meter (or a gateway's sensor) publishing JSON over MQTT.

    ``topic`` is the subscription filter, with ``+``/``#`` wildcards; ``{device}`` in
    it (and in ``publish_topic``) is replaced by the site's device id, so one gateway
    profile serves every sensor behind it. ``publish_topic`` is where the meter
    publishes (simulators use it); it must match ``topic``. The timestamp is read from
    ``timestamp_path`` (``epoch_s``, ``epoch_ms`` or ``iso8601``) or, when it is absent
    from the profile or the payload, taken as the arrival time.
    """

    topic: str = Field(min_length=1)
    publish_topic: str = Field(min_length=1)
    qos: Literal[0, 1, 2] = 1
    timestamp_path: str | None = None
    timestamp_format: Literal["epoch_s", "epoch_ms", "iso8601"] = "epoch_s"
    session_expiry: int = Field(default=3600, ge=0, description="[s] persistent session")
    fields: list[MqttField] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Self:
        levels = self.topic.split("/")
        if any(
            ("#" in level and level != "#") or ("+" in level and level != "+") for level in levels
        ):
            raise ValueError(f"topic {self.topic!r}: + and # must fill a whole level")
        if "#" in levels[:-1]:
            raise ValueError(f"topic {self.topic!r}: # only as the last level")
        if "+" in self.publish_topic or "#" in self.publish_topic:
            raise ValueError(f"publish_topic {self.publish_topic!r} must not hold wildcards")
        probe = "dev-1"
        if not mqtt_topic_matches(
            self.topic.replace("{device}", probe), self.publish_topic.replace("{device}", probe)
        ):
            raise ValueError(f"publish_topic {self.publish_topic!r} does not match {self.topic!r}")
        return self


class DerivedField(_Strict):
    """A channel computed from others of the same meter: ``offset + Σ weight × value``
    over the inputs' values in their profile units (e.g. indoor WBGT = 0.7 t_nw +
    0.3 t_g, GBZ/T 189.7-2007 §4.1 / ISO 7243)."""

    channel: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    quantity: str
    substance: str | None = None
    unit: str
    weights: dict[str, float] = Field(min_length=1)
    offset: float = 0.0
    range: tuple[float, float] | None = None
    resolution: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_channel(self) -> Self:
        _check_quantity(self.quantity, self.unit)
        return self


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel of a profile, whatever its section, in the driver's row order."""

    channel: str
    quantity: str
    substance: str
    unit: str
    range: tuple[float, float] | None
    resolution: float | None
    scale: float = 1.0
    offset: float = 0.0


TransportKind = Literal["modbus", "frame", "ascii", "mqtt"]
TRANSPORT_KINDS: tuple[str, ...] = ("modbus", "frame", "ascii", "mqtt")


class Profile(_Strict):
    """A meter model, schema ``hazmon.profile/1``: exactly one transport section."""

    schema_: Literal["hazmon.profile/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    manufacturer: str = "generic"
    model: str = ""
    instrument_class: InstrumentClass
    calibration: Calibration = Calibration()
    modbus: ModbusSection | None = None
    frame: FrameSection | None = None
    ascii: AsciiSection | None = None
    mqtt: MqttSection | None = None
    derived: list[DerivedField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        present = [kind for kind in TRANSPORT_KINDS if getattr(self, kind) is not None]
        if len(present) != 1:
            raise ValueError(
                "a profile has exactly one transport section, [modbus], [frame], [ascii] "
                f"or [mqtt]; this one has {len(present)}"
                + (f" ({', '.join(present)})" if present else "")
            )
        names = [spec.channel for spec in self.channels]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"channel names must be unique; repeated: {', '.join(repeated)}")
        measured = set(names[: len(names) - len(self.derived)])
        for derived in self.derived:
            unknown = sorted(set(derived.weights) - measured)
            if unknown:
                raise ValueError(
                    f"derived channel {derived.channel} weighs unknown channels {unknown}; "
                    f"valid: {', '.join(sorted(measured))}"
                )
        return self

    @property
    def transport(self) -> TransportKind:
        """Which transport section the profile has."""
        if self.frame is not None:
            return "frame"
        if self.ascii is not None:
            return "ascii"
        if self.mqtt is not None:
            return "mqtt"
        return "modbus"

    @property
    def modbus_map(self) -> ModbusSection:
        """The ``[modbus]`` section.

        Raises
        ------
        ValueError
            For a profile of another transport.
        """
        if self.modbus is None:
            raise ValueError(
                f"profile {self.name} has no [modbus] section: it is a {self.transport} profile"
            )
        return self.modbus

    @property
    def channels(self) -> list[ChannelSpec]:
        """Every channel of the profile in the order drivers return readings: the
        transport section's fields, then the derived channels."""
        specs: list[ChannelSpec] = []
        if self.modbus is not None:
            specs += [
                ChannelSpec(
                    f.channel,
                    f.quantity,
                    f.substance or "",
                    f.unit,
                    f.range,
                    f.resolution,
                    f.scale,
                    f.offset,
                )
                for f in self.modbus.fields
            ]
        section = self.frame or self.ascii or self.mqtt
        if section is not None:
            fields: list[ChannelField] = list(section.fields)
            specs += [
                ChannelSpec(
                    f.channel,
                    f.quantity,
                    f.substance or "",
                    f.unit,
                    f.range,
                    f.resolution,
                    f.scale,
                    f.offset,
                )
                for f in fields
            ]
        specs += [
            ChannelSpec(d.channel, d.quantity, d.substance or "", d.unit, d.range, d.resolution)
            for d in self.derived
        ]
        return specs


def looks_like_path(name_or_path: str) -> bool:
    """Whether ``name_or_path`` names a file rather than a bundled profile.

    A name the file system cannot even look up (longer than a file name may be, a NUL
    byte) names no file: it is taken as a bundled name and refused as unknown.
    """
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return True
    try:
        return Path(name_or_path).exists()
    except (OSError, ValueError):
        return False


def _resolve(name_or_path: str) -> tuple[str, dict[str, object]]:
    path = Path(name_or_path)
    if looks_like_path(name_or_path):
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


def load_profile_cached(name_or_path: str) -> Profile:
    """:func:`load_profile`, once per file version: a site of many meters of one model
    reads and validates its profile once (a file edited since is read again).

    Raises
    ------
    ConfigError
        As :func:`load_profile`.
    """
    path = Path(name_or_path)
    version: tuple[int, int] | None = None
    if looks_like_path(name_or_path):
        try:
            stat = path.stat()
            version = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            return load_profile(name_or_path)  # its error names the file
    return _load_profile_version(name_or_path, version)


@functools.lru_cache(maxsize=256)
def _load_profile_version(name_or_path: str, version: tuple[int, int] | None) -> Profile:
    return load_profile(name_or_path)


def bundled_profiles() -> list[str]:
    """Names of the profiles shipped with hazmon."""
    return bundled_names("profiles")
