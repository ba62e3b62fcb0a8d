"""The one address form for every Modbus transport, in site configs and on the command line.

=============================================  ==========================================
form                                           transport
=============================================  ==========================================
``HOST:PORT``, ``tcp://HOST:PORT``             Modbus TCP (MBAP framing); IPv6 ``[::1]:502``
``tcp://HOST``                                 Modbus TCP on port 502
``rtu+tcp://HOST:PORT``                        RTU frames (with CRC) over a TCP socket, as
                                               serial device servers forward them
``rtu:///dev/ttyUSB0?baudrate=9600&parity=N``  Modbus RTU on a local serial port (pyserial);
``rtu://COM3?baudrate=19200``                  query keys ``baudrate`` (default 9600),
                                               ``parity`` ``N``/``E``/``O`` (default ``N``),
                                               ``stopbits`` 1/2 (default 1), ``bytesize``
                                               7/8 (default 8)
=============================================  ==========================================

:func:`format_address` writes the canonical form back, so an address printed by hazmon
can be pasted into a site file or a command line unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

#: Above this rate the Modbus serial line spec fixes the silent intervals [bit/s].
FIXED_TIMING_ABOVE_BAUD = 19200
#: t3.5 above 19200 baud (Modbus over Serial Line v1.02, §2.5.1.1) [s].
FIXED_SILENT_INTERVAL = 0.00175
DEFAULT_TCP_PORT = 502

_FORMS = (
    "HOST:PORT, tcp://HOST[:PORT], rtu+tcp://HOST:PORT or "
    "rtu://DEVICE?baudrate=9600&parity=N&stopbits=1&bytesize=8 "
    "(e.g. 127.0.0.1:502, rtu+tcp://10.0.0.5:4001, rtu:///dev/ttyUSB0?baudrate=9600)"
)


@dataclass(frozen=True, slots=True)
class TcpAddress:
    """Modbus TCP: MBAP frames on a TCP socket."""

    host: str
    port: int = DEFAULT_TCP_PORT
    scheme: Literal["tcp"] = "tcp"


@dataclass(frozen=True, slots=True)
class RtuOverTcpAddress:
    """RTU frames (unit id, PDU, CRC) carried unchanged over a TCP socket."""

    host: str
    port: int
    scheme: Literal["rtu+tcp"] = "rtu+tcp"


@dataclass(frozen=True, slots=True)
class SerialAddress:
    """Modbus RTU on a serial port (RS-485 or RS-232 through an adapter)."""

    device: str
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    bytesize: int = 8
    scheme: Literal["rtu"] = "rtu"

    @property
    def bits_per_character(self) -> int:
        """Start bit, data bits, parity bit (if any) and stop bits [bit]."""
        return 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits

    @property
    def character_time(self) -> float:
        """Time one character takes on the line [s]."""
        return self.bits_per_character / self.baudrate

    @property
    def silent_interval(self) -> float:
        """t3.5, the silence that ends a frame [s].

        3.5 character times, fixed at 1.75 ms above 19200 baud (Modbus over Serial
        Line v1.02, §2.5.1.1), where the character time becomes too short to time.
        """
        if self.baudrate > FIXED_TIMING_ABOVE_BAUD:
            return FIXED_SILENT_INTERVAL
        return 3.5 * self.character_time


Address = TcpAddress | RtuOverTcpAddress | SerialAddress


def _host_port(text: str, original: str, default_port: int | None) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"address {original!r}: unbalanced [ ] around an IPv6 host")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    elif ":" in text:
        raise ValueError(f"address {original!r}: write an IPv6 host in brackets, [::1]:502")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"address {original!r} has no host; use {_FORMS}")
    if not port_text:
        if default_port is None:
            raise ValueError(f"address {original!r} needs a port; use {_FORMS}")
        return host, default_port
    # Port 0 asks the OS for any free port: no meter or broker can be reached on it.
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"address {original!r}: port {port_text!r} is not 1-65535")
    return host, int(port_text)


def _serial(rest: str, original: str) -> SerialAddress:
    device, _, query = rest.partition("?")
    if not device:
        raise ValueError(f"address {original!r} names no serial device; use {_FORMS}")
    settings: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in ("baudrate", "parity", "stopbits", "bytesize"):
            raise ValueError(
                f"address {original!r}: unknown setting {key!r}; valid: baudrate, parity, "
                "stopbits, bytesize"
            )
        settings[key] = value
    try:
        baudrate = int(settings.get("baudrate", "9600"))
        stopbits = int(settings.get("stopbits", "1"))
        bytesize = int(settings.get("bytesize", "8"))
    except ValueError as error:
        raise ValueError(f"address {original!r}: {error}; give whole numbers") from None
    parity = settings.get("parity", "N").upper()
    if baudrate <= 0:
        raise ValueError(f"address {original!r}: baudrate must be > 0")
    if parity not in ("N", "E", "O"):
        raise ValueError(f"address {original!r}: parity {parity!r}; valid: N, E, O")
    if stopbits not in (1, 2):
        raise ValueError(f"address {original!r}: stopbits {stopbits}; valid: 1, 2")
    if bytesize not in (7, 8):
        raise ValueError(f"address {original!r}: bytesize {bytesize}; valid: 7, 8")
    return SerialAddress(device, baudrate, parity, stopbits, bytesize)  # type: ignore[arg-type]


def parse_address(text: str) -> Address:
    """Parse any address form of the table above.

    Raises
    ------
    ValueError
        Naming the address, what is wrong and the accepted forms.
    """
    original = text
    text = text.strip()
    scheme, separator, rest = text.partition("://")
    if not separator:
        host, port = _host_port(text, original, None)
        return TcpAddress(host, port)
    if scheme == "tcp":
        return TcpAddress(*_host_port(rest, original, DEFAULT_TCP_PORT))
    if scheme == "rtu+tcp":
        return RtuOverTcpAddress(*_host_port(rest, original, None))
    if scheme == "rtu":
        return _serial(rest, original)
    raise ValueError(f"address {original!r}: unknown scheme {scheme!r}; use {_FORMS}")


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def format_address(address: Address) -> str:
    """The canonical text of ``address`` (parses back to an equal address)."""
    if isinstance(address, TcpAddress):
        return f"tcp://{_format_host(address.host)}:{address.port}"
    if isinstance(address, RtuOverTcpAddress):
        return f"rtu+tcp://{_format_host(address.host)}:{address.port}"
    return (
        f"rtu://{address.device}?baudrate={address.baudrate}&parity={address.parity}"
        f"&stopbits={address.stopbits}&bytesize={address.bytesize}"
    )


def bus_key(address: Address) -> str:
    """What identifies one shared link: the serial device, or ``scheme://host:port``.

    Devices with the same key share one transport (one owner per serial port).
    """
    if isinstance(address, SerialAddress):
        return f"rtu://{address.device}"
    return format_address(address)


# Non-Modbus links (issue 4): plain serial ports for frame and ASCII meters, and MQTT
# brokers. They are separate from ``Address`` so that every Modbus call site keeps its
# exhaustive three-way type; :func:`parse_any_address` accepts every form.

DEFAULT_MQTT_PORT = 1883
DEFAULT_MQTTS_PORT = 8883


@dataclass(frozen=True, slots=True)
class SerialPortAddress:
    """A serial port carrying a sensor's own framing (binary frames or ASCII lines).

    ``serial:///dev/ttyUSB0?baudrate=9600&parity=N&stopbits=1&bytesize=8``; the same
    query keys and defaults as ``rtu://``.
    """

    device: str
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    bytesize: int = 8
    scheme: Literal["serial"] = "serial"


@dataclass(frozen=True, slots=True)
class MqttAddress:
    """An MQTT broker: ``mqtt://HOST[:1883]`` or, with TLS, ``mqtts://HOST[:8883]``."""

    host: str
    port: int = DEFAULT_MQTT_PORT
    tls: bool = False

    @property
    def scheme(self) -> str:
        """``mqtts`` with TLS, else ``mqtt``."""
        return "mqtts" if self.tls else "mqtt"


