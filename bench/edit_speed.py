"""The same edits with the cached and the full engine: seconds per edit and edit success.

    python bench/edit_speed.py [--task xfacts] [--n 50] [--method patcher]

Needs a pipeline run (`dvc repro`) for models/<task> and data/edits/<task>. Each engine
starts from the base model and edits the same English inputs in the same order.
The cached engine's one-off feature pass (every text's FFN input and the dropout views,
computed once before editing) is reported separately as `cached_setup_sec`.
Prints one JSON line.
"""
import argparse
import copy
import json
import statistics
import time

import torch

from common import load_task
from mpn.editor import Editor
from mpn.sequential import as_text
from stages_edit import method_hparams


def run(engine: str, model, tokenizer, edits, memory, val_memory, hparams, max_length):
    torch.manual_seed(0)
    start = time.perf_counter()
    editor = Editor(copy.deepcopy(model), tokenizer, hparams=hparams, method=type_name(hparams),
                    engine=engine, memory=memory, val_memory=val_memory, max_length=max_length)
    if engine == "cached":
        texts = [as_text(e["input"]) for e in edits]
        editor.engine.features(texts + [as_text(t) for e in edits for t in e["translations"].values()])
        editor.engine.precompute_views(texts, hparams.n_views)
    setup = time.perf_counter() - start
    results = [editor.edit(as_text(e["input"]), e["target"],
                           {k: as_text(v) for k, v in e["translations"].items()}) for e in edits]
    return results, setup


def type_name(hparams) -> str:
    return "mpn" if hasattr(hparams, "k_translations") else "patcher"


def main() -> None:
    parser = argparse.ArgumentParser(description="cached vs full engine")
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--method", default="patcher")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    model, tokenizer, edits, memory, val_memory, _, params = load_task(args.task)
    edits = edits[:args.n]
    hparams = method_hparams(params, args.method)
    max_length = (params.get("edit") or {}).get("max_length", 64)
    out = {"task": args.task, "method": args.method, "n_edits": len(edits)}
    for engine in ("cached", "full"):
        results, setup = run(engine, model, tokenizer, edits, memory, val_memory, hparams, max_length)
        out[f"{engine}_sec_per_edit"] = round(statistics.median(r.seconds for r in results), 4)
        out[f"{engine}_es"] = round(sum(r.success for r in results) / len(results), 4)
        out[f"{engine}_steps"] = statistics.median(r.steps for r in results)
        out[f"{engine}_setup_sec"] = round(setup, 2)
    out["speedup"] = round(out["full_sec_per_edit"] / out["cached_sec_per_edit"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
