"""The datalog reader on exports shaped as detectors' tools write them.

Each fixture is written by the test in the shape of a real tool's export (delimiter,
metadata block, encoding, header language, workbook, split date and time). Figures are
worked by hand in the comments: one CO reading a minute, local time UTC+8.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from hazmon.acquisition.cli import main
from hazmon.acquisition.datalog import DatalogError, read_datalog, split_header

# 2026-03-02 09:00 CST is 01:00 UTC: 1772413200 s since 1970.
START_UTC_S = 1772413200


def _co_rows(minutes: int = 20) -> list[float]:
    # 15 minutes at 40 ppm, then 0: STEL = 40 ppm, TWA 8 h = 40 × 900 / 28800 = 1.25 ppm.
    return [40.0 if minute < 15 else 0.0 for minute in range(minutes)]


def _write_bytes(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _expect_co(path: Path, **options: object) -> None:
    datalog = read_datalog(path, **options)  # type: ignore[arg-type]
    co = [c for c in datalog.channels.channels if c.quantity == "co"]
    assert len(co) == 1
    number = datalog.channels.channels.index(co[0])
    rows = datalog.readings.channel == number
    assert rows.sum() == 20
    order = np.argsort(datalog.readings.ts[rows])
    ts = datalog.readings.ts[rows][order]
    assert ts[0] == START_UTC_S * 10**9
    assert ts[-1] - ts[0] == 19 * 60 * 10**9
    np.testing.assert_array_equal(datalog.readings.value[rows][order], _co_rows())


def test_header_forms() -> None:
    for header in ("CO [ppm]", "CO (ppm)", "CO(ppm)", "CO（ppm）", "CO ppm", "CO_ppm"):
        assert split_header(header)[:2] == ("co", "ppm"), header
    assert split_header("CO Peak (ppm)") == ("co", "ppm", "peak")
    assert split_header("Noise [dB(A)]")[:2] == ("noise", "dB(A)")
    assert split_header("LAeq dB(A)")[:2] == ("laeq", "dB(A)")
    assert split_header("一氧化碳浓度(mg/m3)")[:2] == ("一氧化碳浓度", "mg/m3")


def test_semicolon_with_decimal_commas(tmp_path: Path) -> None:
    # A European-locale export: ; between fields, decimal commas, ISO times.
    lines = ["Zeit;CO [ppm];H2S [ppm]"]
    for minute, value in enumerate(_co_rows()):
        lines.append(f"2026-03-02 09:{minute:02d}:00;{value:.1f}".replace(".", ",") + ";0,0")
    path = _write_bytes(tmp_path, "semi.csv", "\n".join(lines).encode())
    # "Zeit" is not a known name: refused with what is valid, not misread.
    with pytest.raises(DatalogError, match="no header row with a time column"):
        read_datalog(path)
    path.write_bytes(path.read_bytes().replace(b"Zeit", b"Time"))
    _expect_co(path)
    datalog = read_datalog(path)
    assert datalog.read is not None
    assert datalog.read.delimiter == ";"


def test_rae_style_metadata_block_tab_delimited(tmp_path: Path) -> None:
    # A RAE-style datalog: a header block with start time, period and alarm limits,
    # then a tab-separated table; the block is kept and the known fields recognised.
    block = [
        "Unit Name\tMultiRAE",
        "Serial Number\tM02-12345",
        "Datalog Type\tAverage",
        "Start Time\t2026-03-02 09:00:00",
        "Period\t60 sec",
        "High Alarm\t35",
        "Low Alarm\t10",
        "",
        "Line#\tTime\tCO(ppm)\tH2S(ppm)\tBattery",
    ]
    rows = [
        f"{i + 1}\t2026-03-02 09:{i:02d}:00\t{value:.0f}\t0\t4.1"
        for i, value in enumerate(_co_rows())
    ]
    path = _write_bytes(tmp_path, "rae.txt", "\n".join(block + rows).encode())
    _expect_co(path)
    read = read_datalog(path).read
    assert read is not None
    assert read.delimiter == "\t"
    assert read.header_line == 9
    assert read.metadata["instrument"] == "MultiRAE"
    assert read.metadata["serial"] == "M02-12345"
    assert read.metadata["period"] == "60 sec"
    assert read.metadata["set_points"] == ["high alarm = 35", "low alarm = 10"]
    assert {c.value_kind for c in read.columns} == {"average"}
    assert {c.value_kind_from for c in read.columns} == {"metadata"}
    ignored = {item.column for item in read.ignored}
    assert {"Line#", "Battery"} <= ignored or "Battery" in ignored


def test_gbk_chinese_headers_and_units_row(tmp_path: Path) -> None:
    # What Chinese-locale Excel writes: GBK bytes, Chinese names, units on a second row.
    lines = ["序号,时间,一氧化碳,硫化氢,氧气,可燃气体", ",,ppm,ppm,%VOL,%LEL"]
    for i, value in enumerate(_co_rows()):
        lines.append(f"{i + 1},2026/03/02 09:{i:02d}:00,{value:.0f},0,20.9,0")
    data = "\r\n".join(lines).encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is not UTF-8
    path = _write_bytes(tmp_path, "国产仪器.csv", data)
    _expect_co(path)
    datalog = read_datalog(path)
    assert datalog.read is not None
    assert datalog.read.encoding == "gb18030 (GBK)"
    quantities = {c.quantity for c in datalog.channels.channels}
    assert quantities == {"co", "h2s", "o2", "lel"}


def test_chinese_header_forms_utf8_bom(tmp_path: Path) -> None:
    lines = ["日期时间,CO（ppm）,噪声(dB(A)),温度(℃)"]
    for i, value in enumerate(_co_rows()):
        lines.append(f"2026年3月2日 09:{i:02d}:00,{value:.0f},85,25")
    path = _write_bytes(tmp_path, "bom.csv", "\ufeff".encode() + "\n".join(lines).encode())
    _expect_co(path)
    datalog = read_datalog(path)
    assert datalog.read is not None
    assert datalog.read.encoding == "utf-8 (BOM)"
    assert {c.quantity for c in datalog.channels.channels} == {"co", "noise", "temperature"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16(tmp_path: Path, encoding: str) -> None:
    lines = ["Time\tCO ppm"]
    lines += [f"2026-03-02 09:{i:02d}:00\t{v:.0f}" for i, v in enumerate(_co_rows())]
    path = _write_bytes(tmp_path, "u16.txt", "\r\n".join(lines).encode(encoding))
    _expect_co(path)


def test_split_date_and_time_day_first_settled_by_the_file(tmp_path: Path) -> None:
    # 13/03/2026 can only be day first: the file settles the order.
    lines = ["Date,Time,CO_ppm"]
    lines += [f"13/03/2026,09:{i:02d}:00,{v:.0f}" for i, v in enumerate(_co_rows())]
    path = _write_bytes(tmp_path, "split.csv", "\n".join(lines).encode())
    datalog = read_datalog(path)
    assert datalog.read is not None
    assert datalog.read.time_format == "%d/%m/%Y %H:%M:%S"
    # 2026-03-13 09:00 CST = 01:00 UTC; 11 days after 2026-03-02.
    assert int(datalog.readings.ts.min()) == (START_UTC_S + 11 * 86400) * 10**9


def test_ambiguous_day_month_refused_with_both_readings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["Time,CO [ppm]"]
    lines += [f"03/02/2026 09:{i:02d}:00,{v:.0f}" for i, v in enumerate(_co_rows())]
    path = _write_bytes(tmp_path, "ambiguous.csv", "\n".join(lines).encode())
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"hazmon: cannot read datalog {path}" in err
    assert "2026-02-03 read day first" in err
    assert "2026-03-02 read month first" in err
    assert "--date-format '%d/%m/%Y %H:%M:%S'" in err
    assert "invalid config" not in err
    # The suggested format settles it: 3 February.
    assert main(["analyze", str(path), "--json", "--date-format", "%d/%m/%Y %H:%M:%S"]) in (0, 1)
    document = json.loads(capsys.readouterr().out)
    assert document["read"]["first"] == "2026-02-03T01:00:00Z"


def test_xlsx_workbook_first_sheet_or_named(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "说明"
    notes.append(["仪器型号", "XP-3000"])
    data = book.create_sheet("数据")
    data.append(["仪器编号", "SN-7"])
    data.append([])
    data.append(["日期", "时间", "CO(ppm)"])
    for i, value in enumerate(_co_rows()):
        data.append([dt.date(2026, 3, 2), dt.time(9, i), value])
    path = tmp_path / "export.xlsx"
    book.save(path)
    with pytest.raises(DatalogError, match="no header row"):
        read_datalog(path)  # the first sheet holds only notes
    _expect_co(path, sheet="数据")
    datalog = read_datalog(path, sheet="数据")
    assert datalog.read is not None
    assert datalog.read.metadata["serial"] == "SN-7"
    with pytest.raises(DatalogError, match=r"no sheet 'x'.*说明, 数据"):
        read_datalog(path, sheet="x")


def test_unknown_columns_are_listed_not_dropped_silently(tmp_path: Path) -> None:
    lines = ["Time,CO [ppm],Flux [ppm],CO2"]
    lines += [f"2026-03-02 09:{i:02d}:00,{v:.0f},1,400" for i, v in enumerate(_co_rows())]
    path = _write_bytes(tmp_path, "extra.csv", "\n".join(lines).encode())
    datalog = read_datalog(path)
    assert datalog.read is not None
    reasons = {item.column: item.reason for item in datalog.read.ignored}
    assert reasons["Flux [ppm]"].startswith("unknown quantity 'flux'")
    assert reasons["CO2"].startswith("unknown quantity 'co2'")


def test_peak_and_average_columns_of_one_quantity(tmp_path: Path) -> None:
    lines = ["Time,CO Peak (ppm),CO Avg (ppm)"]
    lines += [f"2026-03-02 09:{i:02d}:00,{v + 5:.0f},{v:.0f}" for i, v in enumerate(_co_rows())]
    path = _write_bytes(tmp_path, "both.csv", "\n".join(lines).encode())
    _expect_co(path)  # the average column is the one evaluated
    datalog = read_datalog(path)
    assert datalog.read is not None
    (column,) = datalog.read.columns
    assert (column.column, column.value_kind) == ("CO Avg (ppm)", "average")
    assert "one column per quantity" in datalog.read.ignored[0].reason


def test_event_rows_are_not_readings(tmp_path: Path) -> None:
    lines = ["Time,CO [ppm],Event"]
    for i, value in enumerate(_co_rows()):
        lines.append(f"2026-03-02 09:{i:02d}:00,{value:.0f},")
        if i == 3:
            lines.append("2026-03-02 09:03:30,,Bump Test Pass")
    path = _write_bytes(tmp_path, "events.csv", "\n".join(lines).encode())
    _expect_co(path)
    read = read_datalog(path).read
    assert read is not None
    assert read.event_rows == 1
    assert read.events[0]["text"] == "Bump Test Pass"
    assert read.events[0]["line"] == 6


def test_epoch_milliseconds_detected(tmp_path: Path) -> None:
    lines = ["timestamp,CO [ppm]"]
    lines += [f"{(START_UTC_S + 60 * i) * 1000},{v:.0f}" for i, v in enumerate(_co_rows())]
    path = _write_bytes(tmp_path, "ms.csv", "\n".join(lines).encode())
    _expect_co(path)
    read = read_datalog(path).read
    assert read is not None
    assert read.time_format == "epoch milliseconds (UTC)"


def test_epoch_with_an_extra_digit_is_refused_cheaply(tmp_path: Path) -> None:
    lines = ["timestamp,CO [ppm]"]
    lines += [f"{START_UTC_S + 60 * i},{v:.0f}" for i, v in enumerate(_co_rows())]
    lines[6] = f"{(START_UTC_S + 300) * 10},40"  # 11 digits: neither seconds nor ms
    path = _write_bytes(tmp_path, "digit.csv", "\n".join(lines).encode())
    with pytest.raises(
        DatalogError, match=r"line 7, column 'timestamp': 17724135000 is not epoch seconds"
    ):
        read_datalog(path)
    path.write_text("timestamp,CO [ppm]\n17724132000,1\n17724132600,2\n")
    with pytest.raises(DatalogError, match="neither epoch seconds"):
        read_datalog(path)


def test_one_bad_date_names_its_line(tmp_path: Path) -> None:
    lines = ["Time,CO [ppm]"]
    lines += [f"2026-03-02 09:{i:02d}:00,{v:.0f}" for i, v in enumerate(_co_rows())]
    lines[5] = "2026-02-30 09:04:00,40"
    path = _write_bytes(tmp_path, "bad-date.csv", "\n".join(lines).encode())
    with pytest.raises(DatalogError, match=r"line 6, column 'Time': '2026-02-30 09:04:00' is not"):
        read_datalog(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\xff\xfe\x00" * 3 + b"\x81\xff" * 50, "neither UTF-8, UTF-16 nor GB18030"),
        (b"just some words\nand more\n", "no header row with a time column"),
    ],
)
def test_bad_files_name_the_datalog_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.csv"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hazmon: cannot read datalog {path}")
    assert message in err
    assert "Traceback" not in err
    assert "invalid config" not in err


def test_a_mistyped_year_names_its_line(tmp_path: Path) -> None:
    lines = ["Time,CO [ppm]"]
    lines += [f"2026-03-02 09:{i:02d}:00,{v:.0f}" for i, v in enumerate(_co_rows())]
    lines[5] = "2206-03-02 09:04:00,40"
    path = _write_bytes(tmp_path, "far.csv", "\n".join(lines).encode())
    with pytest.raises(DatalogError, match=r"line 6, column 'Time': 2206-03-02T01:04:00Z is more"):
        read_datalog(path)


def test_chinese_metadata_block_with_full_width_colons_says_peak(tmp_path: Path) -> None:
    block = [
        "仪器型号：PGM-6208",
        "序列号：M02-12345",
        "记录间隔：60 s",
        "数据类型：峰值",
        "高报：35 ppm",
        "",
    ]
    lines = [*block, "序号,时间,一氧化碳,电量", ",,ppm,"]
    lines += [f"{i + 1},2026/03/02 09:{i:02d}:00,{v:.0f},95" for i, v in enumerate(_co_rows())]
    path = _write_bytes(tmp_path, "现场.csv", "\r\n".join(lines).encode("gbk"))
    _expect_co(path)
    datalog = read_datalog(path)
    read = datalog.read
    assert read is not None
    assert read.header_line == 7
    assert read.metadata == {
        "instrument": "PGM-6208",
        "serial": "M02-12345",
        "period": "60 s",
        "value_kind": "峰值",
        "set_points": ["高报 = 35 ppm"],
    }
    (column,) = read.columns
    assert (column.value_kind, column.value_kind_from) == ("peak", "metadata")
    assert datalog.value_kind(datalog.channels.channels[0]) == "peak"


def test_wide_layout_with_a_device_column(tmp_path: Path) -> None:
    lines = ["Serial,Time,CO [ppm]"]
    for i, value in enumerate(_co_rows()):
        lines += [f"A1,2026/3/2 9:{i:02d},{value:.0f}", f"B2,2026/3/2 9:{i:02d},1"]
    path = _write_bytes(tmp_path, "two.csv", "\n".join(lines).encode())
    datalog = read_datalog(path)
    assert [c.device for c in datalog.channels.channels] == ["A1", "B2"]
    b2 = datalog.readings.channel == 1
    assert b2.sum() == 20
    assert set(datalog.readings.value[b2].tolist()) == {1.0}


def test_broken_workbook_is_named(tmp_path: Path) -> None:
    path = _write_bytes(tmp_path, "broken.xlsx", b"PK\x03\x04 not really a zip")
    with pytest.raises(DatalogError, match=r"broken.xlsx: not a readable .xlsx workbook"):
        read_datalog(path)
    path = _write_bytes(tmp_path, "renamed.csv", b"PK\x03\x04 a workbook named .csv")
    with pytest.raises(DatalogError, match=r"name it \.xlsx"):
        read_datalog(path)
