"""Stage edit@<task>-<method>: sequential Transformer-Patcher or MPN editing, once per seed.

Usage: python stages/edit.py <task> <method>
Reads models/<task>/ and data/edits/<task>/; writes reports/tasks/<task>/<method>/
metrics.json (every rate over the seeds in params `seeds`, with its pre-edit control and
a bootstrap 95% interval), edits.csv (one row per edit), curve.csv (locality and edit
retention every `edit.eval_every` edits). Timings, which differ from run to run, go to
timing.json beside them, which neither git nor DVC tracks.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import logging
import resource
import time
from pathlib import Path

import torch

from mpn.cli import load_params, run_stage
from mpn.edits import reshuffle_streams
from mpn.editor import Editor
from mpn.errors import UserError
from mpn.io import read_jsonl, write_json, write_text
from mpn.methods import method_hparams
from mpn.models import load_classifier
from mpn.sequential import HeldOut, SequentialEditing, memory_inputs, summarize, timing

log = logging.getLogger(__name__)

EDITS_COLUMNS = ["seed", "stream", "step", "group", "es", "mg_pre", "mg", "clg_pre", "clg",
                 "clg_heldout_pre", "clg_heldout", "clg_seen_pre", "clg_seen", "steps", "patches",
                 "trained_languages", "heldout_languages"]
CURVE_COLUMNS = ["seed", "stream", "n_edits", "locality", "er"]


def csv_text(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: " ".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows)
    return out.getvalue()


def seeds_param(params: dict) -> list[int]:
    seeds = params.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds)
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise UserError(f"seeds = {seeds!r}; must be a non-empty list of distinct integers >= 0")
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("method")
    args = parser.parse_args()
    params = load_params()
    settings = params.get("edit") or {}
    seeds = seeds_param(params)
    hparams = method_hparams(params, args.method)
    design = method_hparams(params, "mpn")  # the held-out languages: the same for every method
    torch.set_num_threads(settings.get("num_threads") or torch.get_num_threads())

    model, tokenizer = load_classifier(Path("models") / args.task)
    folder = Path("data") / "edits" / args.task
    edits = read_jsonl(folder / "edits.jsonl")
    if settings.get("max_edits"):
        edits = edits[:settings["max_edits"]]
    if not edits:
        raise UserError(f"{folder / 'edits.jsonl'} has no edits: the base model made no mistakes to fix")
    locality = read_jsonl(folder / "locality.jsonl")
    memory = memory_inputs(read_jsonl(folder / "memory.jsonl"), hparams)
    val_memory = memory_inputs(read_jsonl(folder / "memory_val.jsonl"), hparams)

    start = time.perf_counter()
    editor = Editor(model, tokenizer, args.method, hparams, engine=settings.get("engine", "cached"),
                    memory=memory, val_memory=val_memory, max_length=settings.get("max_length", 128))
    runner = SequentialEditing(editor, locality, eval_every=settings.get("eval_every", 10))
    runner.precompute(edits)  # once for every seed: the seeds re-draw streams, not texts
    feature_seconds = time.perf_counter() - start
    logs = []
    for seed in seeds:
        torch.manual_seed(seed)
        editor.hparams = dataclasses.replace(hparams, seed=seed)
        runner.heldout = HeldOut.from_hparams(design, seed)
        logs += runner.run(reshuffle_streams(edits, seed))
    metrics = summarize(logs, settings.get("n_bootstrap", 1000), settings.get("seed", 0))
    metrics.update(method=args.method, task=args.task, engine=editor.engine.name,
                   heldout_languages=sorted(design.heldout_languages),
                   heldout_fraction=design.heldout_fraction)

    out = Path("reports") / "tasks" / args.task / args.method
    rows = [row for lg in logs for row in lg.edits]
    write_text(out / "edits.csv", csv_text(rows, EDITS_COLUMNS))
    write_text(out / "curve.csv", csv_text([c for lg in logs for c in lg.curve], CURVE_COLUMNS))
    write_json(out / "metrics.json", metrics)
    write_json(out / "timing.json", {**timing(logs), "feature_pass_seconds": round(feature_seconds, 2),
                                     "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
    log.info("%s/%s: es %s, clg %s (pre %s), clg_heldout %s (pre %s), locality %s, %d edits over %d seeds",
             args.task, args.method, metrics["es"], metrics["clg"], metrics["clg_pre"], metrics["clg_heldout"],
             metrics["clg_heldout_pre"], metrics["locality"], metrics["n_edits"], len(seeds))


if __name__ == "__main__":
    run_stage(main)
