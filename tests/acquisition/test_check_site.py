"""``hazmon check``: valid sites pass without connecting; errors name file, key and fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main

GOOD = """
schema = "hazmon.site/1"
name = "plant-b"
enterprise = "B Co."

[[devices]]
id = "gd-1"
profile = "generic-4gas"
address = "10.255.255.1:502"   # unroutable: check must not connect
calibration_due = 2020-01-01

[mqtt]
host = "broker.invalid"
username_env = "CHECK_TEST_USER"
password_env = "CHECK_TEST_PASSWORD"

[[alerts.routes]]
kind = "mqtt"

[[alerts.routes]]
kind = "webhook"
url = "https://hooks.invalid/x"
secret_env = "CHECK_TEST_SECRET"
"""


def test_a_valid_site_passes_with_warnings_and_no_secret_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "plant-b.toml"
    site.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("CHECK_TEST_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("CHECK_TEST_USER", "kit")
    assert main(["check", str(site)]) == 0
    out = capsys.readouterr().out
    assert "is valid" in out
    assert "calibration_due" in out
    assert "past" in out
    assert "CHECK_TEST_SECRET" in out
    assert "refuses to start" in out
    assert "hunter2-secret" not in out
    assert main(["check", "--strict", str(site)]) == 1


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('secret_env = "CHECK_TEST_SECRET"', ""),
            ["alerts.routes[1]", "secret_env"],
        ),
        (
            ('host = "broker.invalid"', 'host = "broker.invalid"\nport = 70000'),
            ["mqtt.port = 70000", "less than or equal to 65535"],
        ),
        (
            ("[mqtt]", "[mqtt_typo]"),
            ["mqtt_typo", "unknown key", "valid keys here:"],
        ),
        (
            ('profile = "generic-4gas"', 'profile = "generic-4gas"\npoll_interval = 0'),
            ["devices[0].poll_interval = 0", "greater than 0"],
        ),
    ],
)
def test_errors_name_the_file_the_key_and_the_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: tuple[str, str],
    expected: list[str],
) -> None:
    site = tmp_path / "bad.toml"
    site.write_text(GOOD.replace(*change), encoding="utf-8")
    assert main(["check", str(site)]) == 2
    error = capsys.readouterr().err
    assert str(site) in error
    for text in expected:
        assert text in error, error


def test_the_bundled_example_field_site_is_valid() -> None:
    assert main(["check", "example-field"]) == 0


def test_check_json_lists_every_device_and_warning(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "example-field", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"source", "site", "enterprise", "devices", "warnings", "ok"}
    assert document["ok"] is True
    assert all(
        set(device) == {"id", "profile", "address", "unit_id", "poll_interval_s", "calibration_due"}
        for device in document["devices"]
    )
    assert document["devices"]


def test_mqtt_login_is_asked_for_only_where_the_site_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HAZMON_MQTT_USERNAME", raising=False)
    monkeypatch.delenv("HAZMON_MQTT_PASSWORD", raising=False)
    monkeypatch.delenv("KIT_LOGIN", raising=False)
    head = 'schema = "hazmon.site/1"\nname = "s"\nenterprise = "e"\n'
    device = '[[devices]]\nid = "gd"\nprofile = "generic-4gas"\naddress = "127.0.0.1:1502"\n'
    anonymous = tmp_path / "anonymous.toml"
    anonymous.write_text(head + device + '[mqtt]\nhost = "127.0.0.1"\n', encoding="utf-8")
    assert main(["check", "--strict", str(anonymous)]) == 0
    assert "HAZMON_MQTT" not in capsys.readouterr().out
    login = tmp_path / "login.toml"
    login.write_text(
        head + device + '[mqtt]\nhost = "127.0.0.1"\nusername_env = "KIT_LOGIN"\n',
        encoding="utf-8",
    )
    assert main(["check", "--strict", str(login)]) == 1
    assert "mqtt.username_env = 'KIT_LOGIN': not set" in capsys.readouterr().out
