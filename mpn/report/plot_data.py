"""Small CSVs for DVC's own plots (`dvc plots show` / `dvc plots diff`).

One folder per kind of plot, one file per task (or task and method), so dvc.yaml
declares each folder once and new tasks need no dvc.yaml edit:

    clg_by_lang/<task>.csv         lang, method, clg, low, high, pre (unseen texts)
    base_accuracy/<task>.csv       lang, accuracy           (test split)
    curves/<task>-<method>.csv     n_edits, agreement, er, locality, streams (up to the
                                   shortest stream, so every point averages every stream)
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
CURVE_COLUMNS = ["n_edits", "agreement", "er", "locality", "streams"]
CURVE_METRICS = ("agreement", "er", "locality")  # locality: the ratio to the base model (may pass 1)


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


def shared_points(curve: list[dict[str, Any]], metric: str) -> dict[int, list[float]]:
    """n_edits -> `metric` of every stream, at each n_edits that every stream (seed,
    stream) measured: streams differ in length (each ends at its last mistake), and a
    point past the shortest would average fewer, different streams."""
    by_stream: dict[tuple, dict[int, float]] = defaultdict(dict)
    for row in curve:
        by_stream[(row["seed"], row["stream"])][int(row["n_edits"])] = row[metric]
    shared = set.intersection(*(set(points) for points in by_stream.values())) if by_stream else set()
    return {n: [points[n] for points in by_stream.values()] for n in sorted(shared)
            if all(points[n] is not None for points in by_stream.values())}


def mean_curve(curve: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each CURVE_METRICS' mean over all streams, at each n_edits every stream reached."""
    means = {metric: shared_points(curve, metric) for metric in CURVE_METRICS}
    streams = len({(row["seed"], row["stream"]) for row in curve})
    return [{"n_edits": n, **{m: float(np.mean(means[m][n])) if n in means[m] else None for m in CURVE_METRICS},
             "streams": streams}
            for n in sorted(set().union(*means.values()))]


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
