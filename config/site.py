"""Site configs (``hazmon.site/1``): the enterprise, its meters and, for simulated
sites, the scenario each simulated meter plays."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from hazmon.config.addresses import (
    MqttAddress,
    RtuOverTcpAddress,
    SerialAddress,
    SerialPortAddress,
    TcpAddress,
    parse_any_address,
)
from hazmon.config.errors import ConfigError, bundled_names, read_bundled_toml, read_toml, validate
from hazmon.config.profile import Profile, TransportKind, load_profile_cached, looks_like_path
from hazmon.config.standards import SiteLimits, load_standards_table

SITE_SCHEMA = "hazmon.site/1"

DEFAULT_TIME_ZONE = "Asia/Shanghai"


def end_of_day_ns(day: dt.date, zone: str) -> int:
    """The first instant after ``day`` in ``zone`` [ns UTC].

    A date-only calibration due date holds until 23:59:59 local time on that day: an
    instrument due on 2026-03-31 in Asia/Shanghai is valid until 2026-03-31T16:00:00Z,
    not until midnight UTC, eight hours later.
    """
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(zone))
    return round(midnight.timestamp()) * 1_000_000_000


class _Strict(BaseModel):
    # inf and nan are no figure a site can mean (backoff_max = inf would wait forever).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def parse_tcp_address(address: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` or ``tcp://HOST:PORT`` (IPv6 as ``[::1]:502``).

    Raises
    ------
    ValueError
        With the accepted forms, when ``address`` is not one of them.
    """
    text = address.removeprefix("tcp://")
    host, separator, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(
            f"address {address!r} is not HOST:PORT or tcp://HOST:PORT (port 1-65535), "
            "e.g. 127.0.0.1:502"
        )
    return host, int(port_text)


class SignalEvent(_Strict):
    """A transient added to a channel's baseline: it rises linearly over ``rise``
    seconds to ``amplitude``, holds for ``hold`` seconds, then decays exponentially
    with time constant ``decay`` seconds. ``kind`` says what it stands for; a ``dip``
    subtracts its amplitude."""

    kind: Literal["leak", "dip"]
    start: float = Field(ge=0, description="[s] after the scenario starts")
    rise: float = Field(default=2.0, gt=0, description="[s]")
    hold: float = Field(default=2.0, ge=0, description="[s]")
    decay: float = Field(default=2.0, gt=0, description="[s] time constant")
    amplitude: float = Field(gt=0, description="in the channel's profile unit")


class SensorFault(_Strict):
    """A sensor fault a simulated channel plays from ``start`` for ``duration`` seconds
    of scenario time: ``stuck`` holds the value it had at ``start``; ``dropout`` sends
    no value (no frame, ``----`` in text, ``null`` in JSON); ``negative`` reads
    ``-value``; ``spike`` reads ``value`` (past the range: an over-range spike)."""

    kind: Literal["stuck", "dropout", "negative", "spike"]
    start: float = Field(ge=0, description="[s] after the scenario starts")
    duration: float = Field(gt=0, description="[s]")
    value: float = Field(default=0.0, description="in the channel's profile unit")


class ChannelScenario(_Strict):
    """What one simulated channel reads: baseline, linear drift, Gaussian noise, events
    and sensor faults."""

    baseline: float = 0.0
    noise: float = Field(default=0.0, ge=0, description="standard deviation")
    drift: float = Field(default=0.0, description="[profile unit/period], restarting each period")
    events: list[SignalEvent] = Field(default_factory=list)
    faults: list[SensorFault] = Field(default_factory=list)


class StatusFault(_Strict):
    """A status-register bit the simulator sets from ``start`` for ``duration`` seconds."""

    bit: int = Field(ge=0, le=15)
    start: float = Field(ge=0)
    duration: float = Field(gt=0)


FaultKind = Literal[
    "no_reply",
    "late_reply",
    "exception",
    "bad_crc",
    "split_frame",
    "garbage",
    "wrong_unit_id",
    "disconnect",
    "truncated_frame",
    "malformed_json",
]


