"""Confirmatory run: frozen variants compared on base models and facts that no choice saw.

Each base model is a scratch clone whose params.yaml sets a `finetune.seed` no study
used; in each, after `dvc repro features@xfacts`, the frozen variants run on every edit
except those of facts a study used (bench/confirm.sh does all of it):

    python bench/transfer_study.py --task xfacts --runs runs \
        --exclude-facts <the studied run's data/edits/xfacts/edits.jsonl> --variants patcher ...

Then, over the clones' saved runs:

    python bench/confirm.py --runs /tmp/confirm/seed11/runs /tmp/confirm/seed12/runs ... \
        --pair mpn-tuned patcher-tuned --pair mpn patcher

prints, per pair A B, A minus B on the same edits: per base model the held-out lift (with
its fact-level interval) and locality agreement (paired per stream end), and across base
models a hierarchical interval (resample base models, then facts within each; locality:
then locality groups). And per variant, per base model: held-out pre -> post, locality
agreement and steps per edit, and held-out pre -> post (lift) in each language.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from mpn.core.io import read_json
from mpn.core.schema import fact_of
from mpn.report.paired import compare_to_baseline, hierarchical, per_edit
from mpn.report.selection import Run, agreement_by_key

N_BOOTSTRAP = 1000


def saved_runs(folder: Path) -> dict[str, Run]:
    """variant -> its Run, from bench/transfer_study.py --runs files."""
    runs = {}
    for path in sorted(folder.glob("*.json")):
        saved = read_json(path)
        runs[saved["key"]["variant"]] = Run.from_saved(saved)
    return runs


def per_fact(ours: dict, theirs: dict) -> list[float]:
    """Keys (seed, stream, fact): each fact's mean difference over the keys both have."""
    by_fact = defaultdict(list)
    for key in ours.keys() & theirs.keys():
        by_fact[fact_of(key[2])].append(ours[key] - theirs[key])
    return [float(np.mean(by_fact[fact])) for fact in sorted(by_fact)]


def compare(models: list[dict[str, Run]], a: str, b: str) -> dict:
    present = [runs for runs in models if a in runs and b in runs]
    per_model = [{m: d.as_dict() for m, d in compare_to_baseline(runs[a], runs[b], N_BOOTSTRAP, 0).items()
                  if m in ("clg_heldout_lift", "locality_agreement", "es")} for runs in present]
    lift = [per_fact(per_edit(runs[a].edits, "clg_heldout_lift"), per_edit(runs[b].edits, "clg_heldout_lift"))
            for runs in present]
    locality = [per_fact(agreement_by_key(runs[a].locality), agreement_by_key(runs[b].locality))
                for runs in present]
    return {"pair": f"{a} - {b}", "base_models": len(present), "facts_per_model": [len(v) for v in lift],
            "heldout_lift": hierarchical(lift, N_BOOTSTRAP, 0),
            "locality_agreement": hierarchical(locality, N_BOOTSTRAP, 0), "per_model": per_model}


def describe(runs: dict[str, Run], variant: str) -> dict:
    rows = runs[variant].edits
    heldout = [r for r in rows if r["clg_heldout"] is not None]
    by_lang = defaultdict(list)
    for r in rows:
        for lang, rates in r["by_lang"].items():
            if rates["heldout"] and rates["pre"] is not None:
                by_lang[lang].append((rates["pre"], rates["post"]))
    return {"variant": variant, "n_edits": len(rows), "n_facts": len({fact_of(r["group"]) for r in rows}),
            "es": round(statistics.mean(r["es"] for r in rows), 4),
            "clg_heldout_pre": round(statistics.mean(r["clg_heldout_pre"] for r in heldout), 4),
            "clg_heldout": round(statistics.mean(r["clg_heldout"] for r in heldout), 4),
            "locality_agreement": round(statistics.mean(r["agreement"] for r in runs[variant].locality), 4),
            "steps_per_edit": statistics.median(r["steps"] for r in rows),
            "heldout_by_lang": {lang: {"pre": round(statistics.mean(p for p, _ in v), 4),
                                       "post": round(statistics.mean(q for _, q in v), 4),
                                       "lift": round(statistics.mean(q - p for p, q in v), 4), "edits": len(v)}
                                for lang, v in sorted(by_lang.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="one saved-runs folder per base model")
    parser.add_argument("--pair", nargs=2, action="append", required=True, metavar=("A", "B"),
                        help="variant A minus variant B (repeat for more)")
    args = parser.parse_args()
    models = [saved_runs(folder) for folder in args.runs]
    for folder, runs in zip(args.runs, models):
        for variant in runs:
            print(json.dumps({"runs": str(folder), **describe(runs, variant)}), flush=True)
    for a, b in args.pair:
        print(json.dumps(compare(models, a, b)), flush=True)


if __name__ == "__main__":
    main()
