"""docs/standards.md lists every row of the bundled limit tables as the tables hold it.

The page is the project's own copy of what the tables cite (standard, clause, value,
confirmation grade, note). When a table changes, this test fails with the rows to paste:
``python tests/docs/test_standards_page.py`` prints the whole generated section.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TABLES = sorted((ROOT / "config" / "standards").glob("*.toml"))
PAGE = ROOT / "docs" / "standards.md"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _value(row: dict[str, Any]) -> str:
    unit = row.get("unit", "")
    if "set_points" in row:
        parts = []
        for point in row["set_points"]:
            for key, bound in point.items():
                if key in ("level", "clause"):
                    continue
                shown = (
                    f"{_number(bound * 100)} % OEL"
                    if key.endswith("_oel")
                    else (f"{_number(bound)} {unit}".strip())
                )
                word = "below" if key.startswith("below") else "above"
                clause = f" (§{point['clause']})" if "clause" in point else ""
                parts.append(f"level {point['level']} {word} {shown}{clause}")
        text = "; ".join(parts)
        if "oel" in row:
            oel = row["oel"]
            text += (
                f" (OEL {_number(oel['value'])} {oel['unit']} {oel['basis']},"
                f" {oel['standard']} {oel['clause']}, {oel['confirmed']})"
            )
        return text
    if "value" not in row:
        return "— (no value)"
    return f"{_number(row['value'])} {unit}".strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _applies(row: dict[str, Any]) -> str:
    where = [f"{key} {_number(value)}" for key, value in row.get("where", {}).items()]
    if row.get("default") is False:
        where.append("selected in the site config (not applied by default)")
    return "; ".join(where)


def row_line(row: dict[str, Any], standard: str) -> str:
    """The page's table row for one limit or rule row."""
    cells = [
        f"`{row['id']}`",
        row.get("standard", standard),
        row["clause"],
        _value(row),
        _applies(row),
        f"`{row['confirmed']}`",
        row.get("note", ""),
    ]
    return "| " + " | ".join(_cell(str(cell)) for cell in cells) + " |"


def generated_section() -> str:
    lines = []
    for path in TABLES:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
        lines += [
            f"### `{path.stem}`: {table['standard']}",
            "",
            f"{table['title']} (`config/standards/{path.name}`).",
            "",
            "| row | standard | clause | value | applies | confirmed | note |",
            "|---|---|---|---|---|---|---|",
        ]
        for key in ("limits", "rules"):
            lines += [row_line(row, table["standard"]) for row in table.get(key, [])]
        lines.append("")
    return "\n".join(lines)


def test_every_table_row_is_on_the_page_as_the_table_holds_it() -> None:
    page = PAGE.read_text(encoding="utf-8")
    missing = [line for line in generated_section().splitlines() if line and line not in page]
    assert not missing, (
        "docs/standards.md differs from config/standards/ (print the section with "
        "`python tests/docs/test_standards_page.py`):\n" + "\n".join(missing)
    )


def test_the_page_counts_every_row() -> None:
    rows = sum(
        len(t.get("limits", [])) + len(t.get("rules", []))
        for t in (tomllib.loads(p.read_text(encoding="utf-8")) for p in TABLES)
    )
    listed = sum(
        1 for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("| `")
    )
    assert rows > 100
    assert listed >= rows


if __name__ == "__main__":
    sys.stdout.write(generated_section())
