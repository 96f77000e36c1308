"""Datasets in one normalized schema: tasks, their sources, splits, and loading.

Tasks plug in by name through `registry`; importing this package registers them all.
Imports mpn.core only.
"""
from mpn.data import fever, xfacts, xnli  # noqa: F401  (registers the tasks)
from mpn.data.xfacts import lm_task  # noqa: F401  (registers xfacts-lm)
from mpn.data.registry import get_task, is_completion, task_names
from mpn.data.store import load_meta, load_rows
from mpn.core.schema import SPLITS

__all__ = ["SPLITS", "get_task", "is_completion", "load_meta", "load_rows", "task_names"]
