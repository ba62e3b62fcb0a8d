"""The one address form: every transport, round trips, errors that say what is valid."""

from __future__ import annotations

import pytest

from hazmon.config.addresses import (
    RtuOverTcpAddress,
    SerialAddress,
    TcpAddress,
    bus_key,
    format_address,
    parse_address,
)
from hazmon.config.site import parse_tcp_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:502", TcpAddress("127.0.0.1", 502)),
        ("tcp://meter.local:1502", TcpAddress("meter.local", 1502)),
        ("tcp://meter.local", TcpAddress("meter.local", 502)),
        ("[::1]:502", TcpAddress("::1", 502)),
        ("tcp://[fe80::1]:5020", TcpAddress("fe80::1", 5020)),
        ("rtu+tcp://10.0.0.5:4001", RtuOverTcpAddress("10.0.0.5", 4001)),
        ("rtu:///dev/ttyUSB0", SerialAddress("/dev/ttyUSB0")),
        (
            "rtu:///dev/ttyUSB0?baudrate=19200&parity=E&stopbits=2&bytesize=7",
            SerialAddress("/dev/ttyUSB0", 19200, "E", 2, 7),
        ),
        ("rtu://COM3?baudrate=38400&parity=o", SerialAddress("COM3", 38400, "O")),
    ],
)
def test_parse_and_round_trip(text: str, expected: object) -> None:
    address = parse_address(text)
    assert address == expected
    assert parse_address(format_address(address)) == address


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("meter.local", "needs a port"),
        ("rtu+tcp://10.0.0.5", "needs a port"),
        ("udp://host:502", "unknown scheme 'udp'"),
        ("host:99999", "not 1-65535"),
        ("::1:502", "IPv6 host in brackets"),
        ("rtu://", "names no serial device"),
        ("rtu:///dev/ttyS0?baud=9600", "unknown setting 'baud'"),
        ("rtu:///dev/ttyS0?parity=X", "valid: N, E, O"),
        ("rtu:///dev/ttyS0?stopbits=3", "valid: 1, 2"),
        ("rtu:///dev/ttyS0?baudrate=fast", "whole numbers"),
    ],
)
def test_bad_addresses_say_what_is_valid(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_address(text)
    assert text in str(caught.value)


def test_silent_interval_from_the_baud_rate() -> None:
    # 9600 8N1 is 10 bits a character: 3.5 × 10 / 9600 s
    assert parse_address("rtu://x?baudrate=9600").silent_interval == pytest.approx(35 / 9600)  # type: ignore[union-attr]
    # 8E1 is 11 bits
    line = parse_address("rtu://x?baudrate=9600&parity=E")
    assert isinstance(line, SerialAddress)
    assert line.character_time == pytest.approx(11 / 9600)
    assert line.silent_interval == pytest.approx(38.5 / 9600)
    # fixed 1.75 ms above 19200 baud (Modbus over Serial Line v1.02, §2.5.1.1)
    fast = parse_address("rtu://x?baudrate=115200")
    assert isinstance(fast, SerialAddress)
    assert fast.silent_interval == 0.00175
    at_limit = parse_address("rtu://x?baudrate=19200")
    assert isinstance(at_limit, SerialAddress)
    assert at_limit.silent_interval == pytest.approx(35 / 19200)


def test_bus_key_groups_one_serial_port_whatever_its_settings() -> None:
    assert bus_key(parse_address("rtu:///dev/ttyUSB0?baudrate=9600")) == bus_key(
        parse_address("rtu:///dev/ttyUSB0?baudrate=19200")
    )
    assert bus_key(parse_address("127.0.0.1:502")) == bus_key(parse_address("tcp://127.0.0.1"))
    assert bus_key(parse_address("rtu+tcp://h:1")) != bus_key(parse_address("tcp://h:1"))


def test_parse_tcp_address_still_works() -> None:
    assert parse_tcp_address("127.0.0.1:502") == ("127.0.0.1", 502)
    assert parse_tcp_address("tcp://[::1]:502") == ("::1", 502)
