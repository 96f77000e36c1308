"""The aggregate stage's inputs: where each file lives, which stage makes it, and
strict loading of the edit stage's report.json, edits.csv and curve.csv.

Paths come from the params' task and method lists, never from globbing, so a missing
report is an error that names the file and the stage to run, not a silently shorter table.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpn.core.errors import UserError
from mpn.core.io import read_json
from mpn.core.schema import CURVE_COLUMNS

# Each generalization rate comes with its pre-edit control and the lift (post - pre).
GENERALIZATION = ("mg", "clg", "clg_heldout", "clg_paraphrase")
RATE_KEYS = ("es", *(f"{k}{s}" for k in GENERALIZATION for s in ("", "_pre", "_lift")),
             "clg_seen", "locality", "locality_agreement", "er")
RATE_BY_LANG_KEYS = (*(f"{k}{s}" for k in ("clg_by_lang", "clg_heldout_by_lang")
                       for s in ("", "_pre", "_lift")), "locality_by_lang", "er_by_lang", "er_by_lang_after_edit")
COUNT_KEYS = ("n_facts", "n_edits", "patches")
METRIC_KEYS = (*RATE_KEYS, *RATE_BY_LANG_KEYS, *COUNT_KEYS, "heldout_languages", "heldout_fraction",
               "heldout_edits_by_lang", "seeds", "n_edits_by_seed", "steps_per_edit")
INTERVAL_KEYS = ("mean", "low", "high")

EDITS_NUMERIC = ("step", "es", "mg_pre", "mg", "clg_pre", "clg", "clg_heldout_pre",
                 "clg_heldout", "clg_paraphrase_pre", "clg_paraphrase", "patches")
EDITS_KEYS = ("seed", "stream", "step", "group")
CURVE_NUMERIC = ("n_edits", "locality", "agreement", "er")
CURVE_KEYS = ("seed", "stream", "n_edits")


@dataclass(frozen=True)
class ExpectedFile:
    """An input file and the DVC stage that writes it (named in missing-file errors)."""

    path: Path
    stage: str

    def require(self) -> Path:
        if not self.path.is_file():
            raise UserError(f"missing {self.path}: it is made by stage {self.stage} "
                            f"(run `dvc repro {self.stage}`)")
        return self.path


@dataclass(frozen=True)
class ReportLayout:
    """Where the finetune and edit stages put their per-task reports: all under one
    folder (the aggregate stage's single dep in dvc.yaml, whatever params `tasks` is)."""

    root: Path  # <root>/<task>/base.json and <root>/<task>/<method>/ (reports/tasks in dvc.yaml)
    timings: Path  # <timings>/<task>/<method>.json, from the edit stage (untracked)

    def base(self, task: str) -> ExpectedFile:
        return ExpectedFile(self.root / task / "base.json", f"finetune@{task}")

    def _method_file(self, task: str, method: str, name: str) -> ExpectedFile:
        return ExpectedFile(self.root / task / method / name, f"edit@{task}-{method}")

    def report(self, task: str, method: str) -> ExpectedFile:
        return self._method_file(task, method, "report.json")

    def edits(self, task: str, method: str) -> ExpectedFile:
        return self._method_file(task, method, "edits.csv")

    def curve(self, task: str, method: str) -> ExpectedFile:
        return self._method_file(task, method, "curve.csv")

    def timing(self, task: str, method: str) -> Path:
        """Optional and machine-local: neither git nor DVC tracks it, and it lies outside
        the aggregate stage's dep folder, so a rerun's new timings change no hash."""
        return self.timings / task / f"{method}.json"


@dataclass(frozen=True)
class MethodReport:
    method: str
    metrics: dict[str, Any]
    edits: list[dict[str, Any]]
    curve: list[dict[str, Any]]
    timing: dict[str, Any] | None = None  # seconds per edit etc., if this machine ran it


@dataclass(frozen=True)
class TaskReport:
    task: str
    base: dict[str, Any]
    methods: dict[str, MethodReport] = field(default_factory=dict)

    def languages(self, key: str = "clg_by_lang") -> list[str]:
        """Languages in any method's `key` (a by-language metric), in first-seen order."""
        seen: dict[str, None] = {}
        for report in self.methods.values():
            seen.update(dict.fromkeys(report.metrics[key]))
        return list(seen)

    @property
    def heldout_languages(self) -> set[str]:
        """Languages always held out of MPN's pool (`edit.heldout.languages`); with the
        rotation, any language may be held out for some edits besides."""
        return {lang for r in self.methods.values() for lang in r.metrics["heldout_languages"]}


def check_names(kind: str, names: Any) -> list[str]:
    """params `tasks` / `methods` must be a non-empty list of distinct plain names."""
    if not isinstance(names, list) or not names:
        raise UserError(f"params {kind}: expected a non-empty list of names, got {names!r}")
    for name in names:
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise UserError(f"params {kind}: bad name {name!r}; allowed: plain names "
                            "like xfacts or mpn (no '/', not starting with '.')")
    if len(set(names)) != len(names):
        raise UserError(f"params {kind}: duplicate names in {names!r}")
    return names


def load_reports(tasks: list[str], methods: list[str],
                 layout: ReportLayout) -> list[TaskReport]:
    """Read and check every input before anything is written."""
    check_names("tasks", tasks)
    check_names("methods", methods)
    return [_load_task(task, methods, layout) for task in tasks]


def _load_task(task: str, methods: list[str], layout: ReportLayout) -> TaskReport:
    base = _check_base(layout.base(task).require())
    reports = {}
    for method in methods:
        metrics = _check_metrics(layout.report(task, method).require())
        edits = read_csv_table(layout.edits(task, method).require(), (*EDITS_KEYS, *EDITS_NUMERIC),
                               EDITS_NUMERIC, EDITS_KEYS)
        curve = read_csv_table(layout.curve(task, method).require(), CURVE_COLUMNS,
                               CURVE_NUMERIC, CURVE_KEYS)
        timings = layout.timing(task, method)
        timing = read_json(timings) if timings.is_file() else None
        reports[method] = MethodReport(method, metrics, edits, curve, timing)
    return TaskReport(task, base, reports)


def _check_base(path: Path) -> dict[str, Any]:
    base = read_json(path)
    if not isinstance(base, dict):
        raise UserError(f"{path}: expected a JSON object")
    _require_number(path, "majority_baseline", base.get("majority_baseline"))
    for split in ("val", "test"):
        part = base.get(split)
        if not isinstance(part, dict) or not isinstance(part.get("accuracy_by_lang"), dict):
            raise UserError(f"{path}: missing {split}.accuracy_by_lang "
                            "(expected {lang: accuracy})")
        _require_number(path, f"{split}.accuracy", part.get("accuracy"))
        for lang, acc in part["accuracy_by_lang"].items():
            _require_number(path, f"{split}.accuracy_by_lang.{lang}", acc)
    return base


def _check_metrics(path: Path) -> dict[str, Any]:
    metrics = read_json(path)
    if not isinstance(metrics, dict):
        raise UserError(f"{path}: expected a JSON object")
    missing = [key for key in METRIC_KEYS if key not in metrics]
    if missing:
        raise UserError(f"{path}: missing keys {missing}; expected keys: {list(METRIC_KEYS)}")
    for key in RATE_KEYS:
        _check_rate(path, key, metrics[key])
    for key in RATE_BY_LANG_KEYS:
        if not isinstance(metrics[key], dict):
            raise UserError(f"{path}: {key} must be an object {{lang: rate}}, "
                            f"got {metrics[key]!r}")
        for lang, rate in metrics[key].items():
            _check_rate(path, f"{key}.{lang}", rate)
    for key in COUNT_KEYS:
        _require_number(path, key, metrics[key])
    heldout = metrics["heldout_languages"]
    if not isinstance(heldout, list) or not all(isinstance(x, str) for x in heldout):
        raise UserError(f"{path}: heldout_languages must be a list of language codes, "
                        f"got {heldout!r}")
    return metrics


def _check_rate(path: Path, key: str, rate: Any) -> None:
    """A rate is null (not measurable) or {"mean", "low", "high"} numbers."""
    if rate is None:
        return
    if not isinstance(rate, dict) or any(k not in rate for k in INTERVAL_KEYS):
        raise UserError(f"{path}: {key} must be null or an object with keys "
                        f"{list(INTERVAL_KEYS)}, got {rate!r}")
    for k in INTERVAL_KEYS:
        _require_number(path, f"{key}.{k}", rate[k])


def _require_number(path: Path, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise UserError(f"{path}: {key} must be a number, got {value!r}")


def read_csv_table(path: Path, columns: tuple[str, ...], numeric: tuple[str, ...],
                   keys: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Rows as dicts; numeric columns parsed to float (blank cell -> None, which only
    the non-key columns may have: a blank rate means not measurable)."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise UserError(f"{path}: missing columns {missing}; expected columns "
                            f"{list(columns)}, found {header}")
        return [_parse_row(path, reader.line_num, row, numeric, keys) for row in reader]


def _parse_row(path: Path, line: int, row: dict[str, str], numeric: tuple[str, ...],
               keys: tuple[str, ...]) -> dict[str, Any]:
    for column in keys:
        if not (row[column] or "").strip():
            raise UserError(f"{path}:{line}: column {column} is blank; it must name the "
                            "row (allowed: a non-empty value)")
    parsed: dict[str, Any] = dict(row)
    for column in numeric:
        cell = (row[column] or "").strip()
        try:
            parsed[column] = float(cell) if cell else None
        except ValueError:
            raise UserError(f"{path}:{line}: column {column} value {cell!r} "
                            "is not a number") from None
    return parsed
