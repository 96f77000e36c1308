"""Transfer study: variants of an editing method on the same edits, the same language
rotation and the same seeds, each compared, edit by edit, with Transformer-Patcher.

    python bench/transfer_study.py --task xfacts --variants patcher mpn "mpn:key_init=mean" \
        "mpn:k_translations=2,memory_per_language=400" [--seeds 0 1 2] [--max-edits 200]

A variant is METHOD or METHOD:NAME=VALUE,... (the method's hyperparameters from
params.yaml, then these). Needs a pipeline run of the task (models/<task>,
data/edits/<task>, data/features/<task>). Every variant edits in streams from the base
model, as the edit stage does, with the held-out rotation of params.yaml `hparams.mpn`
(one draw per edit and seed, the same for every variant); `patcher` always runs, first,
as the paired baseline. Prints one JSON line per variant:

- es; clg_heldout pre, post and lift (mean and 95% interval over seeds);
- heldout_lift_vs_patcher: the held-out lift minus patcher's on the same edits (seed,
  stream, group), with a paired bootstrap interval; for X+mpn, also
  heldout_lift_vs_plain_method, against X when X is among the variants (run it first);
- pool_unseen_lift: the lift on pool languages' texts the method did not train on;
- heldout_lift_by_lang: the held-out lift in each language (when it was held out);
- locality_agreement, er, steps and seconds per edit (median);
- sources: which engine (or people) made each language's texts, as the task's data says.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "stages"))  # the edit stage's stream runner

from edit import StreamJob, load_features, run_streams  # noqa: E402

from mpn.cli import load_params  # noqa: E402
from mpn.editor import Editor  # noqa: E402
from mpn.io import read_json, read_jsonl  # noqa: E402
from mpn.methods import make_hparams, method_hparams  # noqa: E402
from mpn.metrics import rate  # noqa: E402
from mpn.models import load_classifier  # noqa: E402
from mpn.params import section  # noqa: E402
from mpn.report.paired import paired_difference  # noqa: E402
from mpn.sequential import HeldOut, SequentialEditing, memory_inputs, summarize  # noqa: E402

BASELINE = "patcher"


def split_top_level(text: str) -> list[str]:
    """'a=1,b=[x,y]' -> ['a=1', 'b=[x,y]']: commas inside brackets stay with their value."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    return [item for item in items + [text[start:]] if item]


def parse_variant(spec: str, params: dict):
    """'mpn:key_init=mean,pool_languages=[de,es]' -> (method, overrides, hparams)."""
    method, _, rest = spec.partition(":")
    overrides = {}
    for item in split_top_level(rest):
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    base = dataclasses.asdict(method_hparams(params, method))
    return method, overrides, make_hparams(method, {**base, **overrides}, f"variant {spec!r}")


def method_of(spec: str) -> str:
    return spec.partition(":")[0]


def pool_unseen(row: dict) -> float | None:
    """Mean lift over the pool languages' texts the edit did not train on."""
    lifts = [r["post"] - r["pre"] for lang, r in row["by_lang"].items()
             if lang != "en" and not r["heldout"] and r["post"] is not None and r["pre"] is not None]
    return sum(lifts) / len(lifts) if lifts else None


def sources(task: str) -> dict[str, str]:
    """Who made each language's texts: the translate stage's provider where it wrote
    them, else the task's own source (xfacts: generated from CLDR; XNLI: human)."""
    meta = read_json(Path("data") / "raw" / task / "meta.json")
    out = {lang: meta["source"] for lang in meta["languages"]}
    summary = Path("data") / "translated" / task / "summary.json"
    if summary.exists():
        for lang, stats in read_json(summary)["languages"].items():
            if stats.get("written"):
                out[lang] = stats["provider"]
    return out


def run_variant(spec: str, task: str, params: dict, seeds: list[int], max_edits: int | None,
                processes: int, shared: dict) -> tuple[dict, list[dict]]:
    method, overrides, hparams = parse_variant(spec, params)
    folder = Path("data") / "edits" / task
    edits = read_jsonl(folder / "edits.jsonl")[:max_edits]
    heldout = HeldOut.from_hparams(method_hparams(params, "mpn"), 0, task)
    model, tokenizer = load_classifier(Path("models") / task)
    torch.manual_seed(0)
    editor = Editor(model, tokenizer, method, hparams, memory=memory_inputs(read_jsonl(folder / "memory.jsonl"), hparams),
                    val_memory=memory_inputs(read_jsonl(folder / "memory_val.jsonl"), hparams),
                    max_length=section(params, "edit").max_length, features=shared["features"])
    runner = SequentialEditing(editor, read_jsonl(folder / "locality.jsonl"))
    runner.precompute(edits)
    start = time.perf_counter()
    logs = run_streams(StreamJob.for_seeds(runner, hparams, heldout, edits, seeds, None), processes)
    wall = time.perf_counter() - start
    metrics = summarize(logs, 1000, 0)
    rows = [row for lg in logs for row in lg.edits]
    for row in rows:
        row["pool_unseen_lift"] = pool_unseen(row)
    line = {"variant": spec, "method": method, "overrides": overrides, "task": task, "seeds": seeds,
            "n_edits": len(rows), "es": metrics["es"],
            "clg_heldout_pre": metrics["clg_heldout_pre"], "clg_heldout": metrics["clg_heldout"],
            "clg_heldout_lift": metrics["clg_heldout_lift"]}
    for name, against in [("patcher", BASELINE), ("plain_method", method.removesuffix("+mpn"))]:
        if against in shared and against != spec and (name == "patcher" or method.endswith("+mpn")):
            diff = paired_difference(rows, shared[against], "clg_heldout_lift", 1000, 0)
            line[f"heldout_lift_vs_{name}"] = {k: None if v is None else round(v, 4)
                                               for k, v in dataclasses.asdict(diff).items()}
    line.update(pool_unseen_lift=rate([r["pool_unseen_lift"] for r in rows], [r["seed"] for r in rows]),
                heldout_lift_by_lang={lang: r and r["mean"] for lang, r in metrics["clg_heldout_by_lang_lift"].items()},
                locality_agreement=metrics["locality_agreement"], er=metrics["er"],
                steps_per_edit=metrics["steps_per_edit"],
                sec_per_edit=round(statistics.median(r["seconds"] for r in rows), 4) if rows else None,
                wall_seconds=round(wall, 1), heldout_languages=sorted(heldout.fixed),
                heldout_fraction=heldout.fraction)
    return line, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--variants", nargs="+", default=["patcher", "mpn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-edits", type=int, default=None, help="the first N edits of the edit set (all: default)")
    parser.add_argument("--processes", type=int, default=0, help="streams side by side; 0: one per core")
    args = parser.parse_args()
    params = load_params()
    shared = {"features": load_features(args.task)}
    print(json.dumps({"task": args.task, "sources": sources(args.task)}), flush=True)
    variants = [BASELINE] + [v for v in args.variants if v != BASELINE]
    for spec in variants:
        line, rows = run_variant(spec, args.task, params, args.seeds, args.max_edits, args.processes, shared)
        if spec == method_of(spec):  # a plain method: the paired baseline of its +mpn form
            shared[spec] = rows
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
