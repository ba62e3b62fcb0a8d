"""Site and profile files in the encodings Windows saves, and values ``check`` must
refuse: a clear message naming the file and what it looks like, exit 2, no traceback.

UTF-8 with or without a BOM, and UTF-16 with a BOM (Notepad's "Unicode": the BOM
says the encoding for certain) are read; GBK, UTF-16 without a BOM and binary are
refused, never guessed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hazmon.acquisition.cli import main
from hazmon.config.site import load_site

SITE = """schema = "hazmon.site/1"
name = "enc"
enterprise = "演示化工有限公司"

[[devices]]
id = "gd-1"
profile = "{profile}"
address = "{address}"
location = "罐区东侧"
{extra}
"""

PROFILE = (
    (Path(__file__).parents[2] / "config" / "profiles" / "generic-4gas.toml")
    .read_text(encoding="utf-8")
    .replace('name = "generic-4gas"', 'name = "my-4gas"')
    .replace("description = ", 'description = "四合一气体检测仪" #')
)


def _site(address: str = "127.0.0.1:502", extra: str = "", profile: str = "generic-4gas") -> str:
    return SITE.format(address=address, extra=extra, profile=profile)


@pytest.mark.parametrize(
    ("encode", "expected"),
    [
        # GBK, UTF-16 (little-endian, Notepad's) and binary: the campaign's cases, in
        # tests/acquisition/test_bad_input_campaign.py.
        (lambda text: text.encode("utf-16-be"), "UTF-16 without a byte-order mark"),
    ],
    ids=["utf-16-be"],
)
@pytest.mark.parametrize("kind", ["site", "profile"])
def test_an_encoding_that_is_not_utf8_is_refused_naming_file_and_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encode: object, expected: str, kind: str
) -> None:
    assert callable(encode)
    profile = tmp_path / "my-4gas.toml"
    site = tmp_path / "site.toml"
    if kind == "site":
        site.write_bytes(encode(_site()))
        bad = site
    else:
        profile.write_bytes(encode(PROFILE))
        site.write_text(_site(profile=str(profile)), encoding="utf-8")
        bad = profile
    assert main(["check", str(site)]) == 2
    error = capsys.readouterr().err
    assert str(bad) in error
    assert expected in error, error
    assert "Traceback" not in error


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_bom_says_the_encoding_and_the_file_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    profile = tmp_path / "my-4gas.toml"
    profile.write_bytes(PROFILE.encode(encoding))
    site = tmp_path / "site.toml"
    site.write_bytes(_site(profile=str(profile)).encode(encoding))
    assert main(["check", str(site)]) == 0
    assert "演示化工有限公司" in capsys.readouterr().out


def test_a_folder_or_a_huge_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    huge = tmp_path / "huge.toml"
    with huge.open("wb") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: nothing written
    assert main(["check", str(huge)]) == 2
    assert "larger than 4 MiB" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("address", "extra", "expected"),
    [
        # tcp://host:0, mqtt:// for a Modbus profile, backoff_max = inf: the campaign's.
        ("127.0.0.1:0", "", "port '0' is not 1-65535"),
        ("127.0.0.1:502", "backoff_max = nan", "backoff_max"),
        ("127.0.0.1:502", "poll_interval = nan", "poll_interval"),
    ],
)
def test_check_refuses_what_no_meter_can_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str, extra: str, expected: str
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(_site(address, extra), encoding="utf-8")
    assert main(["check", str(site)]) == 2
    error = capsys.readouterr().err
    assert expected in error, error
    assert str(site) in error


def test_tls_files_are_taken_from_the_site_folder_and_must_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    site = tmp_path / "site.toml"
    mqtt = '\n[mqtt]\nhost = "127.0.0.1"\ntls = true\nca_file = "certs/ca.pem"\n'
    site.write_text(_site() + mqtt, encoding="utf-8")
    _source, config = load_site(str(site))
    assert config.mqtt is not None
    assert config.mqtt.ca_file == str(tmp_path / "certs" / "ca.pem")
    site.write_text(
        _site() + mqtt + '\n[[mqtt_brokers]]\nhost = "b"\nclient_cert = "certs/me.pem"\n',
        encoding="utf-8",
    )
    assert main(["check", str(site)]) == 2
    error = capsys.readouterr().err
    assert "mqtt_brokers[0].client_cert" in error, error
    assert "'certs/me.pem': no such file" in error


@pytest.mark.parametrize("bad", ["scale = nan", "scale = inf", "scale = -inf"])
def test_a_profile_figure_of_inf_or_nan_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    profile = tmp_path / "my-4gas.toml"
    profile.write_text(PROFILE.replace("scale = 0.1", bad, 1), encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text(_site(profile=str(profile)), encoding="utf-8")
    assert main(["check", str(site)]) == 2
    error = capsys.readouterr().err
    assert str(profile) in error
    assert "scale" in error, error
