"""The report CSVs' cells: 4 decimals, blank for not measurable."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from mpn.core.io import csv_text, write_text


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 4))
    return str(value)


def write_csv(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    write_text(path, csv_text(({c: format_cell(row[c]) for c in columns} for row in rows), columns))
