"""Stage edit@<task>-<method>: sequential editing with one method, once per seed.

Usage (dvc.yaml spells out every path):
    python stages/edit.py <task> <method> --model models/<task> --edits data/edits/<task>
        --features data/features/<task> --hparams data/hparams/<method>.json
        --out reports/tasks/<task>/<method> --timings reports/timings/<task>/<method>.json
        --checkpoints data/checkpoints/edit/<task>-<method>
Reads the fine-tuned model, the edit sets, the features, the method's
hyperparameters (stage hparams@<method>) and params.yaml's `edit` (with `edit.heldout`,
the held-out languages every method is measured on); writes to the out folder report.json (every
rate over the seeds in params `seeds`, with its pre-edit control and a bootstrap 95%
interval), metrics.json (the headline rates, for DVC's own views), edits.csv (one row
per edit), curve.csv (locality and edit retention every `edit.eval_every` edits).
Timings, which differ from run to run, go to a file neither git nor DVC tracks; finished
streams are checkpointed so a killed run redoes only the others.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import resource
import time
from pathlib import Path

import torch

from mpn.data import is_completion
from mpn.editing.features import FeatureStore
from mpn.editing.methods import make_hparams
from mpn.editing.resolver import read_resolved
from mpn.experiment import lm_tasks
from mpn.experiment.heldout import HeldOut
from mpn.experiment.lm_sets import LMTaskSettings
from mpn.experiment.run import EditRun
from mpn.experiment.checkpoints import Checkpoints
from mpn.experiment.summary import headline, summarize, timing
from mpn.model.device import resolve_device
from mpn.core.errors import UserError
from mpn.core.io import csv_text, read_json, write_json, write_text
from mpn.core.params import EditSettings, pipeline, section
from mpn.core.schema import CURVE_COLUMNS, EDITS_COLUMNS
from mpn.pipeline.stage import run_stage, stage_args

log = logging.getLogger(__name__)


def cells(rows: list[dict]) -> list[dict]:
    """Language lists as one space-separated cell."""
    return [{k: " ".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows]


def fingerprint(settings: dict, resolved: dict, method: str, inputs: list[Path]) -> str:
    """What a saved stream depends on: the params this stage reads (`edit`, and the
    method's resolved hyperparameters), the input folders and the code."""
    digest = hashlib.sha256(json.dumps([settings, resolved, method], sort_keys=True).encode())
    code = Path(__file__).resolve().parents[1]
    for folder in (*inputs, code / "mpn", code / "stages"):
        for path in sorted(p for p in folder.rglob("*") if "__pycache__" not in p.parts):
            if path.is_file():
                digest.update(path.name.encode())
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
    return digest.hexdigest()


def load_features(folder: Path, task: str) -> FeatureStore:
    if not folder.exists():
        raise UserError(f"no {folder}: the cached engine reads the features stage's output; "
                        f"run `dvc repro features@{task}` (or the whole pipeline) first")
    return FeatureStore.load(folder)


def check_languages(languages: dict[str, list[str] | None], task_languages: list[str], task: str) -> None:
    """Held-out and pool languages (key -> languages) must be languages the task's edits carry."""
    for key, langs in languages.items():
        for lang in langs or []:
            if lang not in task_languages or lang == "en":
                raise UserError(f"{key}: {lang!r} is not a language of task {task}; "
                                f"allowed: {', '.join(l for l in task_languages if l != 'en')}")


PATHS = {"model": "the fine-tuned model's folder", "edits": "the edit sets' folder",
         "features": "the features' folder (read by the cached engine)",
         "hparams": "the method's resolved hyperparameters (JSON)", "out": "the reports' folder",
         "timings": "the untracked timings file (JSON)", "checkpoints": "the finished streams' folder (not a DVC out)"}


def checked_heldout(args, settings: EditSettings, more: dict | None = None) -> list[str]:
    """The task's fixed held-out languages, each (and every list in `more`, by its key) a
    language of its edit set, or a one-line error naming the key."""
    fixed = settings.heldout.fixed(args.task)
    own = args.task in settings.heldout.by_task  # the task's own held-out languages, for the error's key
    check_languages({f"edit.heldout.by_task.{args.task}" if own else "edit.heldout.languages": fixed, **(more or {})},
                    read_json(args.edits / "stats.json")["languages"], args.task)
    return fixed


def classifier_logs(args, top, settings: EditSettings, resolved: dict, device) -> tuple[list, list[str], dict, dict]:
    """The streams of a classification task (mpn.experiment.run), the facts they drew
    from, what report.json says of the run, and its timings (with the streams resumed)."""
    start = time.perf_counter()
    method = resolved["method"]  # what runs (a preset's method)
    hparams = make_hparams(method, resolved["hparams"], str(args.hparams))
    folder = args.edits
    fixed = checked_heldout(args, settings, {"hparams.mpn.pool_languages": getattr(hparams, "pool_languages", None)})
    features = load_features(args.features, args.task) if settings.engine == "cached" else None
    run = EditRun.from_paths(method, hparams, args.task, args.model, folder, settings, features, settings.max_edits)
    feature_seconds = time.perf_counter() - start
    checkpoints = Checkpoints(args.checkpoints, fingerprint(dataclasses.asdict(settings), resolved, args.method,
                                                            [args.edits, args.features, args.model]))
    resumed = checkpoints.saved()
    logs = run.run(top.seeds, checkpoints, 1 if device.type == "cuda" else settings.processes)  # CUDA does not survive fork
    return logs, [e["group"] for e in run.edits], {"heldout_languages": sorted(run.heldout.fixed),
                                                   "heldout_fraction": run.heldout.fraction}, \
        {"resumed": resumed, "feature_pass_seconds": round(feature_seconds, 2)}


def completion_logs(args, top, settings: EditSettings, resolved: dict, params: dict
                    ) -> tuple[list, list[str], dict, dict]:
    """The streams of a completion task on its causal LM (mpn.experiment.lm_tasks)."""
    lm, sizes = resolved["lm"], section(params, LMTaskSettings)
    fixed = checked_heldout(args, settings)
    heldout = HeldOut(frozenset(fixed), settings.heldout.fraction)
    checkpoints = Checkpoints(args.checkpoints, fingerprint([dataclasses.asdict(settings), dataclasses.asdict(sizes)],
                                                            lm, args.method, [args.edits, args.features, args.model]))
    resumed = checkpoints.saved()
    logs, facts = lm_tasks.edit(args.task, lm, args.model, args.edits, args.features, sizes, top.seeds, heldout,
                                settings.engine, settings.eval_every, checkpoints)
    return logs, facts, {"heldout_languages": sorted(fixed), "heldout_fraction": settings.heldout.fraction,
                         "lm_method": lm["method"], "not_applicable": lm["not_applicable"]}, {"resumed": resumed}


def main() -> None:
    args, params = stage_args(__doc__, ("task", "method"), PATHS)
    top = pipeline(params)
    settings = section(params, EditSettings)
    device = resolve_device(settings.device, "edit.device")
    resolved = read_resolved(args.hparams, args.method)
    torch.set_num_threads(settings.num_threads or torch.get_num_threads())

    if is_completion(args.task):
        logs, facts, about, timings = completion_logs(args, top, settings, resolved, params)
    else:
        logs, facts, about, timings = classifier_logs(args, top, settings, resolved, device)
    resumed = timings.pop("resumed")
    if resumed:
        log.info("resumed: %d of %d streams loaded from %s", resumed, len(logs), args.checkpoints)
    metrics = summarize(logs, settings.n_bootstrap, settings.seed, facts=facts)
    metrics.update(method=args.method, task=args.task, engine=settings.engine, **about)

    out = args.out
    rows = [row for lg in logs for row in lg.edits]
    write_text(out / "edits.csv", csv_text(cells(rows), EDITS_COLUMNS))
    write_text(out / "curve.csv", csv_text(cells([c for lg in logs for c in lg.curve]), CURVE_COLUMNS))
    write_json(out / "report.json", metrics)
    write_json(out / "metrics.json", headline(metrics))
    peak_kb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    write_json(args.timings, {**timing(logs), **timings, "peak_memory_mb": round(peak_kb / 1024, 1)})
    log.info("%s/%s: es %s, clg %s (pre %s), clg_heldout %s (pre %s), locality %s, %d edits over %d seeds",
             args.task, args.method, metrics["es"], metrics["clg"], metrics["clg_pre"], metrics["clg_heldout"],
             metrics["clg_heldout_pre"], metrics["locality"], metrics["n_edits"], len(top.seeds))


if __name__ == "__main__":
    run_stage(main)