class FaultInjection(_Strict):
    """A link fault the simulated meter plays from ``start`` for ``duration`` seconds
    of scenario time (wrapped by the period, like the channel events).

    ``no_reply``: stays silent. ``late_reply``: answers ``delay`` seconds late.
    ``exception``: answers exception ``code`` (2, 4, 6 or 11 = 0x0B). ``bad_crc``: the
    reply's CRC is wrong (RTU framings). ``split_frame``: the reply comes in two parts
    ``delay`` seconds apart. ``garbage``: line noise instead of a reply (RTU).
    ``wrong_unit_id``: the reply carries another unit id (RTU). ``disconnect``: a TCP
    link is closed; on a serial line the meter drops off the line (no reply); an MQTT
    meter drops its broker connection and connects again. Frame and ASCII meters:
    ``garbage`` adds noise bytes before each frame or line, ``bad_crc`` corrupts the
    checksum, ``truncated_frame`` cuts each frame short; ``malformed_json`` publishes
    broken JSON (MQTT).
    """

    kind: FaultKind
    start: float = Field(default=0.0, ge=0, description="[s] of scenario time")
    duration: float = Field(default=1e9, gt=0, description="[s]")
    code: int | None = Field(default=None, description="exception code, for kind exception")
    delay: float = Field(default=0.5, ge=0, description="[s] for late_reply and split_frame")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind == "exception" and self.code not in (1, 2, 3, 4, 6, 11):
            raise ValueError(
                f"fault exception needs code = 1, 2, 3, 4, 6 or 11 (0x0B); got {self.code}"
            )
        if self.kind != "exception" and self.code is not None:
            raise ValueError(f'code is only for kind = "exception", not {self.kind!r}')
        return self


class Simulation(_Strict):
    """The scenario a simulated meter plays; it repeats every ``period`` seconds."""

    seed: int = 0
    period: float = Field(default=60.0, gt=0, description="[s]")
    channels: dict[str, ChannelScenario] = Field(default_factory=dict)
    status_faults: list[StatusFault] = Field(default_factory=list)
    faults: list[FaultInjection] = Field(default_factory=list)


class _Device(_Strict):
    """What every meter of a site has, whatever its transport.

    The transport is the profile's (its one transport section): :data:`DeviceConfig`
    picks :class:`ModbusDevice`, :class:`SerialDevice` or :class:`MqttDevice` from it, so
    a key that belongs to another transport (``unit_id`` on an MQTT meter) is an
    unknown key, named in the error, rather than silently ignored.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    profile: str = Field(
        description="bundled profile name, or a .toml path (relative paths are taken from "
        "the site file's folder)"
    )
    address: str
    poll_interval: float = Field(default=1.0, gt=0, le=3600, description="[s]")
    timeout: float = Field(default=1.0, gt=0, le=60, description="[s]")
    backoff_initial: float = Field(
        default=2.0, gt=0, description="[s] first wait before asking a silent meter again"
    )
    backoff_max: float = Field(default=60.0, gt=0, le=86400, description="[s] longest such wait")
    location: str = ""
    calibration_due: dt.date | None = None
    warmup_seconds: float | None = Field(
        default=None,
        ge=0,
        description="[s] readings this long after hazmon opens the link get WARMUP; "
        "the profile's warm-up time by default (set 0 for a meter switched on earlier)",
    )
    simulation: Simulation | None = None

    #: Transports whose profiles this device type serves.
    transports: ClassVar[frozenset[TransportKind]] = frozenset()

    @property
    def loaded_profile(self) -> Profile:
        """The device's profile, loaded once per file version (see
        :func:`hazmon.config.profile.load_profile_cached`)."""
        return load_profile_cached(self.profile)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_any_address(value)  # every transport: see hazmon.config.addresses
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        profile = load_profile_cached(value)
        if cls.transports and profile.transport not in cls.transports:
            raise ValueError(  # pragma: no cover - the discriminator picked this type
                f"profile {profile.name} is a {profile.transport} profile"
            )
        return value

    @model_validator(mode="after")
    def _check_device(self) -> Self:
        if self.backoff_initial > self.backoff_max:
            raise ValueError(
                f"backoff_initial ({self.backoff_initial} s) must not exceed "
                f"backoff_max ({self.backoff_max} s)"
            )
        expected = ADDRESS_FORMS[self.loaded_profile.transport]
        address = parse_any_address(self.address)
        if not isinstance(address, expected.kinds):
            raise ValueError(
                f"address = {self.address!r}: profile {self.loaded_profile.name} is a "
                f"{self.loaded_profile.transport} profile; give {expected.example}"
            )
        if self.simulation is not None:
            known = {spec.channel for spec in self.loaded_profile.channels}
            unknown = sorted(set(self.simulation.channels) - known)
            if unknown:
                raise ValueError(
                    f"simulation names channels {unknown} that profile {self.profile} "
                    f"lacks; valid: {', '.join(sorted(known))}"
                )
        return self


class ModbusDevice(_Device):
    """A meter on Modbus (TCP, RTU on a serial line, RTU over TCP)."""

    transports: ClassVar[frozenset[TransportKind]] = frozenset({"modbus"})

    unit_id: int = Field(default=1, ge=0, le=247)
    max_registers_per_read: int | None = Field(
        default=None, ge=1, le=125, description="overrides the profile's, for this meter"
    )
    max_bits_per_read: int | None = Field(default=None, ge=1, le=2000)
    gap_fill: int | None = Field(default=None, ge=0, le=124, description="[registers]")


class SerialDevice(_Device):
    """A meter on its own serial port: binary frames or ASCII lines."""

    transports: ClassVar[frozenset[TransportKind]] = frozenset({"frame", "ascii"})


class MqttDevice(_Device):
    """A meter that publishes to an MQTT broker."""

    transports: ClassVar[frozenset[TransportKind]] = frozenset({"mqtt"})


@dataclass(frozen=True, slots=True)
class _AddressForm:
    kinds: tuple[type, ...]
    example: str


ADDRESS_FORMS: dict[TransportKind, _AddressForm] = {
    "modbus": _AddressForm(
        (TcpAddress, RtuOverTcpAddress, SerialAddress),
        "a Modbus address (HOST:PORT, rtu://..., rtu+tcp://...)",
    ),
    "frame": _AddressForm((SerialPortAddress,), "serial:///dev/ttyUSB0?baudrate=9600"),
    "ascii": _AddressForm((SerialPortAddress,), "serial:///dev/ttyUSB0?baudrate=9600"),
    "mqtt": _AddressForm((MqttAddress,), "mqtt://HOST:1883 or mqtts://HOST:8883"),
}


def _device_tag(value: Any) -> str:
    """Which device type validates ``value``: the one of its profile's transport.

    A profile that cannot be loaded is tagged ``modbus``, whose ``profile`` validator
    then reports the profile's own error at ``devices[N].profile``.
    """
    if isinstance(value, _Device):
        return value.loaded_profile.transport
    profile = value.get("profile") if isinstance(value, dict) else None
    if not isinstance(profile, str):
        return "modbus"
    try:
        return load_profile_cached(profile).transport
    except ConfigError:
        return "modbus"


DeviceConfig = Annotated[
    Annotated[ModbusDevice, Tag("modbus")]
    | Annotated[SerialDevice, Tag("frame")]
    | Annotated[SerialDevice, Tag("ascii")]
    | Annotated[MqttDevice, Tag("mqtt")],
    Discriminator(_device_tag),
]
"""One meter of a site: the device type of its profile's transport."""

