"""The hazard list as a department keeps it: one row per hazard, Chinese headers.

Written as an Excel workbook (openpyxl) or as CSV that Chinese-locale Excel opens
correctly: UTF-8 with a byte-order mark by default, or GBK for older tools.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hazmon.acquisition.reports.papers import DEFAULT_TZ
from hazmon.config.i18n import basis, translator

#: The columns of the list, in order, with the register key each comes from.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("编号", "id"),
    ("企业", "enterprise"),
    ("位置", "location"),
    ("隐患描述", "finding"),
    ("依据", "basis"),
    ("等级", "grade"),
    ("状态", "status"),
    ("整改期限", "deadline"),
    ("责任单位", "responsible_unit"),
    ("责任人", "responsible_person"),
    ("是否逾期", "overdue"),
    ("来源", "source"),
    ("发现时间", "created_at"),
    ("检查编号", "inspection_id"),
    ("复查人", "verified_by"),
    ("销号时间", "closed_at"),
)
HEADERS: tuple[str, ...] = tuple(header for header, _ in COLUMNS)
#: Columns holding a time, shown in the site's time zone.
TIME_KEYS = frozenset({"deadline", "created_at", "closed_at"})
TIME_FORMAT = "%Y-%m-%d %H:%M"

#: Encodings ``--encoding`` offers; utf-8-sig is UTF-8 with the BOM Excel looks for.
ENCODINGS = ("utf-8-sig", "gbk", "gb18030", "utf-8")


class ExportError(Exception):
    """A list that cannot be written as asked; the message says where and what to do."""


Cell = str | int | dt.datetime | None


def hazard_rows(records: Iterable[Mapping[str, Any]], *, tz: str = DEFAULT_TZ) -> list[list[Cell]]:
    """The register's records as rows of :data:`HEADERS`; times naive in ``tz``."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExportError(f"time zone {tz!r} is unknown; give e.g. Asia/Shanghai") from None
    chinese = translator("zh_CN")  # the list is the department's, in Chinese
    rows: list[list[Cell]] = []
    for record in records:
        row: list[Cell] = []
        for _, key in COLUMNS:
            if key == "basis":
                row.append(basis(record["standard"], record["clause"], chinese))
            elif key in TIME_KEYS:
                moment = record[key]
                row.append(
                    None
                    if moment is None
                    else moment.astimezone(zone).replace(tzinfo=None, microsecond=0)
                )
            elif key == "overdue":
                row.append("是" if record["overdue"] else "否")
            elif key in ("grade", "status", "source"):
                value = record[key]
                row.append("" if value is None else chinese(value))
            else:
                value = record[key]
                row.append(value if isinstance(value, int) or value is None else str(value))
        rows.append(row)
    return rows


def _text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, dt.datetime):
        return cell.strftime(TIME_FORMAT)
    return str(cell)


def write_csv(path: Path, rows: Sequence[Sequence[Cell]], *, encoding: str = "utf-8-sig") -> None:
    """Write the list as CSV in ``encoding``; refuse, saying where, a character it lacks."""
    if encoding not in ENCODINGS:
        raise ExportError(f"encoding {encoding!r}: give one of {', '.join(ENCODINGS)}")
    lines = [list(HEADERS), *([_text(cell) for cell in row] for row in rows)]
    for number, line in enumerate(lines[1:], start=1):
        for header, cell in zip(HEADERS, line, strict=True):
            try:
                cell.encode(encoding)
            except UnicodeEncodeError as error:
                character = cell[error.start]
                raise ExportError(
                    f"{path}: row {number} (hazard {line[0]}), column {header}: the character "
                    f"{character!r} (U+{ord(character):04X}) has no {encoding} code; use "
                    "--encoding utf-8-sig (the default) or gb18030"
                ) from None
    with path.open("w", encoding=encoding, newline="") as out:
        csv.writer(out, lineterminator="\r\n").writerows(lines)


#: Column widths [characters] for the workbook, so the list reads without resizing.
WIDTHS: dict[str, int] = {
    "编号": 7,
    "企业": 22,
    "位置": 16,
    "隐患描述": 50,
    "依据": 24,
    "等级": 10,
    "状态": 10,
    "整改期限": 17,
    "责任单位": 14,
    "责任人": 10,
    "是否逾期": 9,
    "来源": 10,
    "发现时间": 17,
    "检查编号": 9,
    "复查人": 10,
    "销号时间": 17,
}


def write_xlsx(
    target: Path | IO[bytes],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str = "隐患清单",
    headers: Sequence[str] = HEADERS,
) -> None:
    """Write the list as an Excel workbook: a header row, filters, times as Excel times.

    ``target`` is a file path or a binary stream (the desk answers a download with it);
    ``headers`` default to the department's Chinese columns, the desk passes its own
    (translated) ones. The one writer of the hazard list as a workbook.
    """
    # Imported here: only the export needs openpyxl.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    # A new workbook's one sheet, replaced so that its type is a worksheet, not "maybe".
    book.remove(book.worksheets[0])
    sheet = book.create_sheet(title)
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    bold = Font(bold=True, name="Noto Sans CJK SC")
    fill = PatternFill("solid", fgColor="F2F2F2")
    for column, header in enumerate(headers, start=1):
        cell = sheet.cell(row=1, column=column)
        cell.font, cell.fill = bold, fill
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[get_column_letter(column)].width = WIDTHS.get(header, 16)
    for column in range(1, len(headers) + 1):
        letter = get_column_letter(column)
        for cell in sheet[letter][1:]:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
    if "隐患描述" in headers:
        wrap = Alignment(wrap_text=True, vertical="top")
        description = get_column_letter(list(headers).index("隐患描述") + 1)
        for cell in sheet[description][1:]:
            cell.alignment = wrap
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    book.save(target)
