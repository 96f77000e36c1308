"""The download stage's work: build every task in `tasks`, then write them all."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from mpn.data.registry import get_task
from mpn.data.settings import DataConfig
from mpn.data.store import stage_task
from mpn.core.errors import UserError
from mpn.core.io import replace_folder

log = logging.getLogger(__name__)


def _task_names(tasks: Any) -> list[str]:
    if not isinstance(tasks, list) or not tasks or len(set(map(str, tasks))) != len(tasks):
        raise UserError(f"tasks: {tasks!r} must be a non-empty list of distinct task names")
    return tasks


def download_tasks(tasks: Any, data: dict[str, Any], out_root: str | Path) -> dict[str, dict]:
    """Write data/raw/<task>/ for each task; returns each task's meta. Every task's
    params are checked before anything is fetched, and nothing is replaced unless all
    tasks were built."""
    if not isinstance(data, dict):
        raise UserError(f"data: expected a mapping, got {data!r}")
    out_root = Path(out_root)
    cfg = DataConfig.from_params(data)
    names = _task_names(tasks)
    chosen = [get_task(name) for name in names]   # every name checked before any work
    builders = [(task.name, task.prepare(data, cfg)) for task in chosen]
    staged: list[tuple[str, Path, dict]] = []
    try:
        for name, build in builders:
            task_data = build()
            staged.append((name, stage_task(task_data, out_root), task_data.meta()))
            log.info("%s: %s", name, task_data.counts())
        for name, tmp, _ in staged:
            replace_folder(tmp, out_root / name)
    finally:
        for _, tmp, _ in staged:
            shutil.rmtree(tmp, ignore_errors=True)
    return {name: meta for name, _, meta in staged}