AnyAddress = Address | SerialPortAddress | MqttAddress


def parse_any_address(text: str) -> AnyAddress:
    """Parse a Modbus address (see :func:`parse_address`), ``serial://DEVICE?...``,
    ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``.

    Raises
    ------
    ValueError
        Naming the address, what is wrong and the accepted forms.
    """
    stripped = text.strip()
    scheme, separator, rest = stripped.partition("://")
    if separator and scheme == "serial":
        modbus_form = _serial(rest, text)
        return SerialPortAddress(
            modbus_form.device,
            modbus_form.baudrate,
            modbus_form.parity,
            modbus_form.stopbits,
            modbus_form.bytesize,
        )
    if separator and scheme in ("mqtt", "mqtts"):
        if "?" in rest or "/" in rest:
            raise ValueError(f"address {text!r}: write mqtt://HOST:PORT, without a path or query")
        tls = scheme == "mqtts"
        host, port = _host_port(rest, text, DEFAULT_MQTTS_PORT if tls else DEFAULT_MQTT_PORT)
        return MqttAddress(host, port, tls)
    try:
        return parse_address(text)
    except ValueError as error:
        raise ValueError(
            f"{error}; or, for frame and ASCII meters, serial:///dev/ttyUSB0?baudrate=9600, "
            "and for MQTT meters mqtt://HOST:1883 or mqtts://HOST:8883"
        ) from None


def format_any_address(address: AnyAddress) -> str:
    """The canonical text of any address (parses back to an equal address)."""
    if isinstance(address, SerialPortAddress):
        return (
            f"serial://{address.device}?baudrate={address.baudrate}&parity={address.parity}"
            f"&stopbits={address.stopbits}&bytesize={address.bytesize}"
        )
    if isinstance(address, MqttAddress):
        return f"{address.scheme}://{_format_host(address.host)}:{address.port}"
    return format_address(address)


def link_key(address: AnyAddress) -> str:
    """What identifies one link of any kind: one owner per serial port, whatever the
    protocol on it; one Modbus transport per TCP endpoint; a broker per host and port."""
    if isinstance(address, SerialAddress | SerialPortAddress):
        return f"serial://{address.device}"
    return format_any_address(address)
