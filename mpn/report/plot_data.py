"""Small CSVs for DVC's own plots (`dvc plots show` / `dvc plots diff`).

One folder per kind of plot, one file per task (or task and method), so dvc.yaml
declares each folder once and new tasks need no dvc.yaml edit:

    clg_by_lang/<task>.csv         lang, method, clg, low, high, pre (unseen texts)
    base_accuracy/<task>.csv       lang, accuracy           (test split)
    curves/<task>-<method>.csv     n_edits, locality, er, streams
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from mpn.report.inputs import TaskReport
from mpn.report.outputs import write_csv

CLG_COLUMNS = ["lang", "method", "clg", "low", "high", "pre"]
BASE_COLUMNS = ["lang", "accuracy"]
CURVE_COLUMNS = ["n_edits", "locality", "er", "streams"]


def clg_rows(report: TaskReport) -> list[dict[str, Any]]:
    """One row per (language, method) with a measured CLG, grouped by language."""
    rows = []
    for lang in report.languages():
        for method, r in report.methods.items():
            rate = r.metrics["clg_by_lang"].get(lang)
            pre = r.metrics["clg_by_lang_pre"].get(lang)
            if rate is not None:
                rows.append({"lang": lang, "method": method, "clg": rate["mean"],
                             "low": rate["low"], "high": rate["high"], "pre": pre and pre["mean"]})
    return rows


def base_accuracy_rows(report: TaskReport) -> list[dict[str, Any]]:
    by_lang = report.base["test"]["accuracy_by_lang"]
    return [{"lang": lang, "accuracy": acc} for lang, acc in by_lang.items()]


def mean_curve(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Locality and ER at each n_edits, averaged over the streams that got that far."""
    points: dict[float, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in curve:
        for metric in ("locality", "er"):
            if row[metric] is not None:
                points[row["n_edits"]][metric].append(row[metric])
        points[row["n_edits"]]["streams"].append((row["seed"], row["stream"]))
    return [{"n_edits": int(n),
             "locality": _mean_or_none(point["locality"]),
             "er": _mean_or_none(point["er"]),
             "streams": len(set(point["streams"]))}
            for n, point in sorted(points.items())]


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def write_plot_data(reports: list[TaskReport], out_dir: Path) -> list[Path]:
    written = []
    for report in reports:
        task = report.task
        written.append(_write(out_dir / "clg_by_lang" / f"{task}.csv", CLG_COLUMNS,
                              clg_rows(report)))
        written.append(_write(out_dir / "base_accuracy" / f"{task}.csv", BASE_COLUMNS,
                              base_accuracy_rows(report)))
        for method, r in report.methods.items():
            written.append(_write(out_dir / "curves" / f"{task}-{method}.csv", CURVE_COLUMNS,
                                  mean_curve(r.curve)))
    return written


def _write(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> Path:
    write_csv(path, columns, rows)
    return path
