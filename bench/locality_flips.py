"""What changes locality items' predictions at the end of edit streams.

    python bench/locality_flips.py [--task fever] [--method patcher|mpn] [--n 1000]
                                   [--streams long|pipeline] [--seed 0] [--set key=value ...]

`--streams long` (default): one long stream, as bench/edit_scale.py (`--cache`: the
features its `--cache` saved). `--streams pipeline`:
the edit stage's own streams for `--seed` (each from the base model), as in `dvc repro`.
Each locality item whose prediction differs from the base model's at the end of its
stream (locality agreement counts these) is scored again with only the patches that
fire on it (pre-activation > 0) and with only the others (pre-activation <= 0, GELU's
negative dip and tail). It counts as `positive` if the firing patches alone change it,
`dip` if the others alone do, `either` or `together`. Prints one JSON line of counts
(all changes, and those that turned a right answer wrong, by cause and by language),
then one per changed item: its text, the edit of the patch with the largest
pre-activation on it, and their word overlap.
"""
import argparse
import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import torch
from common import bench_main, load_run
from edit_scale import EDIT_KINDS, cached_features, long_stream, stream_key

from mpn.experiment.edit_sets import reshuffle_streams
from mpn.core.schema import as_text


def word_overlap(a, b) -> float:
    """Jaccard overlap of lower-cased word sets (a pair counts as its two texts)."""
    a, b = (" ".join(t) if isinstance(t, tuple) else t for t in (a, b))
    x, y = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    return len(x & y) / max(len(x | y), 1)


@torch.no_grad()
def changes(runner, log, made: list[dict], texts: list) -> list[dict]:
    """Every locality item whose prediction changed, with its cause."""
    editor = runner.editor
    h = editor.engine.features(texts)                              # (items, hidden)
    site, patches = editor.engine.site, editor.engine.patches
    base_ffn = site.base_down(site.activation(site.base_up(h)))    # (items, hidden)
    preact = patches.preact(h)                                     # (items, patches)
    out = site.activation(preact)                                  # (items, patches)

    def label(i: int, mask: torch.Tensor) -> int:
        ffn = base_ffn[i] + (out[i] * mask) @ patches.values
        return int(editor.engine.head(site.layer_norm(ffn + h[i])).argmax())

    rows = []
    for i, agree in enumerate(log.agreement):
        if agree:
            continue
        firing = preact[i] > 0
        base = label(i, torch.zeros_like(out[i]))
        by_firing, by_rest = label(i, firing.float()) != base, label(i, (~firing).float()) != base
        cause = "either" if by_firing and by_rest else "positive" if by_firing else "dip" if by_rest else "together"
        top = int(preact[i].argmax())
        edit = as_text(made[top]["input"])
        rows.append({"cause": cause, "lang": runner.locality[i]["lang"],
                     "right_to_wrong": bool(log.locality_base[i] and not log.locality_after[i]),
                     "max_preact": round(preact[i].max().item(), 2), "n_firing": int(firing.sum()),
                     "overlap": round(word_overlap(edit, texts[i]), 2), "item": texts[i], "edit": edit,
                     "edit_target": made[top]["target"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="causes of locality changes after edit streams")
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--method", default="patcher")
    parser.add_argument("--n", type=int, default=1000, help="long stream: edits to make")
    parser.add_argument("--streams", choices=("long", "pipeline"), default="long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edits", choices=EDIT_KINDS, default="mistakes")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--cache", type=Path, default=None,
                        help="long stream: the features bench/edit_scale.py --cache saved for this stream")
    args = parser.parse_args()
    if args.streams == "long":
        features = cached_features(args.cache, stream_key(args.task, args.seed, args.n, args.edits))
        run = load_run(args.task, args.method, args.set, args.seed, features, precompute=False, eval_every=100)
        stream, _ = long_stream(run, args.task, args.n, args.seed, args.edits)
        streams, limit = [stream], args.n
    else:  # the edit stage's streams for this seed
        run = load_run(args.task, args.method, args.set, args.seed, eval_every=10**9)
        run.runner.editor.hparams = dataclasses.replace(run.hparams, seed=args.seed)
        edits = reshuffle_streams(run.edits, args.seed)
        streams, limit = [[e for e in edits if e["stream"] == s] for s in sorted({e["stream"] for e in edits})], None
    runner = run.runner
    texts = [as_text(r["input"]) for r in runner.locality]
    rows, n_items, n_made = [], 0, 0
    for stream in streams:
        log = runner.run(stream, max_per_stream=limit)[0]
        by_group = {e["group"]: e for e in stream}
        made = [by_group[r["group"]] for r in log.edits]           # patch i is edit made i
        rows += changes(runner, log, made, texts)
        n_items += len(texts)
        n_made += len(made)
    wrong = [r for r in rows if r["right_to_wrong"]]
    print(json.dumps({"task": args.task, "method": args.method, "streams": args.streams, "set": args.set,
                      "edits_made": n_made, "locality_items": n_items, "changed": len(rows),
                      "agreement": round(1 - len(rows) / max(n_items, 1), 4),
                      "changed_by_cause": dict(Counter(r["cause"] for r in rows)),
                      "changed_by_lang": dict(sorted(Counter(r["lang"] for r in rows).items())),
                      "right_to_wrong": len(wrong), "right_to_wrong_by_cause": dict(Counter(r["cause"] for r in wrong)),
                      "wrong_to_right": len(rows) - len(wrong)}))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    bench_main(main)
