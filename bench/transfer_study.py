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

- es; clg_heldout pre, post and lift (mean, fact-level 95% interval, between-seed sd);
- vs_patcher: the paired differences against patcher on the same edits (seed, stream,
  group): held-out lift, paraphrase lift (texts neither trained on), locality agreement,
  ES, each with a fact-level interval; for X+mpn, also vs_plain_method, against X when
  X is among the variants (run it first);
- heldout_lift_by_lang: the held-out lift in each language (when it was held out);
- locality_agreement, er, steps and seconds per edit (median);
- sources: which engine (or people) made each language's texts, as the task's data says.

Then, chosen on one half and reported on the other: the edit facts are split into two
folds by a seeded draw (--fold-seed); the variant with the largest paired held-out lift
over patcher on fold A is reported on fold B, and the swap (one "fold" line each). With
--locality-floor P, only variants whose paired locality agreement is at most P points
below patcher's may be chosen (locality is measured on its own items, not on the edit
facts, so the floor uses no reported fact).

With --runs DIR, each variant's per-edit rows are saved there when it finishes and taken
by a later run with the same task, seeds, edit count, variant and resolved
hyperparameters, so a study resumes or grows without redoing a variant (delete DIR after
a code or pipeline change). With --locality-at-least A, only variants whose locality
agreement is at least A may be chosen.

Controls (variants): "patcher:memory_per_language=200" (Transformer-Patcher with MPN's
multilingual memory), "patcher:n_views=12" (as many rows per step as MPN: 4 more dropout
views of the English input instead of 4 translations), "mpn:memory_per_language=0" (MPN
with the English memory alone).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import statistics
import time
from pathlib import Path

import torch
import yaml

from mpn.editing.editor import Editor
from mpn.editing.features import FeatureStore
from mpn.editing.methods import MethodHParams, make_hparams, method_hparams
from mpn.experiment.sequential import HeldOut, SequentialEditing, memory_inputs, summarize
from mpn.experiment.streams import StreamJob, run_streams
from mpn.model.portable import load_classifier
from mpn.pipeline.commands import stage_paths
from mpn.pipeline.io import read_json, read_jsonl, write_json
from mpn.pipeline.params import EditSettings, section
from mpn.pipeline.stage import load_params
from mpn.report.paired import compare_to_baseline

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


def sources(task: str) -> dict[str, str]:
    """Who made each language's texts: the translate stage's provider where it wrote
    them, else the task's own source (xfacts: generated from CLDR; XNLI: human)."""
    data = stage_paths("translate", {"task": task})["data"]
    meta = read_json(data / "raw" / task / "meta.json")
    out = {lang: meta["source"] for lang in meta["languages"]}
    summary = data / "translated" / task / "summary.json"
    if summary.exists():
        for lang, stats in read_json(summary)["languages"].items():
            if stats.get("written"):
                out[lang] = stats["provider"]
    return out


@dataclasses.dataclass
class Run:
    """One variant's per-edit rows and per-stream curve (what the paired comparison reads)."""
    edits: list[dict]
    curve: list[dict]

    def only(self, facts: set[str]) -> Run:
        return Run([r for r in self.edits if r["group"] in facts], self.curve)


def differences(run: Run, baseline: Run) -> dict:
    return {metric: {k: None if v is None else round(v, 4) for k, v in diff.as_dict().items()}
            for metric, diff in compare_to_baseline(run, baseline, 1000, 0).items()}


@dataclasses.dataclass
class VariantSetup:
    """A variant's editor in a runner over the edit stage's sets, ready to edit."""
    method: str
    overrides: dict
    hparams: MethodHParams
    runner: SequentialEditing
    edits: list[dict]
    heldout: HeldOut       # params.yaml's rotation (hparams.mpn), the same for every variant


