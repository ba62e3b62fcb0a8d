"""The serial and MQTT address forms added for the kit; Modbus forms unchanged."""

from __future__ import annotations

import pytest

from hazmon.config.addresses import (
    MqttAddress,
    SerialPortAddress,
    TcpAddress,
    format_any_address,
    link_key,
    parse_address,
    parse_any_address,
)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("serial:///dev/ttyUSB0", SerialPortAddress("/dev/ttyUSB0")),
        ("serial://COM3?baudrate=115200", SerialPortAddress("COM3", 115200)),
        ("mqtt://broker", MqttAddress("broker", 1883)),
        ("mqtt://10.0.0.5:11883", MqttAddress("10.0.0.5", 11883)),
        ("mqtts://broker", MqttAddress("broker", 8883, tls=True)),
        ("mqtt://[::1]:1883", MqttAddress("::1", 1883)),
        ("127.0.0.1:502", TcpAddress("127.0.0.1", 502)),
    ],
)
def test_forms_parse_and_print_back(text: str, address: object) -> None:
    parsed = parse_any_address(text)
    assert parsed == address
    assert parse_any_address(format_any_address(parsed)) == parsed


def test_errors_name_every_form() -> None:
    with pytest.raises(ValueError, match="serial:///dev/ttyUSB0") as caught:
        parse_any_address("udp://x")
    assert "mqtt://HOST:1883" in str(caught.value)
    with pytest.raises(ValueError, match="baudrate"):
        parse_any_address("serial:///dev/ttyS0?speed=9600")
    with pytest.raises(ValueError, match="without a path"):
        parse_any_address("mqtt://broker/topic")


def test_modbus_parser_is_unchanged_and_ports_are_one_link() -> None:
    with pytest.raises(ValueError, match="unknown scheme"):
        parse_address("serial:///dev/ttyUSB0")
    rtu = parse_address("rtu:///dev/ttyUSB0?baudrate=19200")
    frame = parse_any_address("serial:///dev/ttyUSB0")
    assert link_key(rtu) == link_key(frame)
