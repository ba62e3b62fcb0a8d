"""``hazmon hazards export``: the list a department keeps, as a workbook and as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from hazmon.acquisition.cli import main
from hazmon.store.hazards import HazardContext, HazardRegister

HEADERS = [
    "编号",
    "企业",
    "位置",
    "隐患描述",
    "依据",
    "等级",
    "状态",
    "整改期限",
    "责任单位",
    "责任人",
    "是否逾期",
    "来源",
    "发现时间",
    "检查编号",
    "复查人",
    "销号时间",
]


@pytest.fixture
def register_db(tmp_path: Path) -> Path:
    path = tmp_path / "register.db"
    with HazardRegister(f"sqlite:///{path}") as register:
        first = register.add_hazard(
            HazardContext("漯河市某化工有限公司", "罐区"),
            "储罐区可燃气体检测报警器未投用",
            rule_id="manual",
            standard="GB/T 50493-2019",
            clause="5.5.2",
            actor="李明",
        )
        second = register.add_hazard(
            HazardContext("舞阳县某燃气公司", "调压站", source="self_inspection"),
            "调压站通风不良，µ 级粉尘积聚",  # µ (U+00B5) has no GBK code
            rule_id="manual",
            standard="GB 30871-2022",
            clause="5.3.2",
            actor="张伟",
        )
        # 2020-01-10 15:59 UTC is 23:59 that day in Shanghai (UTC+8): long overdue.
        register.confirm(
            first,
            "major",
            actor="王建国",
            deadline=dt.datetime(2020, 1, 10, 15, 59, tzinfo=dt.UTC),
            responsible_unit="储运车间",
            responsible_person="赵强",
        )
        assert second == first + 1
    return path


def test_workbook_has_chinese_headers_and_one_row_per_hazard(
    register_db: Path, tmp_path: Path
) -> None:
    book_path = tmp_path / "hazards.xlsx"
    assert main(["hazards", "export", "--db", str(register_db), "--xlsx", str(book_path)]) == 0
    sheet = load_workbook(book_path).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    with HazardRegister(f"sqlite:///{register_db}") as register:
        records = register.hazards()
    assert len(rows) == 1 + len(records)
    first = dict(zip(HEADERS, rows[1], strict=True))
    assert first["编号"] == records[0]["id"]
    assert first["企业"] == "漯河市某化工有限公司"
    assert first["位置"] == "罐区"
    assert first["隐患描述"] == "储罐区可燃气体检测报警器未投用"
    assert first["依据"] == "GB/T 50493-2019 第 5.5.2 条"
    assert first["等级"] == "重大隐患"
    assert first["状态"] == "已确认"
    assert first["整改期限"] == dt.datetime(2020, 1, 10, 23, 59)  # Shanghai time
    assert first["责任单位"] == "储运车间"
    assert first["责任人"] == "赵强"
    assert first["是否逾期"] == "是"
    assert first["来源"] == "监督检查"
    created = records[0]["created_at"] + dt.timedelta(hours=8)
    assert first["发现时间"] == created.replace(tzinfo=None, microsecond=0)
    second = dict(zip(HEADERS, rows[2], strict=True))
    assert second["企业"] == "舞阳县某燃气公司"
    assert second["等级"] is None
    assert second["状态"] == "待确认"
    assert second["是否逾期"] == "否"
    assert second["来源"] == "企业自查"


def test_csv_has_a_bom_and_gbk_refuses_a_character_it_lacks(
    register_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hazards.csv"
    assert main(["hazards", "export", "--db", str(register_db), "--csv", str(path)]) == 0
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == HEADERS
    assert rows[1][7] == "2020-01-10 23:59"
    assert len(rows) == 3

    gbk = tmp_path / "hazards-gbk.csv"
    argv = ["hazards", "export", "--db", str(register_db), "--csv", str(gbk)]
    assert main([*argv, "--encoding", "gbk"]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err
    assert "隐患描述" in err
    assert "U+00B5" in err
    assert not gbk.exists()
    # The major hazards alone, without the µ, go to GBK.
    assert main([*argv, "--encoding", "gbk", "--grade", "major"]) == 0
    rows = list(csv.reader(io.StringIO(gbk.read_bytes().decode("gbk"))))
    assert rows[0] == HEADERS
    assert [row[1] for row in rows[1:]] == ["漯河市某化工有限公司"]


def test_export_needs_a_file(register_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hazards", "export", "--db", str(register_db)]) == 2
    assert "give --xlsx FILE" in capsys.readouterr().err
