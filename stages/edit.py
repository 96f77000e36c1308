"""Stage edit@<task>-<method>: sequential Transformer-Patcher or MPN editing.

Usage: python stages/edit.py <task> <method>
Reads models/<task>/ and data/edits/<task>/; writes reports/tasks/<task>/<method>/
metrics.json (every rate with a bootstrap 95% interval), edits.csv (one row per edit)
and curve.csv (locality and edit retention every `edit.eval_every` edits).
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
from pathlib import Path

import torch

from mpn.cli import load_params, run_stage
from mpn.editor import Editor
from mpn.errors import UserError
from mpn.io import read_jsonl, write_json, write_text
from mpn.methods import method_hparams
from mpn.models import load_classifier
from mpn.sequential import SequentialEditing, memory_inputs, summarize

log = logging.getLogger(__name__)


def csv_text(rows: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task")
    parser.add_argument("method")
    args = parser.parse_args()
    params = load_params()
    settings = params.get("edit") or {}
    hparams = method_hparams(params, args.method)
    heldout = list((params.get("mpn") or {}).get("heldout_languages") or [])
    torch.manual_seed(settings.get("seed", 0))
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

    editor = Editor(model, tokenizer, args.method, hparams, engine=settings.get("engine", "cached"),
                    memory=memory, val_memory=val_memory, max_length=settings.get("max_length", 128))
    runner = SequentialEditing(editor, locality, heldout, settings.get("eval_every", 10))
    runner.precompute(edits)
    logs = runner.run(edits)
    metrics = summarize(logs, heldout, settings.get("n_bootstrap", 1000), settings.get("seed", 0))
    metrics["method"], metrics["task"], metrics["engine"] = args.method, args.task, editor.engine.name

    out = Path("reports") / "tasks" / args.task / args.method
    rows = [row for lg in logs for row in lg.edits]
    write_text(out / "edits.csv", csv_text(rows, ["stream", "step", "group", "es", "mg", "clg", "clg_heldout",
                                                  "steps", "seconds", "patches"]))
    write_text(out / "curve.csv", csv_text([c for lg in logs for c in lg.curve],
                                           ["stream", "n_edits", "locality", "er"]))
    write_json(out / "metrics.json", metrics)
    log.info("%s/%s: es %s, clg %s, clg_heldout %s, locality %s, %d edits, %.3f s/edit",
             args.task, args.method, metrics["es"], metrics["clg"], metrics["clg_heldout"],
             metrics["locality"], metrics["n_edits"], metrics["sec_per_edit"] or 0)


if __name__ == "__main__":
    run_stage(main)
