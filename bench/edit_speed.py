"""The same edits with the cached and the full engine: seconds per edit and edit success.

    python bench/edit_speed.py [--task xfacts] [--n 50] [--method patcher] [--engines cached full]

Needs a pipeline run (`dvc repro`) for models/<task> and data/edits/<task>. Each engine
starts from the base model and edits the same English inputs in the same order, with
the edit stage's memory. The cached engine's one-off feature pass (every text's FFN
input and the dropout views, computed once before editing) is reported separately as
`cached_setup_sec`. Prints one JSON line.
"""
import argparse
import copy
import json
import statistics
import sys
import time

import torch

from common import TaskRun, bench_main, load_task
from mpn.editing.editor import Editor
from mpn.experiment.sequential import as_text, precompute


def run(engine: str, task: TaskRun, edits: list[dict]):
    torch.manual_seed(0)
    start = time.perf_counter()
    editor = Editor(copy.deepcopy(task.model), task.tokenizer, task.method, task.hparams, engine=engine,
                    memory=task.memory, val_memory=task.val_memory, max_length=task.max_length)
    precompute(editor, edits)
    setup = time.perf_counter() - start
    results = [editor.edit(as_text(e["input"]), e["target"],
                           {k: as_text(v) for k, v in e["translations"].items()}) for e in edits]
    return results, setup


def main() -> None:
    parser = argparse.ArgumentParser(description="cached vs full engine")
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--method", default="patcher")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--engines", nargs="+", choices=("cached", "full"), default=["cached", "full"],
                        help="run only some engines (the full one takes minutes)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override the method's hyperparameters, e.g. --set patience=5")
    args = parser.parse_args()
    task = load_task(args.task, args.method, args.set)
    edits = task.edits[:args.n]
    out = {"task": args.task, "method": args.method, "n_edits": len(edits)}
    for engine in args.engines:
        results, setup = run(engine, task, edits)
        out[f"{engine}_sec_per_edit"] = round(statistics.median(r.seconds for r in results), 4)
        out[f"{engine}_es"] = round(sum(r.success for r in results) / len(results), 4)
        out[f"{engine}_steps"] = statistics.median(r.steps for r in results)
        out[f"{engine}_setup_sec"] = round(setup, 2)
        print(f"{engine}: {out[f'{engine}_sec_per_edit']} s/edit", file=sys.stderr, flush=True)
    if len(args.engines) == 2:
        out["speedup"] = round(out["full_sec_per_edit"] / out["cached_sec_per_edit"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    bench_main(main)
