"""Stage edit@<task>-<method>: sequential editing with one method, once per seed.

Usage: python stages/edit.py <task> <method>
Reads models/<task>/, data/edits/<task>/, data/features/<task>/ and the method's
hyperparameters, data/hparams/<method>.json (stage hparams@<method>); writes reports/tasks/<task>/<method>/
report.json (every rate over the seeds in params `seeds`, with its pre-edit control and
a bootstrap 95% interval), metrics.json (the headline rates, for DVC's own views),
edits.csv (one row per edit), curve.csv (locality and edit
retention every `edit.eval_every` edits). Timings, which differ from run to run, go to
reports/timings/<task>/<method>.json, which neither git nor DVC tracks.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import resource
import time
from pathlib import Path

import torch

from mpn.editing.editor import Editor
from mpn.editing.features import FeatureStore
from mpn.editing.methods import make_hparams
from mpn.experiment.sequential import (Checkpoints, HeldOut, SequentialEditing, headline, memory_inputs, summarize,
                                       timing)
from mpn.experiment.streams import StreamJob, run_streams
from mpn.model.device import resolve_device
from mpn.model.portable import load_classifier
from mpn.pipeline.errors import UserError
from mpn.pipeline.io import csv_text, read_json, read_jsonl, write_json, write_text
from mpn.pipeline.params import EditSettings, pipeline, section
from mpn.pipeline.schema import CURVE_COLUMNS, EDITS_COLUMNS
from mpn.pipeline.stage import load_params, run_stage

log = logging.getLogger(__name__)


def cells(rows: list[dict]) -> list[dict]:
    """Language lists as one space-separated cell."""
    return [{k: " ".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows]


def fingerprint(settings: dict, resolved: dict, task: str, method: str) -> str:
    """What a saved stream depends on: the params this stage reads (`edit`, and the
    method's resolved hyperparameters), the edit set, the model and the code."""
    digest = hashlib.sha256(json.dumps([settings, resolved, method], sort_keys=True).encode())
    code = Path(__file__).resolve().parents[1]
    for folder in (Path("data") / "edits" / task, Path("data") / "features" / task, Path("models") / task,
                   code / "mpn", code / "stages"):
        for path in sorted(p for p in folder.rglob("*") if "__pycache__" not in p.parts):
            if path.is_file():
                digest.update(path.name.encode())
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
    return digest.hexdigest()


def load_features(task: str) -> FeatureStore:
    folder = Path("data") / "features" / task
    if not folder.exists():
        raise UserError(f"no {folder}: the cached engine reads the features stage's output; "
                        f"run `dvc repro features@{task}` (or the whole pipeline) first")
    return FeatureStore.load(folder)


def load_resolved(method: str) -> dict:
    """data/hparams/<method>.json, from stage hparams@<method>."""
    path = Path("data") / "hparams" / f"{method}.json"
    if not path.exists():
        raise UserError(f"no {path}: run `dvc repro hparams@{method}` (or the whole pipeline) first")
    return read_json(path)


def check_languages(languages: dict[str, list[str] | None], task_languages: list[str], task: str) -> None:
    """Held-out and pool languages must be languages the task's edits carry."""
    for key, langs in languages.items():
        for lang in langs or []:
            if lang not in task_languages or lang == "en":
                raise UserError(f"hparams.mpn.{key}: {lang!r} is not a language of task {task}; "
                                f"allowed: {', '.join(l for l in task_languages if l != 'en')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("method")
    args = parser.parse_args()
    params = load_params()
    top = pipeline(params)
    if args.task not in top.tasks or args.method not in top.methods:
        raise UserError(f"{args.task} {args.method}: the task and method must be in params.yaml "
                        f"tasks ({top.tasks}) and methods ({top.methods})")
    settings = section(params, EditSettings)
    device = resolve_device(settings.device, "edit.device")
    seeds = top.seeds
    resolved = load_resolved(args.method)
    hparams = make_hparams(args.method, resolved["hparams"], f"data/hparams/{args.method}.json")
    rotation = resolved["heldout"]
    heldout = HeldOut.for_task(args.task, rotation["languages"], rotation["by_task"], rotation["fraction"])
    own = args.task in rotation["by_task"]  # the task's own held-out languages, for the error's key
    folder = Path("data") / "edits" / args.task
    check_languages({f"heldout_by_task.{args.task}" if own else "heldout_languages": sorted(heldout.fixed),
                     "pool_languages": getattr(hparams, "pool_languages", None)},
                    read_json(folder / "stats.json")["languages"], args.task)
    torch.set_num_threads(settings.num_threads or torch.get_num_threads())

    model, tokenizer = load_classifier(Path("models") / args.task)
    edits = read_jsonl(folder / "edits.jsonl")
    if settings.max_edits:
        edits = edits[:settings.max_edits]
    if not edits:
        raise UserError(f"{folder / 'edits.jsonl'} has no edits: the base model made no mistakes to fix")
    locality = read_jsonl(folder / "locality.jsonl")
    memory = memory_inputs(read_jsonl(folder / "memory.jsonl"), hparams)
    val_memory = memory_inputs(read_jsonl(folder / "memory_val.jsonl"), hparams)

    start = time.perf_counter()
    features = load_features(args.task) if settings.engine == "cached" else None
    torch.manual_seed(settings.seed)  # dropout views of texts the features file lacks
    editor = Editor(model, tokenizer, args.method, hparams, engine=settings.engine, memory=memory,
                    val_memory=val_memory, max_length=settings.max_length, features=features,
                    device=settings.device)
    runner = SequentialEditing(editor, locality, eval_every=settings.eval_every)
    runner.precompute(edits)  # what the features file lacks (nothing, in the pipeline)
    feature_seconds = time.perf_counter() - start
    checkpoints = Checkpoints(Path("data") / "checkpoints" / "edit" / f"{args.task}-{args.method}",
                              fingerprint(dataclasses.asdict(settings), resolved, args.task, args.method))
    resumed = checkpoints.saved()
    job = StreamJob.for_seeds(runner, hparams, heldout, edits, seeds, checkpoints)
    logs = run_streams(job, 1 if device.type == "cuda" else settings.processes)  # CUDA does not survive fork
    if resumed:
        log.info("resumed: %d of %d streams loaded from %s", resumed, len(logs), checkpoints.folder)
    metrics = summarize(logs, settings.n_bootstrap, settings.seed, facts=[e["group"] for e in edits])
    metrics.update(method=args.method, task=args.task, engine=settings.engine,
                   heldout_languages=resolved["heldout"]["languages"],
                   heldout_fraction=resolved["heldout"]["fraction"])

    out = Path("reports") / "tasks" / args.task / args.method
    rows = [row for lg in logs for row in lg.edits]
    write_text(out / "edits.csv", csv_text(cells(rows), EDITS_COLUMNS))
    write_text(out / "curve.csv", csv_text(cells([c for lg in logs for c in lg.curve]), CURVE_COLUMNS))
    write_json(out / "report.json", metrics)
    write_json(out / "metrics.json", headline(metrics))
    timings = Path("reports") / "timings" / args.task / f"{args.method}.json"  # read by ReportLayout.timing
    peak_kb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    write_json(timings, {**timing(logs), "feature_pass_seconds": round(feature_seconds, 2),
                         "peak_memory_mb": round(peak_kb / 1024, 1)})
    log.info("%s/%s: es %s, clg %s (pre %s), clg_heldout %s (pre %s), locality %s, %d edits over %d seeds",
             args.task, args.method, metrics["es"], metrics["clg"], metrics["clg_pre"], metrics["clg_heldout"],
             metrics["clg_heldout_pre"], metrics["locality"], metrics["n_edits"], len(seeds))


if __name__ == "__main__":
    run_stage(main)
