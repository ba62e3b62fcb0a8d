"""``hazmon.datalog/1`` profiles, peak-logged data marked as such, and the read summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main
from hazmon.config.datalog import bundled_datalog_profiles, load_datalog_profile
from hazmon.config.errors import ConfigError


def _msa_like(tmp_path: Path) -> Path:
    # An MSA-Link-like periodic log: a 3-minute PEAK per row (the manual's default),
    # and session-log entries in an Event column. CO 60 ppm for 5 rows (15 min), then 0.
    lines = ["Date Time,CO (ppm),Event"]
    for row in range(10):
        minute = 3 * row
        value = 60 if row < 5 else 0
        lines.append(f"2026-03-02 09:{minute:02d}:00,{value},")
    lines.insert(3, "2026-03-02 09:04:10,,Bump")
    lines.insert(4, "2026-03-02 09:05:00,85,Alarm Peak")
    path = tmp_path / "altair.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_bundled_profile_loads_and_cites_its_manual() -> None:
    names = bundled_datalog_profiles()
    assert {"msa-altair-periodic", "rae-datalog", "crowcon-triple-plus"} <= set(names)
    for name in names:
        _source, profile = load_datalog_profile(name)
        assert profile.follows.startswith(("MSA", "RAE", "Crowcon"))
        assert "http" in profile.follows
        assert profile.unconfirmed  # every layout says what its manual leaves open


def test_peak_profile_marks_verdicts_as_upper_bounds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _msa_like(tmp_path)
    main(["analyze", str(path), "--json", "--datalog-profile", "msa-altair-periodic"])
    document = json.loads(capsys.readouterr().out)
    read = document["read"]
    # Both session-log rows are events, not periodic readings, because the profile says
    # so: the alarm peak (85 ppm) is not a 3-minute sample and must not enter the TWA.
    assert read["events"]["rows"] == 2
    assert [event["text"] for event in read["events"]["first"]] == ["Bump", "Alarm Peak"]
    assert read["rows"] == 10
    (column,) = read["columns"]
    assert (column["quantity"], column["value_kind"], column["value_kind_from"]) == (
        "co",
        "peak",
        "profile",
    )
    (channel,) = document["channels"]
    assert channel["value_kind"] == "peak"
    assert channel["metrics"]["max"] == 60.0
    # Each peak holds 180 s: 5 × 180 s × 60 ppm / 28800 s = 1.875 ppm as an upper bound.
    assert channel["metrics"]["twa_8h"] == pytest.approx(5 * 180 * 60 / 28800)
    by_rule = {verdict["rule"]: verdict for verdict in channel["verdicts"]}
    assert by_rule["gbz2.1.co.pc_twa"]["upper_bound"] is True
    assert by_rule["gbz2.1.co.pc_stel"]["upper_bound"] is True
    assert not any(
        verdict.get("upper_bound")
        for rule, verdict in by_rule.items()
        if "twa" not in rule and "stel" not in rule
    )


def test_without_profile_the_kind_is_not_stated_and_events_kept_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _msa_like(tmp_path)
    main(["analyze", str(path), "--json"])
    document = json.loads(capsys.readouterr().out)
    (channel,) = document["channels"]
    assert channel["value_kind"] == "not stated"
    assert all("upper_bound" not in verdict for verdict in channel["verdicts"])
    # Without the profile only the row without a value is an event; the alarm-peak row
    # has a value and is read (and listed as an event): 11 readings.
    assert document["read"]["readings"] == 11
    assert document["read"]["events"]["rows"] == 2


@pytest.mark.usefixtures("english")
def test_table_output_says_how_it_read_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _msa_like(tmp_path)
    main(["analyze", str(path), "--datalog-profile", "msa-altair-periodic"])
    out = capsys.readouterr().out
    read_at = out.index("read ")
    assert read_at < out.index("verdicts")
    assert "column 'CO (ppm)' → altair · co [ppm] · peak (from profile)" in out
    assert "UPPER BOUNDS" in out
    assert "events: 2 rows" in out
    assert "time zone UTC+8" in out


def test_profile_maps_columns_the_reader_cannot_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "plant.toml"
    profile.write_text(
        'schema = "hazmon.datalog/1"\nname = "plant"\nfollows = "the plant\'s own export"\n'
        '[read]\nheader_line = 2\ntime_format = "%Y%m%d%H%M"\n'
        '[[columns]]\nheader = "Stamp"\nrole = "timestamp"\n'
        '[[columns]]\nheader = "K1"\nquantity = "co"\nunit = "mg/m³"\nvalue_kind = "average"\n',
        encoding="utf-8",
    )
    rows = ["plant export v2", "Stamp,K1"] + [f"20260302{9:02d}{m:02d},35" for m in range(20)]
    path = tmp_path / "plant.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["analyze", str(path), "--json", "--datalog-profile", str(profile)]) in (0, 1)
    document = json.loads(capsys.readouterr().out)
    (channel,) = document["channels"]
    # 35 mg/m³ of CO at 20 °C: 35 × 24.055 / 28.010 = 30.06 ppm.
    assert channel["metrics"]["max"] == pytest.approx(35 * 24.0548 / 28.010, rel=1e-4)
    assert channel["value_kind"] == "average"
    assert document["read"]["first"] == "2026-03-02T01:00:00Z"


def test_bad_profile_is_a_config_error_naming_its_key(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text(
        'schema = "hazmon.datalog/1"\nname = "x"\nfollows = "x"\nvalue_kind = "median"\n'
        '[[columns]]\nheader = "K1"\nquantity = "carbon"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_datalog_profile(str(profile))
    assert "value_kind = 'median'" in str(caught.value)
    with pytest.raises(ConfigError, match="bundled: crowcon-triple-plus"):
        load_datalog_profile("no-such-profile")


@pytest.mark.usefixtures("chinese")
def test_table_output_says_how_it_read_the_file_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    path = _msa_like(tmp_path)
    main(["analyze", str(path), "--datalog-profile", "msa-altair-periodic"])
    out = capsys.readouterr().out
    assert out.index("读取 ") < out.index("判定结果")
    assert "列 'CO (ppm)' → altair · co [ppm] · 峰值（依据：仪器配置）" in out
    assert "TWA 和 STEL 只是上限" in out
    assert "事件：2 行（不是读数）" in out
    assert "时区 UTC+8" in out
    assert "UPPER BOUNDS" not in out
