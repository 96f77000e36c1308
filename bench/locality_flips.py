"""What flips locality items at the end of one long edit stream (as bench/edit_scale.py).

    python bench/locality_flips.py [--task fever] [--n 1000] [--set key=value ...]

Each locality item the base model got right and the edited model gets wrong is scored
again with only the patches that fire on it (pre-activation > 0) and with only the
others (pre-activation <= 0, GELU's negative dip and tail). It counts as `positive` if
the firing patches alone flip it, `dip` if the others alone do, `either` or
`together`. Prints one JSON line of counts, then one per flipped item: its text, the
edit of the patch with the largest pre-activation on it, and their word overlap.
"""
import argparse
import json
import re

import torch

from common import load_task
from edit_scale import EDIT_KINDS, long_stream
from mpn.sequential import as_text


def word_overlap(a, b) -> float:
    """Jaccard overlap of lower-cased word sets (a pair counts as its two texts)."""
    a, b = (" ".join(t) if isinstance(t, tuple) else t for t in (a, b))
    x, y = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    return len(x & y) / max(len(x | y), 1)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description="causes of locality flips after a long stream")
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--edits", choices=EDIT_KINDS, default="mistakes")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    task = load_task(args.task, "patcher", args.set)
    torch.manual_seed(args.seed)
    runner, stream, _ = long_stream(task, args.task, "patcher", args.n, 100, args.seed, args.edits)
    editor = runner.editor
    log = runner.run(stream, max_per_stream=args.n)[0]
    by_group = {e["group"]: e for e in stream}
    made = [by_group[r["group"]] for r in log.edits]               # patch i is edit made i

    texts = [as_text(r["input"]) for r in task.locality]
    h = editor.engine.features(texts)                              # (items, hidden)
    site, patches = editor.engine.site, editor.engine.patches
    base_ffn = site.base_down(site.activation(site.base_up(h)))    # (items, hidden)
    preact = patches.preact(h)                                     # (items, patches)
    out = site.activation(preact)                                  # (items, patches)

    def label(i: int, mask: torch.Tensor) -> int:
        ffn = base_ffn[i] + (out[i] * mask) @ patches.values
        return int(editor.engine.model.head(site.layer_norm(ffn + h[i])).argmax())

    counts, rows = {"positive": 0, "dip": 0, "either": 0, "together": 0}, []
    pairs = list(zip(log.locality_base, log.locality_after))
    flipped = [i for i, (base, after) in enumerate(pairs) if base and not after]
    for i in flipped:
        firing = preact[i] > 0
        base = label(i, torch.zeros_like(out[i]))
        by_firing, by_rest = label(i, firing.float()) != base, label(i, (~firing).float()) != base
        cause = "either" if by_firing and by_rest else "positive" if by_firing else "dip" if by_rest else "together"
        counts[cause] += 1
        top = int(preact[i].argmax())
        edit = as_text(made[top]["input"])
        rows.append({"cause": cause, "lang": task.locality[i]["lang"], "max_preact": round(preact[i].max().item(), 2),
                     "n_firing": int(firing.sum()), "overlap": round(word_overlap(edit, texts[i]), 2),
                     "item": texts[i], "edit": edit, "edit_target": made[top]["target"]})
    print(json.dumps({"task": args.task, "edits_made": len(made), "locality_items": len(texts),
                      "flipped": len(flipped), "fixed": sum(1 for b, a in pairs if a and not b), **counts}))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
