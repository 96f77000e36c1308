"""Write a task's translated rows: the whole directory is swapped in at once, so a failed
or interrupted run leaves the previous outputs untouched."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from mpn.io import write_json, write_jsonl


def write_translations(out_dir: str | os.PathLike, rows: dict[str, list[dict]],
                       summary: dict) -> list[Path]:
    """<lang>.jsonl for every language with rows, plus summary.json; returns the files."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would outlive the rename
    try:
        for lang, lang_rows in sorted(rows.items()):
            if lang_rows:
                write_jsonl(tmp / f"{lang}.jsonl", lang_rows)
        write_json(tmp / "summary.json", summary)
        written = sorted(p.name for p in tmp.iterdir())
        _replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out_dir / name for name in written]


def _replace_dir(new: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old)