AnyDevice = ModbusDevice | SerialDevice | MqttDevice
"""The device types, for annotations and ``isinstance``."""


class StoresConfig(_Strict):
    """Where readings and hazard records go (``[stores]``).

    Relative paths are taken from the site file's folder (a service started by
    systemd runs in ``/``, so the working directory would be the wrong anchor).
    """

    sqlite: str = Field(default="hazmon.db", description="readings database path")
    line_protocol_url: str | None = Field(
        default=None, description="VictoriaMetrics or InfluxDB base URL, e.g. http://vm:8428"
    )
    line_protocol_kind: Literal["victoria_metrics", "influxdb"] = "victoria_metrics"
    influx_org: str = ""
    influx_bucket: str = ""
    influx_token_env: str = Field(
        default="HAZMON_INFLUX_TOKEN", description="environment variable holding the token"
    )
    spool: str = Field(default="hazmon-spool.db", description="durable outbox path")
    hazard_register: str | None = Field(
        default=None, description="SQLAlchemy URL; the sqlite file itself when omitted"
    )
    hazard_register_env: str | None = Field(
        default=None, description="environment variable holding the register URL (with password)"
    )

    @field_validator("line_protocol_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL, e.g. http://vm:8428")
        return value

    @model_validator(mode="after")
    def _influx(self) -> Self:
        if self.line_protocol_kind == "influxdb" and not (self.influx_org and self.influx_bucket):
            raise ValueError('line_protocol_kind = "influxdb" needs influx_org and influx_bucket')
        return self


