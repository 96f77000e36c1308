"""Tasks plug in here by name; the download stage looks them up."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from mpn.data.task_data import TaskData
from mpn.core.errors import UserError

if TYPE_CHECKING:  # for the annotation only: mpn.data.settings reads this registry's names
    from mpn.data.settings import DataConfig

# A builder validates its `data.<task>` section first and only then fetches anything,
# so that bad params fail before any download starts.
Prepare = Callable[[dict[str, Any], "DataConfig"], Callable[[], TaskData]]


@dataclass(frozen=True)
class Task:
    name: str
    sources: tuple[str, ...]
    prepare: Prepare
    # The kind of fact a group states (xfacts: currency, city, ...), for per-relation
    # tables; None where a task's groups name none.
    relation: Callable[[str], str | None] | None = None
    # classify: a classifier's input and label (every task but one); complete: a prompt and
    # the object a causal LM completes it with (xfacts-lm), edited by mpn.experiment.lm_tasks
    kind: str = "classify"


_TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    _TASKS[task.name] = task
    return task


def task_names() -> list[str]:
    return sorted(_TASKS)


def is_completion(name: str) -> bool:
    """Is `name` a task a causal LM completes (kind "complete")? A name no module
    registers (rows a user wrote under data/raw/<name>) is a classification task."""
    return name in _TASKS and _TASKS[name].kind == "complete"


def get_task(name: Any) -> Task:
    if name not in _TASKS:
        raise UserError(f"unknown task {name!r} in tasks; allowed: {', '.join(task_names())}")
    return _TASKS[name]
