"""One long stream of sequential edits: time, peak memory, locality at the end.

    python bench/edit_scale.py [--task xfacts] [--n 1000] [--method patcher]

Takes the first n edits of data/edits/<task>/edits.jsonl (all streams, in order) as ONE
stream (only mistakes of the current model are edited, as in the edit stage) and prints
one JSON line: edits made, total and per-edit seconds, peak RSS, locality and edit
retention at the end, and the running curve.
"""
import argparse
import json
import resource
import time

import torch

from common import load_task
from mpn.editor import Editor
from mpn.sequential import SequentialEditing, as_text, summarize
from stages_edit import method_hparams


def main() -> None:
    parser = argparse.ArgumentParser(description="one long edit stream")
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--method", default="patcher")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--eval-every", type=int, default=100)
    args = parser.parse_args()
    model, tokenizer, edits, memory, val_memory, locality, params = load_task(args.task)
    edits = [dict(e, stream=0) for e in edits[:args.n]]
    hparams = method_hparams(params, args.method)
    heldout = list((params.get("mpn") or {}).get("heldout_languages") or [])
    torch.manual_seed(0)
    start = time.perf_counter()
    editor = Editor(model, tokenizer, args.method, hparams, memory=memory, val_memory=val_memory,
                    max_length=(params.get("edit") or {}).get("max_length", 64))
    texts = [as_text(r["input"]) for r in locality]
    for e in edits:
        texts += [as_text(e["input"])] + [as_text(t) for t in e["rephrases"]] + \
                 [as_text(t) for t in e["translations"].values()]
    editor.engine.features(texts, progress=True)
    editor.engine.precompute_views([as_text(e["input"]) for e in edits], hparams.n_views, progress=True)
    setup = time.perf_counter() - start
    logs = SequentialEditing(editor, locality, heldout, args.eval_every).run(edits)
    total = time.perf_counter() - start
    metrics = summarize(logs, heldout, 200, 0)
    print(json.dumps({
        "task": args.task, "method": args.method, "stream_length": len(edits),
        "edits_made": metrics["n_edits"], "setup_sec": round(setup, 1), "total_sec": round(total, 1),
        "sec_per_edit": metrics["sec_per_edit"], "es": metrics["es"]["mean"],
        "locality": metrics["locality"]["mean"], "er": metrics["er"]["mean"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "curve": [{k: c[k] for k in ("n_edits", "locality", "er")} for c in logs[0].curve],
    }))


if __name__ == "__main__":
    main()
