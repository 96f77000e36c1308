"""One long stream of sequential edits: time, peak memory, locality at the end.

    python bench/edit_scale.py [--task xfacts] [--method patcher] [--n 1000]
                               [--edits mistakes|counterfactual]

The edit split holds far fewer base-model mistakes than 1,000 (xfacts: 56, FEVER: 282),
so the stream is the pipeline's edits followed by English originals of groups that no
set of sample_edits uses (not an edit, locality, memory or validation-memory group), in
a seeded order:
- `mistakes` (default): only those the base model gets wrong, with the gold label as
  target, as the pipeline edits (FEVER has over 1,700; xfacts too few for 1,000).
- `counterfactual`: all of them, as in CounterFact, each with a target the base model
  does not predict: gold where it errs, else another label, i.e. mostly a false fact.
Only items the *current* model gets wrong are edited; the stream stops after n edits made.
With --cache DIR, the FFN inputs the first run computes (most of its time on FEVER) are
saved there and taken by later runs of the same task, seed, n and --edits, e.g. to compare
methods or settings on one stream.
Prints one JSON line: edits made, seconds, peak RSS, es, locality (accuracy ratio and
agreement with the base model) and edit retention (also per language) at the end,
held-out transfer (pre -> post just after each edit, over all edits and the last 100),
and the running curve every --eval-every edits.
"""
import argparse
import json
import random
import resource
import time
from pathlib import Path

from common import bench_main, load_run, used_groups

from mpn.data import load_rows
from mpn.editing.features import FeatureStore
from mpn.experiment.edit_sets import GroupIndex
from mpn.experiment.metrics import rate
from mpn.experiment.run import EditRun
from mpn.experiment.scoring import lift
from mpn.experiment.summary import summarize, timing
from mpn.pipeline.commands import stage_paths
from mpn.core.errors import UserError
from mpn.core.io import read_json, write_json
from mpn.core.schema import model_input

EDIT_KINDS = ("mistakes", "counterfactual")
N_BOOTSTRAP = 200  # fact-level resamples for every interval this bench prints
LATE = 100  # the last edits made: do held-out translations still flip late in a stream?


def extra_edits(task_name: str, labels: list[str], predict, used_groups: set[str], seed: int,
                kind: str = "mistakes") -> list[dict]:
    """Edit records for unused groups' English originals (see the module doc), in a seeded order."""
    by_split = {}
    for row in load_rows(task_name, stage_paths("sample_edits", {"task": task_name})["data"]):
        by_split.setdefault(row["split"], []).append(row)
    records = []
    for split in sorted(by_split):
        index = GroupIndex(by_split[split])
        originals = [r for r in index.english_originals() if r["group"] not in used_groups]
        predicted = predict([model_input(r) for r in originals])
        for row, pred in zip(originals, predicted):
            record = index.edit_record(row, pred)
            if pred == row["label"]:  # the model is right: skip it, or ask for another label
                if kind == "mistakes":
                    continue
                others = [label for label in labels if label != row["label"]]
                record["target"] = random.Random(f"{seed}-{row['group']}").choice(others)
                record["counterfactual"] = True
            records.append(record)
    records.sort(key=lambda r: r["edit_id"])
    random.Random(seed).shuffle(records)
    return records


def stream_key(task_name: str, seed: int, n: int, kind: str) -> dict:
    """What makes a stream (and so its features) the same as another run's."""
    return {"task": task_name, "seed": seed, "n": n, "edits": kind}


def cached_features(cache, key: dict) -> FeatureStore | None:
    """The features a run of the stream `key` saved in `cache`, if any."""
    if cache is None or not (cache / "stream.json").exists():
        return None
    saved = read_json(cache / "stream.json")
    if saved != key:
        raise UserError(f"{cache}/stream.json: saved for {saved}, not {key}; use another --cache folder")
    return FeatureStore.load(cache)