class MqttCredentials(_Strict):
    """How hazmon logs in to a broker: the same for the service's own connection and
    for the MQTT meters on that broker.

    Credentials are never written here: ``username_env`` and ``password_env`` name the
    environment variables that hold them.
    """

    ca_file: str | None = Field(
        default=None, description="CA bundle (PEM) a TLS broker's certificate is checked against"
    )
    client_cert: str | None = Field(
        default=None, description="client certificate (PEM) for a broker that requires one"
    )
    client_key: str | None = Field(
        default=None, description="the client certificate's private key (PEM)"
    )
    username_env: str | None = "HAZMON_MQTT_USERNAME"
    password_env: str | None = "HAZMON_MQTT_PASSWORD"

    @field_validator("ca_file", "client_cert", "client_key")
    @classmethod
    def _tls_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A relative path is taken from the site file's folder (the ``base`` of the
        validation context), as profile paths are: systemd starts the service in
        ``/``. Read from a file, the file must exist: found by ``check``, not at the
        first connection."""
        base = (info.context or {}).get("base")
        if value is None or base is None:
            return value
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = Path(base) / path
        if not path.is_file():
            raise ValueError(
                f"{value!r}: no such file ({path}); give the PEM file's path, absolute or "
                "relative to the site file's folder"
            )
        return str(path)

    @model_validator(mode="after")
    def _key_with_cert(self) -> Self:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert (the certificate it belongs to)")
        return self


class MqttBrokerLogin(MqttCredentials):
    """How to log in to another broker MQTT meters use (``[[mqtt_brokers]]``)."""

    host: str
    port: int = Field(default=1883, ge=1, le=65535)


class MqttBrokerConfig(MqttCredentials):
    """The broker a site publishes readings and alerts to (``[mqtt]``); MQTT meters on
    it log in the same way."""

    host: str
    port: int = Field(default=1883, ge=1, le=65535)
    tls: bool = False
    client_id: str = ""
    publish_readings: bool = Field(
        default=False, description="publish readings to hazmon/<site>/<device>/<quantity>"
    )
    publish_interval: float = Field(
        default=1.0, gt=0, le=60, description="[s] readings of a channel are batched this long"
    )
    spool: str = Field(default="hazmon-mqtt-spool.db", description="outbox of unsent readings")
    confirm: bool = Field(
        default=False,
        description=(
            "keep each message until hazmon central confirms it stored (hazmon-confirm/...), "
            "not just until the broker's PUBACK; on for a NATS centre, off for a broker "
            "nothing confirms on"
        ),
    )
    confirm_timeout: float = Field(
        default=30.0, gt=0, le=3600, description="[s] a message unconfirmed this long is sent again"
    )


class AlertRoute(_Strict):
    """One place alerts go: ``console``, ``mqtt`` (the ``[mqtt]`` broker) or ``webhook``."""

    kind: Literal["console", "mqtt", "webhook"]
    url: str | None = Field(default=None, description="webhook URL")
    secret_env: str | None = Field(
        default=None, description="environment variable holding the webhook's HMAC secret"
    )
    timeout: float = Field(default=5.0, gt=0, le=60, description="[s] per attempt")
    retries: int = Field(default=5, ge=0, le=20, description="attempts after the first")
    min_level: int = Field(default=0, ge=0, le=3, description="level alerts below it skip")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.kind == "webhook":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError('kind = "webhook" needs url = "https://..."')
            if not self.secret_env:
                raise ValueError(
                    'kind = "webhook" needs secret_env = "NAME" (the variable with the '
                    "HMAC secret; never the secret itself)"
                )
        elif self.url is not None:
            raise ValueError(f'url is only for kind = "webhook", not {self.kind!r}')
        return self


class AlertsConfig(_Strict):
    """How alerts are deduplicated, rate-limited and routed (``[alerts]``)."""

    routes: list[AlertRoute] = Field(default_factory=lambda: [AlertRoute(kind="console")])
    dedupe_window: float = Field(
        default=60.0, ge=0, description="[s] a repeat of the same alert is dropped"
    )
    rate_burst: int = Field(default=5, ge=1, description="alerts a channel may send at once")
    rate_per_minute: float = Field(
        default=6.0, gt=0, description="[1/min] sustained alerts per channel after the burst"
    )


class ServiceConfig(_Strict):
    """How ``hazmon run`` runs (``[service]``)."""

    queue_size: int = Field(
        default=1000, ge=1, description="poll results waiting for the pipeline (backpressure)"
    )
    health_interval: float = Field(
        default=10.0, gt=0, description="[s] between health readings of each device"
    )
    shutdown_timeout: float = Field(
        default=10.0, gt=0, description="[s] to flush outboxes and routes on stop"
    )


class SiteConfig(_Strict):
    """A site: who is inspected, which meters, which standards apply."""

    schema_: Literal["hazmon.site/1"] = Field(alias="schema")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    enterprise: str
    inspection: str = ""
    source: Literal["supervision_inspection", "self_inspection"] = "supervision_inspection"
    time_zone: str = Field(
        default=DEFAULT_TIME_ZONE,
        description="IANA zone of the site; a date-only calibration due date ends at "
        "23:59:59 in it",
    )
    standards: tuple[str, ...] = ("gbt50493-2019",)
    devices: list[DeviceConfig] = Field(min_length=1)
    limits: SiteLimits = Field(default_factory=SiteLimits)
    stores: StoresConfig = Field(default_factory=StoresConfig)
    mqtt: MqttBrokerConfig | None = None
    mqtt_brokers: list[MqttBrokerLogin] = Field(
        default_factory=list, description="logins to the other brokers MQTT meters use"
    )
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)

    @field_validator("devices", mode="before")
    @classmethod
    def _profile_paths(cls, value: Any, info: ValidationInfo) -> Any:
        """Take a relative profile path from the site file's folder (the ``base`` of
        the validation context), not from the working directory: a service started by
        systemd runs in ``/``."""
        base = (info.context or {}).get("base")
        if base is None or not isinstance(value, list):
            return value
        resolved = []
        for item in value:
            profile = item.get("profile") if isinstance(item, dict) else None
            if isinstance(profile, str) and looks_like_path(profile):
                path = Path(profile).expanduser()
                if not path.is_absolute():
                    item = {**item, "profile": str(Path(base) / path)}
            resolved.append(item)
        return resolved

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone; give an IANA name such as Asia/Shanghai"
            ) from None
        return value

    def calibration_expires_ns(self, device: AnyDevice) -> int | None:
        """When ``device``'s calibration runs out [ns UTC]: the end of its due date in the
        site's zone; ``None`` when the site gives no due date."""
        if device.calibration_due is None:
            return None
        return end_of_day_ns(device.calibration_due, self.time_zone)

    @field_validator("standards")
    @classmethod
    def _standards(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            load_standards_table(name)
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        ids = [device.id for device in self.devices]
        repeated = sorted({device_id for device_id in ids if ids.count(device_id) > 1})
        if repeated:
            raise ValueError(f"device ids must be unique; repeated: {', '.join(repeated)}")
        needs_broker = [route.kind for route in self.alerts.routes if route.kind == "mqtt"]
        if needs_broker and self.mqtt is None:
            raise ValueError(
                'an alert route has kind = "mqtt" but the site has no [mqtt] table; add '
                '[mqtt] with host = "..." or remove the route'
            )
        return self

    def broker_login(self, host: str, port: int) -> MqttCredentials:
        """How an MQTT meter logs in to the broker at ``host``:``port``: as the
        service does when it is the ``[mqtt]`` broker, by its ``[[mqtt_brokers]]``
        entry when it has one, else by the default variables and the system CAs."""
        if self.mqtt is not None and (self.mqtt.host, self.mqtt.port) == (host, port):
            return self.mqtt
        for login in self.mqtt_brokers:
            if (login.host, login.port) == (host, port):
                return login
        return MqttCredentials()


def load_site(name_or_path: str) -> tuple[str, SiteConfig]:
    """Load a site by bundled name (``demo``) or path; return its source and config."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        source, data = str(path), read_toml(path)
    else:
        available = bundled_names("sites")
        if name_or_path not in available:
            raise ConfigError(
                name_or_path,
                [
                    f"no such site file, and no bundled site of that name; bundled: "
                    f"{', '.join(available)}"
                ],
            )
        source, data = read_bundled_toml(f"sites/{name_or_path}.toml")
    if data.get("schema") != SITE_SCHEMA:
        raise ConfigError(
            source, [f"schema = {data.get('schema')!r}: this hazmon reads schema = {SITE_SCHEMA!r}"]
        )
    base = path.resolve().parent if source == str(path) else None
    return source, validate(SiteConfig, data, source, context={"base": base})


class AlertsFile(_Strict):
    """A standalone alerts file (``hazmon central run --alerts``): a site file's
    ``[alerts]`` table and nothing else."""

    alerts: AlertsConfig


def load_alerts(path: Path) -> tuple[str, AlertsConfig]:
    """Load a standalone alerts file; return its source and the ``[alerts]`` table.

    Raises
    ------
    ConfigError
        The file cannot be read, is not TOML, has no ``[alerts]`` table, has other
        tables beside it, or the table does not validate.
    """
    source = str(path)
    return source, validate(AlertsFile, read_toml(path), source).alerts
