"""``hazmon analyze`` on long- and wide-form CSV datalogs, and the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main
from hazmon.acquisition.datalog import DatalogError, read_datalog


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _long_form(tmp_path: Path) -> Path:
    # One CO reading a minute for 20 minutes (local time, UTC+8): 15 minutes at
    # 70 mg/m³ then 0. CO M = 28.010: 70 mg/m³ = 70 × 24.055 / 28.010 = 60.12 ppm at
    # 20 °C. STEL = 60.12 ppm over the first 15 minutes; TWA = 60.12 × 900 / 28800.
    lines = ["time,device,quantity,value,unit"]
    for minute in range(20):
        value = 70.0 if minute < 15 else 0.0
        lines.append(f"2026-03-02 09:{minute:02d}:00,gd-7,CO,{value},mg/m³")
    return _write(tmp_path, "long.csv", "\n".join(lines) + "\n")


def test_long_form_json_schema_and_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["analyze", str(_long_form(tmp_path)), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert status == 1  # the STEL fails
    assert list(document) == ["channels", "read"]
    (channel,) = document["channels"]
    assert set(channel) == {
        "device", "quantity", "unit", "metrics", "verdicts", "events", "value_kind", "shift"
    }  # fmt: skip
    assert channel["value_kind"] == "not stated"
    # One recording session is the shift: 09:00–09:20 CST.
    assert channel["shift"] == {"start": "2026-03-02T01:00:00Z", "end": "2026-03-02T01:20:00Z"}
    assert (channel["device"], channel["quantity"], channel["unit"]) == ("gd-7", "co", "ppm")
    ppm = 70 * 24.0548 / 28.010
    metrics = channel["metrics"]
    assert metrics["max"] == pytest.approx(ppm, rel=1e-4)
    assert metrics["stel_max"] == pytest.approx(ppm, rel=1e-4)
    assert metrics["twa_8h"] == pytest.approx(ppm * 900 / 28800, rel=1e-4)
    assert "lex_8h" not in metrics  # not noise: the key is absent
    for verdict in channel["verdicts"]:
        assert {"rule", "clause", "limit", "value", "passed", "basis"} <= set(verdict)
    by_rule = {verdict["rule"]: verdict for verdict in channel["verdicts"]}
    assert by_rule["gbz2.1.co.pc_stel"]["passed"] is False
    assert by_rule["gbz2.1.co.pc_stel"]["clause"] == "GBZ 2.1-2019 Table 1"
    # TWA 60.12 × 900 / 28800 = 1.88 ppm passes, but 20 min of an 8 h shift were
    # sampled (20 / 480 = 0.0417): not judged, not passed.
    twa = by_rule["gbz2.1.co.pc_twa"]
    assert (twa["passed"], twa["judged"]) == (False, False)
    assert twa["coverage"] == pytest.approx(20 / 480)
    # CO has no MAC: the OEL basis is PC-TWA 20 mg/m³ (MAC else PC-TWA), so A1 = 20 and
    # A2 = 40 mg/m³ (GB/T 50493-2019 §5.5.2 item 3). 70 mg/m³ ≥ A2: one event starting
    # at A1, 09:00–09:14 CST; each of its 15 readings holds 60 s, so the dose above A1
    # is 15 × 60 s × (70 − 20) mg/m³ × 24.0548 / 28.010 ppm per mg/m³ = 38,646 ppm·s.
    (event,) = channel["events"]
    assert event["start"] == "2026-03-02T01:00:00Z"
    assert event["end"] == "2026-03-02T01:14:00Z"
    assert event["rule"] == "gbt50493.toxic.co"
    assert event["clause"] == "GB/T 50493-2019 §5.5.2(3)"
    assert event["level"] == "A2"
    assert event["hazard"] is True
    assert event["limit"] == pytest.approx(20 * 24.0548 / 28.010, rel=1e-4)
    assert event["dose"] == pytest.approx(15 * 60 * 50 * 24.0548 / 28.010, rel=1e-4)
    assert event["peak"] == pytest.approx(ppm, rel=1e-4)


def test_wide_form_with_units_in_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["time,CO [ppm],LEL [%LEL],Noise [dB(A)]"]
    for second in range(0, 600, 10):
        rows.append(f"2026-03-02T08:{second // 60:02d}:{second % 60:02d}+08:00,5,1,80")
    path = _write(tmp_path, "meter-3.csv", "\n".join(rows) + "\n")
    status = main(["analyze", str(path), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert status == 1  # 10 min of an 8 h shift: the passing TWA and L_EX,8h are not judged
    quantities = {channel["quantity"]: channel for channel in document["channels"]}
    assert set(quantities) == {"co", "lel", "noise"}
    assert quantities["co"]["device"] == "meter-3"
    assert quantities["noise"]["metrics"]["laeq"] == pytest.approx(80.0)
    # 10 minutes at 80 dB(A): L_EX,8h = 80 + 10 lg(600 / 28800) = 63.2.
    assert quantities["noise"]["metrics"]["lex_8h"] == pytest.approx(63.19, abs=0.01)
    assert "twa_8h" not in quantities["lel"]["metrics"]


@pytest.mark.usefixtures("english")
def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["analyze", str(_long_form(tmp_path))])
    out = capsys.readouterr().out
    assert "verdicts" in out
    assert "FAIL" in out
    assert "events" in out
    assert "2 of 3 failed" in out


@pytest.mark.usefixtures("chinese")
def test_table_output_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default language: the same verdicts as test_table_output, in the desk's words.
    monkeypatch.setenv("COLUMNS", "200")
    status = main(["analyze", str(_long_form(tmp_path))])
    out = capsys.readouterr().out
    assert status == 1
    assert "/long.csv（长表格式）" in out
    channel = next(line for line in out.splitlines() if "项不合格" in line)
    # STEL and the toxic-gas alarm fail; the TWA of 20 minutes is not judged.
    assert "3 项中 2 项不合格 1 项未判定" in channel
    assert "一氧化碳" in channel
    verdicts = [line for line in out.splitlines() if "gbz2.1.co.pc_stel" in line]
    assert len(verdicts) == 1
    assert "不合格" in verdicts[0]
    assert "FAIL" not in out
    assert "超限事件" in out
    heading = next(line for line in out.splitlines() if "开始时间" in line)
    assert all(word in heading for word in ("设备", "监测项目", "持续时间（秒）", "峰值", "级别"))
    # --json is neutral: machine keys and values, whatever the language.
    main(["analyze", str(_long_form(tmp_path)), "--json"])
    (channel_json,) = json.loads(capsys.readouterr().out)["channels"]
    assert channel_json["quantity"] == "co"


def test_unknown_quantity_and_unit_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "bad.csv", "time,device,quantity,value,unit\n1772412000,d,XYZ,1,ppm\n")
    with pytest.raises(DatalogError) as caught:
        read_datalog(path)
    assert "unknown quantity 'XYZ'" in str(caught.value)
    assert "line 2" in str(caught.value)
    path = _write(tmp_path, "bad2.csv", "time,CO [furlong]\n1772412000,1\n")
    with pytest.raises(DatalogError) as caught:
        read_datalog(path)
    assert "'furlong'" in str(caught.value)
    assert "valid: ppm" in str(caught.value)


def test_bad_file_exits_with_usage_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(tmp_path / "missing.csv")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_blank_values_keep_their_rows_as_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, "gaps.csv", "time,CO [ppm]\n1772412000,1\n1772412060,\n1772412120,3\n")
    datalog = read_datalog(path)
    assert len(datalog.readings) == 3
    assert datalog.blank_values == 1