def set_up(spec: str, task: str, params: dict, max_edits: int | None, features: FeatureStore,
           runner_class: type[SequentialEditing] = SequentialEditing) -> VariantSetup:
    """The variant's editor built as the edit stage builds it, in a `runner_class` runner,
    with every text of the first `max_edits` edits computed."""
    method, overrides, hparams = parse_variant(spec, params)
    paths = stage_paths("edit", {"task": task, "method": method})
    folder = paths["edits"]
    edits = read_jsonl(folder / "edits.jsonl")[:max_edits]
    model, tokenizer = load_classifier(paths["model"])
    torch.manual_seed(0)
    editor = Editor(model, tokenizer, method, hparams, memory=memory_inputs(read_jsonl(folder / "memory.jsonl"), hparams),
                    val_memory=memory_inputs(read_jsonl(folder / "memory_val.jsonl"), hparams),
                    max_length=section(params, EditSettings).max_length, features=features)
    runner = runner_class(editor, read_jsonl(folder / "locality.jsonl"))
    runner.precompute(edits)
    return VariantSetup(method, overrides, hparams, runner, edits,
                        HeldOut.from_hparams(method_hparams(params, "mpn"), 0, task))


def run_variant(spec: str, task: str, params: dict, seeds: list[int], max_edits: int | None,
                processes: int, shared: dict) -> tuple[dict, Run]:
    setup = set_up(spec, task, params, max_edits, shared["features"])
    method, edits, heldout = setup.method, setup.edits, setup.heldout
    start = time.perf_counter()
    logs = run_streams(StreamJob.for_seeds(setup.runner, setup.hparams, heldout, edits, seeds, None), processes)
    wall = time.perf_counter() - start
    metrics = summarize(logs, 1000, 0, facts=[e["group"] for e in edits])
    run = Run([row for lg in logs for row in lg.edits], [c for lg in logs for c in lg.curve])
    line = {"variant": spec, "method": method, "overrides": setup.overrides, "task": task, "seeds": seeds,
            "n_facts": metrics["n_facts"], "n_edits": metrics["n_edits"], "es": metrics["es"],
            "clg_heldout_pre": metrics["clg_heldout_pre"], "clg_heldout": metrics["clg_heldout"],
            "clg_heldout_lift": metrics["clg_heldout_lift"], "clg_paraphrase_lift": metrics["clg_paraphrase_lift"]}
    for name, against in [("patcher", BASELINE), ("plain_method", method.removesuffix("+mpn"))]:
        if against in shared and against != spec and (name == "patcher" or method.endswith("+mpn")):
            line[f"vs_{name}"] = differences(run, shared[against])
    line.update(heldout_lift_by_lang={lang: r and r["mean"] for lang, r in metrics["clg_heldout_by_lang_lift"].items()},
                locality_agreement=metrics["locality_agreement"], er=metrics["er"],
                er_by_lang={lang: r and r["mean"] for lang, r in metrics["er_by_lang"].items()},
                steps_per_edit=metrics["steps_per_edit"],
                sec_per_edit=round(statistics.median(r["seconds"] for r in run.edits), 4) if run.edits else None,
                wall_seconds=round(wall, 1), heldout_languages=sorted(heldout.fixed),
                heldout_fraction=heldout.fraction)
    return line, run


def saved_or_run(spec: str, task: str, params: dict, seeds: list[int], max_edits: int | None,
                 processes: int, shared: dict, runs_dir: Path | None) -> tuple[dict, Run]:
    """run_variant, or what an earlier call with the same arguments and the same resolved
    hyperparameters saved in `runs_dir`."""
    hparams = dataclasses.asdict(parse_variant(spec, params)[2])
    key = json.loads(json.dumps({"task": task, "variant": spec, "seeds": seeds, "max_edits": max_edits,
                                 "hparams": hparams, "rotation": dataclasses.asdict(method_hparams(params, "mpn"))}))
    path = runs_dir and runs_dir / (hashlib.sha1(json.dumps(key).encode()).hexdigest()[:16] + ".json")
    if path and path.exists() and (saved := read_json(path))["key"] == key:
        return saved["line"], Run(saved["edits"], saved["curve"])
    line, run = run_variant(spec, task, params, seeds, max_edits, processes, shared)
    if path:
        write_json(path, {"key": key, "line": line, "edits": run.edits, "curve": run.curve})
    return line, run


