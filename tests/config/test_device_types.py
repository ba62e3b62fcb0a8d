"""One device type per transport, relative profile paths from the site file's folder,
each profile loaded once (issue #11, deliverable 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hazmon.config.errors import ConfigError
from hazmon.config.site import ModbusDevice, MqttDevice, SerialDevice, load_site

SITE_HEAD = 'schema = "hazmon.site/1"\nname = "t"\nenterprise = "测试企业"\n'


def _site(tmp_path: Path, devices: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(SITE_HEAD + devices, encoding="utf-8")
    return path


def test_each_transport_gets_its_own_device_type(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        '[[devices]]\nid = "gd"\nprofile = "generic-4gas"\naddress = "127.0.0.1:5020"\n'
        "unit_id = 7\n"
        '[[devices]]\nid = "pm"\nprofile = "plantower-pms5003"\n'
        'address = "serial:///dev/ttyUSB0?baudrate=9600"\n'
        '[[devices]]\nid = "tox"\nprofile = "toxic-6gas-mqtt"\naddress = "mqtt://127.0.0.1:1883"\n',
    )
    _source, site = load_site(str(path))
    modbus, serial, mqtt = site.devices
    assert isinstance(modbus, ModbusDevice)
    assert modbus.unit_id == 7
    assert isinstance(serial, SerialDevice)
    assert isinstance(mqtt, MqttDevice)
    assert not hasattr(mqtt, "unit_id")


def test_a_modbus_key_on_an_mqtt_meter_is_an_error_naming_the_key(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        '[[devices]]\nid = "tox"\nprofile = "toxic-6gas-mqtt"\naddress = "mqtt://127.0.0.1:1883"\n'
        "unit_id = 3\ngap_fill = 2\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_site(str(path))
    message = str(caught.value)
    assert "devices[0].unit_id: unknown key" in message
    assert "devices[0].gap_fill: unknown key" in message
    # The keys listed are the MQTT device's, not the Modbus device's.
    valid = message.split("valid keys here: ")[1].splitlines()[0]
    assert "poll_interval" in valid
    assert "unit_id" not in valid


def test_an_address_of_another_transport_is_an_error(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        '[[devices]]\nid = "gd"\nprofile = "generic-4gas"\naddress = "serial:///dev/ttyUSB0"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_site(str(path))
    message = str(caught.value)
    assert "devices[0]" in message
    assert "address = 'serial:///dev/ttyUSB0'" in message
    assert "Modbus address" in message


def test_a_relative_profile_is_taken_from_the_site_folder_even_from_root(
    tmp_path: Path,
) -> None:
    """`hazmon check` and the site loader from `/` (as systemd starts a service)."""
    folder = tmp_path / "plant"
    (folder / "profiles").mkdir(parents=True)
    bundled = Path(__file__).parents[2] / "config" / "profiles" / "generic-4gas.toml"
    shutil.copy(bundled, folder / "profiles" / "my-4gas.toml")
    path = folder / "site.toml"
    path.write_text(
        SITE_HEAD + '[[devices]]\nid = "gd"\nprofile = "profiles/my-4gas.toml"\n'
        'address = "127.0.0.1:5020"\n[[devices]]\nid = "gd2"\n'
        'profile = "profiles/my-4gas.toml"\naddress = "127.0.0.1:5021"\n',
        encoding="utf-8",
    )
    _source, site = load_site(str(path))
    first, second = site.devices
    assert first.profile == str(folder / "profiles" / "my-4gas.toml")
    # One profile file for two meters: loaded and validated once.
    assert first.loaded_profile is second.loaded_profile

    answer = subprocess.run(
        [sys.executable, "-m", "hazmon.acquisition.cli", "check", str(path)],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "profiles/my-4gas.toml" in answer.stdout


def test_an_edited_profile_is_read_again(tmp_path: Path) -> None:
    bundled = Path(__file__).parents[2] / "config" / "profiles" / "generic-4gas.toml"
    profile = tmp_path / "p.toml"
    shutil.copy(bundled, profile)
    path = _site(
        tmp_path,
        f'[[devices]]\nid = "gd"\nprofile = "{profile}"\naddress = "127.0.0.1:5020"\n',
    )
    _source, site = load_site(str(path))
    before = site.devices[0].loaded_profile
    text = profile.read_text(encoding="utf-8")
    profile.write_text(text.replace(f'name = "{before.name}"', 'name = "renamed-4gas"', 1))
    _source, site = load_site(str(path))
    assert site.devices[0].loaded_profile.name == "renamed-4gas"
