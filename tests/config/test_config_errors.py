"""Config files: bundled data loads, and bad input gets file, key, value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from hazmon.config.catalogue import load_catalogue
from hazmon.config.errors import ConfigError
from hazmon.config.profile import bundled_profiles, load_profile
from hazmon.config.site import load_site, parse_tcp_address
from hazmon.config.standards import load_standards_table

GOOD_FIELD = """
[[modbus.fields]]
channel = "co"
quantity = "co"
unit = "ppm"
address = 0
"""


def _profile(tmp_path: Path, body: str, fields: str = GOOD_FIELD) -> Path:
    path = tmp_path / "meter.toml"
    path.write_text(
        'schema = "hazmon.profile/1"\nname = "test-meter"\ndescription = "t"\n'
        f'instrument_class = "gas"\n{body}\n{fields}',
        encoding="utf-8",
    )
    return path


def test_bundled_data_loads() -> None:
    assert "lel" in load_catalogue().quantities
    assert "generic-4gas" in bundled_profiles()
    profile = load_profile("generic-4gas")
    assert [field.channel for field in profile.modbus_map.fields] == ["lel", "o2", "co", "h2s"]
    rules = load_standards_table("gbt50493-2019")
    assert all(rule.standard == "GB/T 50493-2019" and rule.clause for rule in rules)
    _source, site = load_site("demo")
    assert len(site.devices) >= 3


def test_bad_data_type_names_file_key_value_and_valid_choices(tmp_path: Path) -> None:
    path = _profile(tmp_path, "", GOOD_FIELD.replace("address = 0", 'address = 0\ntype = "int8"'))
    with pytest.raises(ConfigError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert str(path) in message
    assert "modbus.fields[0].type = 'int8'" in message
    assert "'float32'" in message  # what would be valid


def test_bad_byte_order_and_missing_key(tmp_path: Path) -> None:
    fields = '[[modbus.fields]]\nchannel = "co"\nunit = "ppm"\naddress = 1\norder = "ABDC"\n'
    with pytest.raises(ConfigError) as caught:
        load_profile(str(_profile(tmp_path, "", fields)))
    message = str(caught.value)
    assert "modbus.fields[0].order = 'ABDC'" in message
    assert "'CDAB'" in message
    assert "modbus.fields[0].quantity: missing" in message


def test_unknown_unit_lists_the_valid_units(tmp_path: Path) -> None:
    fields = GOOD_FIELD.replace('unit = "ppm"', 'unit = "mg/L"')
    with pytest.raises(ConfigError) as caught:
        load_profile(str(_profile(tmp_path, "", fields)))
    assert "unit 'mg/L' is not known for quantity 'co'; valid: ppm, ppb" in str(caught.value)


def test_unknown_status_flag(tmp_path: Path) -> None:
    status = '[modbus.status]\naddress = 5\nbits = [ { bit = 0, flag = "ON_FIRE" } ]\n'
    with pytest.raises(ConfigError) as caught:
        load_profile(str(_profile(tmp_path, "", GOOD_FIELD + status)))
    message = str(caught.value)
    assert "modbus.status.bits[0].flag = 'ON_FIRE'" in message
    assert "'SENSOR_FAULT'" in message


def test_wrong_schema_version_and_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "old.toml"
    path.write_text('schema = "hazmon.profile/0"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"this hazmon reads schema = 'hazmon.profile/1'"):
        load_profile(str(path))
    path.write_text("schema = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile(str(path))


def test_unknown_profile_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ConfigError, match=r"bundled profiles: .*generic-4gas"):
        load_profile("no-such-meter")


def test_addresses() -> None:
    assert parse_tcp_address("127.0.0.1:502") == ("127.0.0.1", 502)
    assert parse_tcp_address("tcp://meter.local:1502") == ("meter.local", 1502)
    assert parse_tcp_address("[::1]:502") == ("::1", 502)
    for bad in ("127.0.0.1", "host:port", ":502", "h:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_tcp_address(bad)


def test_site_with_a_bad_device_names_it(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'schema = "hazmon.site/1"\nname = "s"\nenterprise = "E"\n'
        '[[devices]]\nid = "d1"\nprofile = "generic-4gas"\naddress = "10.0.0.5"\n'
        "poll_interval = -1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_site(str(path))
    message = str(caught.value)
    assert "devices[0].address = '10.0.0.5'" in message
    assert "devices[0].poll_interval = -1" in message


def test_site_time_zone_must_be_a_known_zone_and_ends_a_due_date_locally(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    text = (
        'schema = "hazmon.site/1"\nname = "s"\nenterprise = "E"\ntime_zone = "{zone}"\n'
        '[[devices]]\nid = "d1"\nprofile = "generic-4gas"\naddress = "10.0.0.5:502"\n'
        "calibration_due = 2026-03-31\n"
    )
    path.write_text(text.format(zone="Asia/Beijing"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_site(str(path))
    assert "time_zone = 'Asia/Beijing'" in str(caught.value)
    assert "give an IANA name such as Asia/Shanghai" in str(caught.value)
    # By hand: the end of 2026-03-31 is 2026-04-01T00:00 local; in Shanghai (UTC+8) that
    # is 2026-03-31T16:00:00Z = 1_774_972_800 s, in Europe/Berlin (CEST, UTC+2 since
    # 29 March) 2026-03-31T22:00:00Z = 1_774_994_400 s.
    for zone, expires_s in (("Asia/Shanghai", 1_774_972_800), ("Europe/Berlin", 1_774_994_400)):
        path.write_text(text.format(zone=zone), encoding="utf-8")
        _source, site = load_site(str(path))
        assert site.calibration_expires_ns(site.devices[0]) == expires_s * 1_000_000_000


def test_a_profile_name_no_file_system_can_look_up_is_an_unknown_profile(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'schema = "hazmon.site/1"\nname = "s"\nenterprise = "E"\n'
        f'[[devices]]\nid = "d1"\nprofile = "{"x" * 300}"\naddress = "10.0.0.5:502"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:  # not OSError: File name too long
        load_site(str(path))
    assert "devices[0].profile" in str(caught.value)


def test_unknown_key_names_the_valid_keys_at_that_place(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'schema = "hazmon.site/1"\nname = "s"\nenterprise = "E"\n'
        '[[devices]]\nid = "d1"\nprofile = "generic-4gas"\naddress = "127.0.0.1:502"\n'
        "pol_interval = 2\n[mqtt_typo]\nhost = 'x'\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_site(str(path))
    message = str(caught.value)
    assert "devices[0].pol_interval: unknown key (a typo?); valid keys here:" in message
    assert "poll_interval" in message.split("pol_interval", 2)[-1]
    assert "mqtt_typo: unknown key (a typo?); valid keys here:" in message
    assert "mqtt" in message.split("mqtt_typo", 2)[-1]
