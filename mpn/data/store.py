"""Writing tasks to data/raw/<task>/ all-or-nothing, and reading them back.

Each task is written to a temp directory next to its final place and renamed into
place only once every task has been built, so a failed run leaves the previous
outputs as they were.
"""
from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

from mpn.data.task_data import TaskData
from mpn.core.errors import UserError
from mpn.core.io import read_json, read_jsonl, staging_folder, write_json, write_jsonl
from mpn.core.schema import SPLITS


def check(data: TaskData) -> None:
    """The checks every task must pass before it is written."""
    if not data.rows:
        raise UserError(f"{data.task}: no rows left to write (empty result)")
    groups = data.group_counts()
    for split in SPLITS:
        if groups[split] == 0:
            raise UserError(f"{data.task}: split {split!r} is empty ({sum(groups.values())} "
                            "groups in all); feed it more data or raise its ratio")
    dupes = [i for i, n in Counter(r["id"] for r in data.rows).items() if n > 1]
    if dupes:
        raise UserError(f"{data.task}: duplicate row id {dupes[0]!r}")


def stage_task(data: TaskData, out_root: Path) -> Path:
    """Write a task to a fresh temp dir under out_root; returns that dir."""
    check(data)
    tmp = staging_folder(out_root / data.task)
    try:
        for split in SPLITS:
            write_jsonl(tmp / f"{split}.jsonl", (r for r in data.rows if r["split"] == split))
        write_json(tmp / "meta.json", data.meta())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def raw_dir(task: str, root: str | os.PathLike = "data") -> Path:
    return Path(root) / "raw" / task


def load_meta(task: str, root: str | os.PathLike = "data") -> dict:
    return read_json(raw_dir(task, root) / "meta.json")


def load_rows(task: str, root: str | os.PathLike = "data") -> list[dict]:
    """Raw rows of every split, then translated rows; on the same (group, lang, variant)
    the raw row wins over a translated one."""
    rows = [r for split in SPLITS for r in read_jsonl(raw_dir(task, root) / f"{split}.jsonl")]
    translated = Path(root) / "translated" / task
    if translated.is_dir():
        for path in sorted(translated.glob("*.jsonl")):
            rows += read_jsonl(path)
    seen: set[tuple[str, str, str]] = set()
    out = []
    for row in rows:
        key = (row["group"], row["lang"], row["variant"])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out
