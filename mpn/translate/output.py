"""Write a task's translated rows: the whole directory is swapped in at once, so a failed
or interrupted run leaves the previous outputs untouched."""
from __future__ import annotations

import os
from pathlib import Path

from mpn.core.io import atomic_folder, write_json, write_jsonl


def write_translations(out_dir: str | os.PathLike, rows: dict[str, list[dict]],
                       summary: dict) -> list[Path]:
    """<lang>.jsonl for every language with rows, plus summary.json; returns the files."""
    out_dir = Path(out_dir)
    with atomic_folder(out_dir) as tmp:
        for lang, lang_rows in sorted(rows.items()):
            if lang_rows:
                write_jsonl(tmp / f"{lang}.jsonl", lang_rows)
        write_json(tmp / "summary.json", summary)
        written = sorted(p.name for p in tmp.iterdir())
    return [out_dir / name for name in written]
