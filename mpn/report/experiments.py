"""Several experiments' results in one table: `python -m mpn.report.experiments`.

Reads `dvc exp show --json` (the commit's baseline and every experiment DVC holds for
it: queued sweeps, `dvc exp run -S ...`) and prints one Markdown row per experiment,
task and method: the params that differ between the experiments, then the chosen
rates from each one's edit metrics (reports/tasks/<task>/<method>/metrics.json) as
mean [95% interval] in %.

    python -m mpn.report.experiments                       # every experiment of HEAD
    python -m mpn.report.experiments --metrics es clg_heldout_lift --out sweep.md
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from mpn.core.errors import UserError
from mpn.core.io import write_text
from mpn.pipeline.stage import run_stage
from mpn.report.tables import fmt_rate, markdown_table

METRICS_FILE = re.compile(r"^reports/tasks/(?P<task>[^/]+)/(?P<method>[^/]+)/metrics\.json$")
SUMMARY = "reports/tasks/<task>/<method>/metrics.json"
DEFAULT_METRICS = ["es", "mg_lift", "clg_lift", "clg_heldout_lift", "locality_agreement", "locality", "er"]
LIFTS = ("_lift",)  # shown with a sign


@dataclass
class Run:
    """One row source: a baseline commit or an experiment, its params and summary."""
    name: str
    params: dict[str, Any]   # flattened: {"hparams.patcher.lr": 0.01, ...}
    summary: dict[str, Any]  # {task: {method: {metric: {"mean", "low", "high"}}}}


def dvc_exp_show(all_commits: bool = False) -> list[dict]:
    """`dvc exp show --json`, parsed; a failure is one line naming the command."""
    command = ["dvc", "exp", "show", "--json"] + (["--all-commits"] if all_commits else [])
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode:
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"`{' '.join(command)}` failed: {reason}")
    return json.loads(proc.stdout)


def collect(shown: list[dict]) -> list[Run]:
    """Baselines and their experiments (not the workspace), those with a summary."""
    runs = []
    for commit in shown:
        if commit["rev"] != "workspace":
            runs.append(_run(commit.get("name") or commit["rev"][:7], commit))
        for experiment in commit.get("experiments") or []:
            for rev in experiment["revs"]:
                runs.append(_run(rev.get("name") or rev["rev"][:7], rev))
    return [run for run in runs if run.summary]


def _run(name: str, entry: dict) -> Run:
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
    summary: dict[str, Any] = {}
    for path, metrics in sorted((data.get("metrics") or {}).items()):
        if (match := METRICS_FILE.match(path)) and metrics.get("data"):
            headline = committed_json(entry["rev"], path)
            summary.setdefault(match["task"], {})[match["method"]] = rates(headline)
    return Run(name, flatten(params), summary)


def committed_json(rev: str, path: str) -> dict[str, Any]:
    """The file as the commit holds it: DVC's JSON leaves out list values such as ci95,
    and metrics files (cache: false) are committed with every experiment."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    if proc.returncode:
        raise UserError(f"{path} is not committed in {rev[:7]}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def rates(headline: dict[str, Any]) -> dict[str, Any]:
    """An edit stage's metrics.json (means, ci95: [low, high]) -> metric: mean, low, high."""
    intervals = headline.get("ci95") or {}
    return {key: {"mean": mean, "low": intervals[key][0], "high": intervals[key][1]}
            for key, mean in headline.items() if key in intervals}


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def varying(runs: list[Run]) -> list[str]:
    """The params whose values differ between the runs, in params.yaml order."""
    keys = list(dict.fromkeys(k for run in runs for k in run.params))
    return [k for k in keys if len({json.dumps(run.params.get(k), sort_keys=True) for run in runs}) > 1]


def check_metrics(runs: list[Run], metrics: list[str]) -> None:
    known = sorted({metric for run in runs for methods in run.summary.values() for values in methods.values()
                    for metric in values})
    for metric in metrics:
        if metric not in known:
            raise UserError(f"--metrics: {metric!r} is not a rate in {SUMMARY}; allowed: {', '.join(known)}")


def table(runs: list[Run], metrics: list[str], decimals: int = 1) -> str:
    params = varying(runs)
    header = ["Experiment", *params, "task", "method", *metrics]
    rows = []
    for run in runs:
        for task, methods in run.summary.items():
            for method, values in methods.items():
                rows.append([run.name, *(_value(run.params.get(k)) for k in params), task, method,
                             *(fmt_rate(values.get(m), decimals, signed=m.endswith(LIFTS)) for m in metrics)])
    return markdown_table(header, rows)


def _value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS, metavar="NAME",
                        help=f"rates from {SUMMARY} (default: {' '.join(DEFAULT_METRICS)})")
    parser.add_argument("--all-commits", action="store_true", help="experiments of every commit, not only HEAD's")
    parser.add_argument("--decimals", type=int, default=1)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    runs = collect(dvc_exp_show(args.all_commits))
    if not runs:
        raise UserError(f"no commit or experiment has {SUMMARY}: run `dvc repro` or `dvc exp run` first")
    check_metrics(runs, args.metrics)
    text = table(runs, args.metrics, args.decimals) + "\n"
    if args.out:
        write_text(args.out, text)
    print(text, end="")


if __name__ == "__main__":
    run_stage(main)
