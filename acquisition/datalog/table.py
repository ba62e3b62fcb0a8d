"""A text export's cells: the delimiter, the header row under any metadata block, the
rows below it as a frame."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hazmon.acquisition.datalog.encoding import _decode
from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.acquisition.datalog.roles import _roles
from hazmon.config.datalog import DatalogNames, DatalogProfile

#: Lines (or worksheet rows) searched for the header.
HEAD_LINES = 400
#: Rows under a header compared with its width when choosing the delimiter.
WIDTH_PROBE = 50
DELIMITERS = (",", ";", "\t")


@dataclass(slots=True)
class _Table:
    """The cells of a file before the header is known."""

    head: list[list[str]]
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    text: str = ""
    rows: list[list[str]] | None = None  # a workbook's rows, all of them


def _text_table(path: Path, source: str, encoding: str | None) -> _Table:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as error:
        raise DatalogError(source, ["file not found; check the path"]) from error
    except IsADirectoryError as error:
        raise DatalogError(source, ["is a directory; give the exported file"]) from error
    except OSError as error:
        raise DatalogError(source, [f"cannot read the file: {error.strerror}"]) from error
    if not raw.strip():
        raise DatalogError(source, ["the file is empty"])
    if raw.startswith(b"PK\x03\x04"):
        raise DatalogError(source, ["this is a workbook (zip); name it .xlsx so it is read as one"])
    text, used = _decode(raw, source, encoding)
    return _Table(head=[], encoding=used, text=text)


def _split_lines(lines: Sequence[str], delimiter: str) -> list[list[str]]:
    return [[cell.strip() for cell in row] for row in csv.reader(lines, delimiter=delimiter)]


def _is_header(row: list[str], names: DatalogNames, profile: DatalogProfile | None) -> bool:
    if sum(bool(cell) for cell in row) < 2:
        return False
    roles = _roles(row, names, profile)
    return roles.timestamp is not None or roles.date is not None


def _find_header(
    rows: list[list[str]], names: DatalogNames, profile: DatalogProfile | None
) -> int | None:
    if profile is not None and profile.read.header_line is not None:
        index = profile.read.header_line - 1
        return index if index < len(rows) else None
    return next((i for i, row in enumerate(rows) if _is_header(row, names, profile)), None)


def _choose_delimiter(
    lines: list[str], names: DatalogNames, profile: DatalogProfile | None
) -> tuple[str, list[list[str]], int] | None:
    """The delimiter under which a header is followed by rows of its width."""
    wanted = (profile.read.delimiter,) if profile and profile.read.delimiter else DELIMITERS
    best: tuple[int, str, list[list[str]], int] | None = None
    for delimiter in wanted:
        rows = _split_lines(lines, delimiter)
        header = _find_header(rows, names, profile)
        if header is None:
            continue
        width = len(rows[header])
        following = [row for row in rows[header + 1 : header + 1 + WIDTH_PROBE] if any(row)]
        score = sum(len(row) == width for row in following) + 1
        if best is None or score > best[0]:
            best = (score, delimiter, rows, header)
    return None if best is None else best[1:]


def _csv_frame(
    text: str, delimiter: str, header: int, header_cells: list[str], source: str
) -> tuple[pd.DataFrame, NDArray[np.int64]]:
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            skiprows=header + 1,
            names=range(len(header_cells)),
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            skipinitialspace=True,
            index_col=False,
        )
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame(columns=range(len(header_cells)), dtype="string")
    except pd.errors.ParserError as error:
        raise DatalogError(
            source,
            [
                f"below the header (line {header + 1}): {error}; each row needs the header's "
                f"{len(header_cells)} fields"
            ],
        ) from error
    frame = frame.astype("string")
    return frame, np.arange(header + 2, header + 2 + len(frame), dtype=np.int64)
