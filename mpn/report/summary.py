"""reports/summary.json: every task's and method's metrics in one DVC metrics file;
reports/paired.json: every paired method comparison, in its own file so that each
file keeps one shape (task -> method, task -> "method − baseline").

`dvc metrics show` flattens nested keys (xfacts.mpn.clg.mean) and leaves out nulls
and lists, so the file keeps the edit stage's keys as they are and only rounds floats:
a table of 0.8333333333 columns is unreadable, and 4 digits is finer than any interval.
"""
from __future__ import annotations

from typing import Any

from mpn.report.inputs import TaskReport

DIGITS = 4


def build_summary(reports: list[TaskReport]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per task: each method's metrics."""
    return {report.task: {method: rounded(r.metrics) for method, r in report.methods.items()} for report in reports}


def build_paired(comparisons: dict) -> dict[str, dict[str, dict[str, Any]]]:
    """Per task, per "method − baseline": metric -> n_pairs, n_facts, mean, low, high, sd."""
    return {task: {pair: {metric: rounded(diff.as_dict()) for metric, diff in diffs.items()}
                   for pair, diffs in pairs.items()}
            for task, pairs in comparisons.items()}


def rounded(value: Any, digits: int = DIGITS) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value
