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
  ES, each with a fact-level interval; for a variant of X+mpn, also vs_like_for_like,
  against X with the same X settings (mpn-tuned:lr=0.02 against patcher-tuned:lr=0.02)
  when that is listed before it;
- heldout_lift_by_lang: the held-out lift in each language (when it was held out);
- locality_agreement, er, steps and seconds per edit (median); with --near,
  near_agreement per kind (mpn.experiment.near; xfacts: the edit's twin, facts of its
  subject, of its relation; XNLI: its premise's other hypotheses; FEVER: other claims
  about its page) and, in vs_patcher, its paired difference per kind;
- sources: which engine (or people) made each language's texts, as the task's data says.

Then the one selection rule (mpn.report.selection, fixed before any run): the variants
fall into sides by the method they tune (patcher, patcher-tuned:lr=0.02 -> patcher; mpn,
mpn-tuned:... -> patcher+mpn). For each --fold-seeds draw, the edit facts and the
locality items are split in two; on one half each side's variant is chosen (locality
agreement on that half's items at most 1 point below patcher's, then the largest paired
held-out lift over patcher on that half's facts), and reported on the other half only:
against patcher, and the chosen MPN minus the chosen patcher ("patcher+mpn_minus_patcher_
chosen"), one line per seed and direction. A last line gives the spread over them.

With --runs DIR, each variant's per-edit rows are saved there when it finishes and taken
by a later run with the same task, seeds, edit count, variant and resolved
hyperparameters, so a study resumes or grows without redoing a variant (delete DIR after
a code or pipeline change).

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
import statistics
import time
from pathlib import Path

from common import bench_main

from mpn.editing.method_names import AUGMENTATION, Preset, like_for_like, read_presets, split
from mpn.editing.features import FeatureStore
from mpn.editing.resolver import resolve_method
from mpn.experiment.run import EditRun
from mpn.experiment.sequential import SequentialEditing
from mpn.experiment.summary import summarize
from mpn.pipeline.commands import stage_paths
from mpn.core.io import read_json, read_jsonl, write_json
from mpn.core.knobs import assignments
from mpn.core.params import EditSettings, section
from mpn.core.schema import fact_of
from mpn.pipeline.stage import load_params
from mpn.experiment.near import KINDS as NEAR_KINDS, near_rows
from mpn.report.paired import compare_to_baseline, difference
from mpn.report.selection import Run, agreement_by_key, choose, folds

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
    """'mpn:key_init=mean,pool_languages=[de,es]' -> (method that runs, overrides, hparams);
    a preset (mpn-tuned:lr=0.02) runs its method with its settings under the overrides."""
    name, _, rest = spec.partition(":")
    overrides = assignments(split_top_level(rest), f"variant {name}:")
    resolved = resolve_method(params, name, overrides, f"variant {spec}:")
    return resolved.method, overrides, resolved.hparams


def method_of(spec: str) -> str:
    return spec.partition(":")[0]


def raw_rows(task: str) -> list[dict]:
    """Every row of the task's data, all splits (the download stage's output)."""
    folder = stage_paths("translate", {"task": task})["data"] / "raw" / task
    return [row for path in sorted(folder.glob("*.jsonl")) for row in read_jsonl(path)]


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


def near_kinds(run: Run) -> list[str]:
    """The near-locality kinds the run measured, in mpn.experiment.near's order."""
    return sorted({r["kind"] for r in run.near}, key=NEAR_KINDS.index)


def differences(run: Run, baseline: Run) -> dict:
    """Paired, on the same edits: the headline metrics, and near locality per kind."""
    diffs = compare_to_baseline(run, baseline, 1000, 0)
    if run.near and baseline.near:
        for kind in near_kinds(run):
            diffs[f"near_{kind}_agreement"] = difference(*(agreement_by_key([r for r in x.near if r["kind"] == kind])
                                                           for x in (run, baseline)), 1000, 0)
    return {metric: {k: None if v is None else round(v, 4) for k, v in diff.as_dict().items()}
            for metric, diff in diffs.items()}


def set_up(spec: str, task: str, params: dict, max_edits: int | None, features: FeatureStore,
           runner_class: type[SequentialEditing] = SequentialEditing,
           exclude: frozenset[str] = frozenset(), near: bool = False) -> EditRun:
    """The variant's run, built as the edit stage builds it (mpn.experiment.run), in a
    `runner_class` runner, with every text of the first `max_edits` edits computed; edits
    of `exclude`d facts are dropped; with `near`, each edit's near-locality items are
    measured too."""
    method, _, hparams = parse_variant(spec, params)
    paths = stage_paths("edit", {"task": task, "method": method})
    return EditRun.from_paths(method, hparams, task, paths["model"], paths["edits"], section(params, EditSettings),
                              features, max_edits, exclude,
                              (lambda groups: near_rows(groups, raw_rows(task))) if near else None, runner_class)


def run_variant(spec: str, task: str, params: dict, seeds: list[int], max_edits: int | None,
                processes: int, features: FeatureStore, exclude: frozenset[str] = frozenset(),
                near: bool = False) -> tuple[dict, Run]:
    setup = set_up(spec, task, params, max_edits, features, exclude=exclude, near=near)
    edits, heldout = setup.edits, setup.heldout
    start = time.perf_counter()
    logs = setup.run(seeds, processes=processes)
    wall = time.perf_counter() - start
    metrics = summarize(logs, 1000, 0, facts=[e["group"] for e in edits])
    run = Run.from_logs(logs)
    line = {"variant": spec, "method": method_of(spec), "overrides": parse_variant(spec, params)[1], "task": task, "seeds": seeds,
            "n_facts": metrics["n_facts"], "n_edits": metrics["n_edits"], "es": metrics["es"],
            "clg_heldout_pre": metrics["clg_heldout_pre"], "clg_heldout": metrics["clg_heldout"],
            "clg_heldout_lift": metrics["clg_heldout_lift"], "clg_paraphrase_lift": metrics["clg_paraphrase_lift"]}
    line.update(heldout_lift_by_lang={lang: r and r["mean"] for lang, r in metrics["clg_heldout_by_lang_lift"].items()},
                locality_agreement=metrics["locality_agreement"], er=metrics["er"],
                er_by_lang={lang: r and r["mean"] for lang, r in metrics["er_by_lang"].items()},
                steps_per_edit=metrics["steps_per_edit"],
                sec_per_edit=round(statistics.median(r["seconds"] for r in run.edits), 4) if run.edits else None,
                wall_seconds=round(wall, 1), heldout_languages=sorted(heldout.fixed),
                heldout_fraction=heldout.fraction)
    return line, run


def saved_or_run(spec: str, task: str, params: dict, seeds: list[int], max_edits: int | None,
                 processes: int, features: FeatureStore, runs_dir: Path | None,
                 exclude: frozenset[str] = frozenset(), near: bool = False) -> tuple[dict, Run]:
    """run_variant, or what an earlier call with the same arguments and the same resolved
    hyperparameters saved in `runs_dir`."""
    hparams = dataclasses.asdict(parse_variant(spec, params)[2])
    key = json.loads(json.dumps({"task": task, "variant": spec, "seeds": seeds, "max_edits": max_edits,
                                 **({"exclude": sorted(exclude)} if exclude else {}),
                                 **({"near": True} if near else {}),
                                 "hparams": hparams, "rotation": dataclasses.asdict(section(params, EditSettings).heldout)}))
    path = runs_dir and runs_dir / (hashlib.sha1(json.dumps(key).encode()).hexdigest()[:16] + ".json")
    if path and path.exists() and (saved := read_json(path))["key"] == key and "locality" in saved:
        return saved["line"], Run.from_saved(saved)
    line, run = run_variant(spec, task, params, seeds, max_edits, processes, features, exclude, near)
    if path:
        write_json(path, {"key": key, "line": line, "edits": run.edits, "curve": run.curve,
                          "locality": run.locality, "near": run.near})
    return line, run


def like_for_like_spec(spec: str, presets: dict[str, Preset]) -> str | None:
    """For a variant of X+mpn: X with the same settings of X's own (mpn-tuned:lr=0.02 ->
    patcher-tuned:lr=0.02); None for a plain method's variant."""
    name, colon, rest = spec.partition(":")
    return like_for_like(name, presets) + colon + rest if split(name, presets)[1] else None


def paired_lines(spec: str, runs: dict[str, Run], presets: dict[str, Preset]) -> dict:
    """The variant against patcher and against its like-for-like variant, where that ran."""
    out = {"vs_patcher": differences(runs[spec], runs[BASELINE])} if spec != BASELINE else {}
    if (like := like_for_like_spec(spec, presets)) in runs:
        out.update(like_for_like=like, vs_like_for_like=differences(runs[spec], runs[like]))
    return out


def side_of(spec: str, presets: dict[str, Preset]) -> str:
    """The method a variant tunes ('patcher' for patcher-tuned:lr=0.02, 'patcher+mpn' for
    mpn-tuned): the rule picks one variant per side."""
    base, augmented = split(method_of(spec), presets)
    return base + AUGMENTATION if augmented else base


def sides_of(specs, presets: dict[str, Preset]) -> dict[str, list[str]]:
    """side -> its variants, in the order given."""
    sides: dict[str, list[str]] = {}
    for spec in specs:
        sides.setdefault(side_of(spec, presets), []).append(spec)
    return sides


def fair_choices(runs: dict[str, Run], fold_seeds: list[int], presets: dict[str, Preset]) -> list[dict]:
    """For each fold seed and direction: each side's variant chosen by the one rule
    (mpn.report.selection) on one fold, and on the other fold its paired figures against
    patcher and, side against side, the chosen MPN minus the chosen baseline."""
    baseline, sides = runs[BASELINE], sides_of(runs, presets)
    facts = [r["group"] for r in baseline.edits]
    items = [r["group"] for r in baseline.locality]
    lines = []
    for fold_seed in fold_seeds:
        (facts_a, facts_b), (items_a, items_b) = folds(facts, fold_seed), folds(items, fold_seed)
        for name, on, off in [("A", (facts_a, items_a), (facts_b, items_b)),
                              ("B", (facts_b, items_b), (facts_a, items_a))]:
            chosen = {side: choose(runs, specs, BASELINE, *on) for side, specs in sides.items()}
            reported = {side: differences(runs[spec].only(*off), baseline.only(*off))
                        for side, spec in chosen.items() if spec is not None}
            line = {"fold_seed": fold_seed, "fold": name, "n_facts_reported": len(off[0]),
                    "n_locality_items_reported": len(off[1]), "chosen": chosen,
                    "vs_patcher_on_other_fold": reported,
                    "steps_per_edit": {side: _median_steps(runs[spec]) for side, spec in chosen.items() if spec}}
            for side, spec in chosen.items():
                plain = side.removesuffix(AUGMENTATION)
                if side.endswith(AUGMENTATION) and spec and chosen.get(plain):
                    line[f"{side}_minus_{plain}_chosen"] = differences(runs[spec].only(*off),
                                                                        runs[chosen[plain]].only(*off))
            lines.append(line)
    return lines


def spread(lines: list[dict], sides: dict[str, list[str]]) -> dict:
    """Over every fold seed and direction: how often each variant was chosen, and the
    other-fold figures' mean, min and max (held-out lift differences)."""
    out = {}
    for key in sorted({k for line in lines for k in line if k.endswith("_chosen")} | {"vs_patcher_on_other_fold"}):
        if key == "vs_patcher_on_other_fold":
            for side in sorted({s for line in lines for s in line[key]}):
                values = [line[key][side]["clg_heldout_lift"]["mean"] for line in lines if side in line[key]]
                out[f"{side}_vs_patcher"] = _range(values)
        else:
            out[key] = _range([line[key]["clg_heldout_lift"]["mean"] for line in lines if key in line])
    counts = {}
    for line in lines:
        for side, spec in line["chosen"].items():
            counts.setdefault(side, dict.fromkeys(sides[side], 0))
            if spec is not None:   # None: no candidate of that side kept locality
                counts[side][spec] += 1
    # The variant a confirmatory run freezes: the most often chosen (ties: the one listed first).
    frozen = {side: max(by_spec, key=by_spec.get) for side, by_spec in counts.items() if any(by_spec.values())}
    return {"choices": len(lines), "times_chosen": counts, "frozen": frozen, "heldout_lift_on_other_fold": out}


def _range(values: list[float | None]) -> dict:
    values = [v for v in values if v is not None]
    return {"mean": round(statistics.mean(values), 4), "min": min(values), "max": max(values),
            "n": len(values)} if values else {}


def _median_steps(run: Run) -> float | None:
    return statistics.median(r["steps"] for r in run.edits) if run.edits else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--variants", nargs="+", default=["patcher", "mpn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-edits", type=int, default=None, help="the first N edits of the edit set (all: default)")
    parser.add_argument("--processes", type=int, default=0, help="streams side by side; 0: one per core")
    parser.add_argument("--fold-seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="the draws that split edit facts and locality items into two folds")
    parser.add_argument("--runs", type=Path, default=None, metavar="DIR",
                        help="save each variant's rows here, and take those saved by an earlier run")
    parser.add_argument("--near", action="store_true",
                        help="also measure near locality (mpn.experiment.near; xfacts: the twin, facts of "
                             "the same subject, of the same relation; XNLI: the premise's other "
                             "hypotheses; FEVER: other claims about the page), paired per kind")
    parser.add_argument("--exclude-facts", type=Path, default=None, metavar="JSONL",
                        help="leave out the edits of every fact (`group`) in this file, e.g. another "
                             "run's edits.jsonl: facts a study has used, for a confirmatory run")
    args = parser.parse_args()
    exclude = frozenset(fact_of(r["group"]) for r in read_jsonl(args.exclude_facts)) if args.exclude_facts else frozenset()
    params = load_params()
    presets = read_presets(params)
    for spec in args.variants:  # every variant checked before any work
        parse_variant(spec, params)
    features = FeatureStore.load(stage_paths("features", {"task": args.task})["out"])
    print(json.dumps({"task": args.task, "sources": sources(args.task)}), flush=True)
    variants = [BASELINE] + [v for v in args.variants if v != BASELINE]
    runs = {}
    for spec in variants:
        line, runs[spec] = saved_or_run(spec, args.task, params, args.seeds, args.max_edits, args.processes,
                                        features, args.runs, exclude, args.near)
        line = {k: v for k, v in line.items() if not k.startswith(("vs_", "like_for_like"))}  # older saves had them
        if runs[spec].near:
            line["near_agreement"] = {kind: round(statistics.mean(r["agreement"] for r in runs[spec].near
                                                                  if r["kind"] == kind), 4)
                                      for kind in near_kinds(runs[spec])}
        print(json.dumps({**line, **paired_lines(spec, runs, presets)}), flush=True)
    lines = fair_choices(runs, args.fold_seeds, presets)
    for line in lines:
        print(json.dumps(line), flush=True)
    print(json.dumps({"spread": spread(lines, sides_of(runs, presets))}), flush=True)


if __name__ == "__main__":
    bench_main(main)