def long_stream(run: EditRun, task_name: str, n: int, seed: int, kind: str = "mistakes"):
    """One stream for `run`'s runner: the pipeline's edits, then `kind` extra ones, with
    every text's features computed (those in the run's features taken as they are).
    Returns (stream, groups that sample_edits uses)."""
    editor = run.runner.editor
    used = used_groups(run, task_name)
    extra = extra_edits(task_name, editor.labels, editor.predict, used, seed, kind)
    # Some candidates get skipped (an earlier patch already flipped them): 2n is plenty,
    # and keeps the one-off feature pass small on a large task.
    stream = [dict(e, stream=0) for e in (run.edits + extra)[:2 * n]]
    run.runner.precompute(stream)
    return stream, used


def heldout_transfer(rows: list[dict], seed: int) -> dict:
    """Held-out translations right just after their edit, beside right before it, and the
    lift, each with a fact-level interval, over `rows` (edit log rows, one stream)."""
    groups = [r["group"] for r in rows]
    return {name: rate(values, None, groups, N_BOOTSTRAP, seed) for name, values in (
        ("pre", [r["clg_heldout_pre"] for r in rows]), ("post", [r["clg_heldout"] for r in rows]),
        ("lift", [lift(r["clg_heldout"], r["clg_heldout_pre"]) for r in rows]))}


def main() -> None:
    parser = argparse.ArgumentParser(description="one long edit stream")
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--method", default="patcher")
    parser.add_argument("--n", type=int, default=1000, help="edits to make")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edits", choices=EDIT_KINDS, default="mistakes",
                        help="what follows the pipeline's edits (see the module doc)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override the method's hyperparameters, e.g. --set patience=5")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder for the stream's features, shared by runs of the same stream")
    args = parser.parse_args()
    key = stream_key(args.task, args.seed, args.n, args.edits)
    features = cached_features(args.cache, key)
    start = time.perf_counter()
    run = load_run(args.task, args.method, args.set, args.seed, features, precompute=False,
                   eval_every=args.eval_every)
    runner = run.runner
    stream, used = long_stream(run, args.task, args.n, args.seed, args.edits)
    setup = time.perf_counter() - start
    if args.cache is not None and features is None:
        runner.editor.engine.store().save(args.cache)
        write_json(args.cache / "stream.json", key)
    logs = runner.run(stream, max_per_stream=args.n)
    total = time.perf_counter() - start
    metrics = summarize(logs, N_BOOTSTRAP, args.seed)
    made = logs[0].edits
    by_group = {e["group"]: e for e in stream}
    print(json.dumps({
        "task": args.task, "method": args.method, "set": args.set, "candidates": len(stream),
        "edits": args.edits, "edits_made": metrics["n_edits"],
        "extra_made": sum(r["group"] not in used for r in made),
        "counterfactual_made": sum(1 for r in made if by_group[r["group"]].get("counterfactual")),
        "setup_sec": round(setup, 1), "edit_sec": round(total - setup, 1), "total_sec": round(total, 1),
        "sec_per_edit": timing(logs)["sec_per_edit"], "steps_per_edit": metrics["steps_per_edit"],
        "es": metrics["es"]["mean"], "locality": metrics["locality"],
        "locality_agreement": metrics["locality_agreement"], "er": metrics["er"]["mean"],
        # each made edit's translation right at the end of the stream, beside just after its edit
        "er_by_lang": {lang: r["mean"] for lang, r in metrics["er_by_lang"].items()},
        "er_by_lang_after_edit": {lang: r["mean"] for lang, r in metrics["er_by_lang_after_edit"].items()},
        "locality_by_lang": {lang: r["mean"] for lang, r in metrics["locality_by_lang"].items()},
        "heldout_transfer": heldout_transfer(made, args.seed),
        f"heldout_transfer_last_{LATE}": heldout_transfer(made[-LATE:], args.seed),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "curve": [{k: c[k] for k in ("n_edits", "locality", "er")} for c in logs[0].curve],
    }))


if __name__ == "__main__":
    bench_main(main)
