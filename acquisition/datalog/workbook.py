"""``.xlsx`` exports through openpyxl: a worksheet's rows as text cells."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.acquisition.datalog.table import HEAD_LINES, _Table


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _workbook(path: Path, source: str, sheet: str | None) -> _Table:
    import openpyxl  # a workbook is rare; do not load the library for CSV files

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise DatalogError(source, [f"not a readable .xlsx workbook: {error}"]) from error
    try:
        names = book.sheetnames
        if sheet is not None and sheet not in names:
            raise DatalogError(
                source, [f"no sheet {sheet!r}; the workbook's sheets: {', '.join(names)}"]
            )
        worksheet = book[sheet] if sheet is not None else book.worksheets[0]
        rows = [
            [_cell_text(value) for value in row] for row in worksheet.iter_rows(values_only=True)
        ]
        title = worksheet.title
    finally:
        book.close()
    return _Table(head=rows[:HEAD_LINES], sheet=title, rows=rows)
