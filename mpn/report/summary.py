"""reports/summary.json: every task's and method's metrics in one DVC metrics file.

`dvc metrics show` flattens nested keys (xfacts.mpn.clg.mean) and leaves out nulls
and lists, so the file keeps the edit stage's keys as they are and only rounds floats:
a table of 0.8333333333 columns is unreadable, and 4 digits is finer than any interval.
"""
from __future__ import annotations

from typing import Any

from mpn.report.inputs import TaskReport

DIGITS = 4


def build_summary(reports: list[TaskReport], comparisons: dict | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Per task: each method's metrics, and under `paired` every paired comparison
    ("method − baseline": metric -> n_pairs, n_facts, mean, low, high, sd)."""
    out = {report.task: {method: rounded(r.metrics) for method, r in report.methods.items()} for report in reports}
    for task, pairs in (comparisons or {}).items():
        out[task]["paired"] = {pair: {metric: rounded(diff.as_dict()) for metric, diff in diffs.items()}
                               for pair, diffs in pairs.items()}
    return out


def rounded(value: Any, digits: int = DIGITS) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value