def folds(facts: list[str], seed: int) -> tuple[set[str], set[str]]:
    """The edit facts in two halves, by a seeded draw."""
    shuffled = sorted(set(facts))
    random.Random(f"{seed}-folds").shuffle(shuffled)
    half = len(shuffled) // 2
    return set(shuffled[:half]), set(shuffled[half:])


def chosen_on_one_fold(runs: dict[str, Run], locality: dict[str, float], fold_seed: int,
                       locality_floors: list[float | None], allowed: set[str] | None = None) -> list[dict]:
    """For each locality floor and fold: the variant (not patcher, in `allowed` if given)
    with the largest paired held-out lift over patcher there, among those whose paired
    locality agreement (`locality`, from each variant's line) is within the floor's points
    of patcher's (None: all), and its figures on the other fold. Each fold's scores are
    computed once."""
    baseline = runs[BASELINE]
    fold_a, fold_b = folds([r["group"] for r in baseline.edits], fold_seed)
    specs = [spec for spec in runs if spec != BASELINE and (allowed is None or spec in allowed)]
    halves = [(fold_a, fold_b, "A"), (fold_b, fold_a, "B")]
    scores = [{spec: differences(runs[spec].only(chosen_on), baseline.only(chosen_on))["clg_heldout_lift"]["mean"]
               for spec in specs} for chosen_on, _, _ in halves]
    lines = []
    for floor in locality_floors:
        eligible = [spec for spec in specs if floor is None or locality[spec] >= -floor / 100]
        for (chosen_on, reported_on, name), fold_scores in zip(halves, scores):
            best = max((s for s in eligible if fold_scores[s] is not None), key=fold_scores.get, default=None)
            if best is None:
                continue
            lines.append({"fold": name, "locality_floor": floor, "eligible": eligible, "chosen": best,
                          "heldout_lift_vs_patcher_where_chosen": fold_scores[best],
                          "n_facts_where_chosen": len(chosen_on), "n_facts_reported": len(reported_on),
                          "reported_on_other_fold": differences(runs[best].only(reported_on),
                                                                baseline.only(reported_on))})
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--variants", nargs="+", default=["patcher", "mpn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-edits", type=int, default=None, help="the first N edits of the edit set (all: default)")
    parser.add_argument("--processes", type=int, default=0, help="streams side by side; 0: one per core")
    parser.add_argument("--fold-seed", type=int, default=0, help="the draw that splits the edit facts into two folds")
    parser.add_argument("--locality-floor", type=float, nargs="*", default=[],
                        help="also choose among variants at most P points below patcher's locality agreement "
                             "(one pair of fold lines per P)")
    parser.add_argument("--locality-at-least", type=float, default=None, metavar="A",
                        help="choose only among variants whose locality agreement is at least A (0-1)")
    parser.add_argument("--runs", type=Path, default=None, metavar="DIR",
                        help="save each variant's rows here, and take those saved by an earlier run")
    args = parser.parse_args()
    params = load_params()
    shared = {"features": FeatureStore.load(stage_paths("features", {"task": args.task})["out"])}
    print(json.dumps({"task": args.task, "sources": sources(args.task)}), flush=True)
    variants = [BASELINE] + [v for v in args.variants if v != BASELINE]
    runs, locality, local_enough = {}, {}, set()
    for spec in variants:
        line, runs[spec] = saved_or_run(spec, args.task, params, args.seeds, args.max_edits, args.processes,
                                        shared, args.runs)
        if args.locality_at_least is None or line["locality_agreement"]["mean"] >= args.locality_at_least:
            local_enough.add(spec)
        if spec == method_of(spec):  # a plain method: the paired baseline of its +mpn form
            shared[spec] = runs[spec]
        if "vs_patcher" in line:
            locality[spec] = line["vs_patcher"]["locality_agreement"]["mean"]
        print(json.dumps(line), flush=True)
    for line in chosen_on_one_fold(runs, locality, args.fold_seed, [None, *args.locality_floor], local_enough):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
