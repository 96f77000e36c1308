"""Cached vs full engine on the same causal-LM edits, alternated edit by edit in one
process, so that both engines run under the same load.

    pip install -e '.[lm]'
    python bench/lm_engines.py --edits 50 --seed 0 --set value_norm_max=20 > results/lm_engines_<date>.jsonl

One stream of `--edits` xfacts facts (bench/lm_edit.py's stream, memory and held-out
languages for `--seed`), edited in order by two editors of the same method, one per
engine: each fact first with the cached engine (last layer's MLP inputs captured once,
mpn.model.lm.LMSite.logits), then with the full model. Per edit one JSON line: each
engine's steps, training seconds and success, and the largest difference between the two
editors' patch tensors after it. At the end, a summary line: seconds per edit (mean,
median) and per step, the ratio full / cached, how many edits took equal steps and
reached the same success, ES and ER per engine.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time

from common import bench_main
from lm_edit import Bench, completes, first

from mpn.core.knobs import assignments, parse
from mpn.editing.lm_methods import DEFAULT_K_TRANSLATIONS, LM_METHODS
from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
from mpn.model.lm import load_causal_lm

ENGINES = ("cached", "full")
PATCH_METHODS = [name for name, method in LM_METHODS.items() if method.editor is LMEditor]   # patcher, mpn


def largest_difference(a: LMEditor, b: LMEditor) -> float:
    """The largest absolute difference between two editors' patch tensors."""
    tensors = ("gate_keys", "up_keys", "biases", "values")
    return max(float((getattr(a.patches, t) - getattr(b.patches, t)).abs().max()) for t in tensors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="gemma-3-270m, a hub name or a local folder")
    parser.add_argument("--method", choices=PATCH_METHODS, default="patcher")
    parser.add_argument("--edits", type=int, default=50, help="edits in the stream")
    parser.add_argument("--seed", type=int, default=0, help="which of bench/lm_edit.py's streams")
    parser.add_argument("--heldout", nargs="+", default=["pt", "ja", "ar", "hi", "sw"],
                        help="languages no edit trains on (the others but en are MPN's pool)")
    parser.add_argument("--memory", type=int, default=60, help="memory facts (English and pool languages)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="LMPatcherHParams knobs")
    args = parser.parse_args()
    args.facts, args.unrelated = None, 1   # Bench's: xfacts; locality is not this bench's question
    start = time.perf_counter()
    model, tokenizer = load_causal_lm(args.model)
    print(f"loaded {args.model} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    bench = Bench(model, tokenizer, args)
    knobs = assignments(args.set)
    k_translations = DEFAULT_K_TRANSLATIONS if LM_METHODS[args.method].translations else 0
    hparams = parse(LMPatcherHParams, {**knobs, "k_translations": k_translations, "seed": args.seed}, "--set")
    editors = {engine: LMEditor(copy.deepcopy(model), tokenizer, hparams, bench.memory, engine) for engine in ENGINES}
    stream = bench.stream(args.seed)
    rows = []
    for fact in stream:
        en = first(fact, "en")
        translations = {lang: (c[0].prompt, c[0].target) for lang, c in fact.new.items() if lang != "en"}
        results = {engine: editor.edit(en.prompt, en.target, translations, heldout=bench.heldout)
                   for engine, editor in editors.items()}
        rows.append({"group": fact.group, **{f"{engine}_{key}": getattr(r, key) for engine, r in results.items()
                                             for key in ("steps", "success")},
                     **{f"{engine}_seconds": round(r.seconds, 3) for engine, r in results.items()},
                     "largest_patch_difference": largest_difference(editors["cached"], editors["full"])})
        print(json.dumps(rows[-1]), flush=True)
    summary = {"summary": args.method, "edits": len(rows), "seed": args.seed, "hparams": knobs,
               "equal_steps": sum(r["cached_steps"] == r["full_steps"] for r in rows),
               "equal_success": sum(r["cached_success"] == r["full_success"] for r in rows),
               "largest_patch_difference": max(r["largest_patch_difference"] for r in rows)}
    for engine, editor in editors.items():
        seconds, steps = [r[f"{engine}_seconds"] for r in rows], sum(r[f"{engine}_steps"] for r in rows)
        summary |= {f"{engine}_es": round(statistics.mean(r[f"{engine}_success"] for r in rows), 4),
                    f"{engine}_er": round(statistics.mean(completes(editor, [first(f, "en") for f in stream])), 4),
                    f"{engine}_steps": steps, f"{engine}_seconds": round(sum(seconds), 2),
                    f"{engine}_sec_per_edit_mean": round(statistics.mean(seconds), 3),
                    f"{engine}_sec_per_edit_median": round(statistics.median(seconds), 3),
                    f"{engine}_sec_per_step": round(sum(seconds) / max(steps, 1), 4)}
    summary["full_over_cached"] = round(summary["full_seconds"] / max(summary["cached_seconds"], 1e-9), 2)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    bench_main(main)
