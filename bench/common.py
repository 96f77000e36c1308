"""What the editing benchmarks share: the edit stage's run of a method on a task
(`load_run`, mpn.experiment.run), or its model and sets alone (`load_task`, for a bench
that builds its own editors: bench/edit_speed.py), and one-line errors (`bench_main`)."""
from __future__ import annotations

import dataclasses
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from mpn.pipeline.commands import stage_paths
from mpn.pipeline.stage import load_params
from mpn.core.io import read_jsonl
from mpn.core.errors import UserError
from mpn.core.knobs import assignments
from mpn.editing.methods import MethodHParams
from mpn.editing.resolver import resolve_method
from mpn.model.classifier import Classifier
from mpn.model.portable import load_classifier
from mpn.core.params import EditSettings, section
from mpn.editing.features import FeatureStore
from mpn.experiment.heldout import memory_inputs
from mpn.experiment.run import EditRun


@dataclass
class TaskRun:
    model: Classifier
    tokenizer: object
    hparams: MethodHParams
    edits: list[dict]
    memory: list            # the method's memory texts (English, plus MPN's pool languages)
    val_memory: list
    max_length: int
    method: str             # what runs (a preset's method: mpn-tuned -> patcher+mpn)


def resolve_overrides(params: dict, method: str, overrides: list[str]):
    """The method's hyperparameters with "key=value" `overrides`, checked like every other
    route (mpn.editing.resolver)."""
    return resolve_method(params, method, assignments(overrides), f"{method} overrides:")


def load_task(task: str, method: str, overrides: list[str] = ()) -> TaskRun:
    """Needs `dvc repro` (models/<task>, data/edits/<task>) and the current params.yaml."""
    params = load_params()
    method_run = resolve_overrides(params, method, overrides)
    hparams = method_run.hparams
    settings = section(params, EditSettings)
    fixed = frozenset(settings.heldout.fixed(task))
    paths = stage_paths("edit", {"task": task, "method": method})  # where dvc.yaml puts them
    model, tokenizer = load_classifier(paths["model"])
    folder = paths["edits"]
    return TaskRun(model, tokenizer, hparams, edits=read_jsonl(folder / "edits.jsonl"),
                   memory=memory_inputs(read_jsonl(folder / "memory.jsonl"), hparams, fixed),
                   val_memory=memory_inputs(read_jsonl(folder / "memory_val.jsonl"), hparams, fixed),
                   max_length=settings.max_length, method=method_run.method)


def load_run(task: str, method: str, overrides: list[str] = (), seed: int = 0,
             features: FeatureStore | None = None, precompute: bool = True, **settings) -> EditRun:
    """The edit stage's run of `method` on `task` (mpn.experiment.run), from a pipeline run
    (`dvc repro`) and the current params.yaml: `overrides` ("key=value") over the method's
    hyperparameters; `settings` over params.yaml's `edit` (e.g. eval_every); `seed` seeds
    the dropout views and the runner's held-out draw."""
    params = load_params()
    method_run = resolve_overrides(params, method, overrides)
    paths = stage_paths("edit", {"task": task, "method": method})  # where dvc.yaml puts them
    edit_settings = dataclasses.replace(section(params, EditSettings), seed=seed, **settings)
    return EditRun.from_paths(method_run.method, method_run.hparams, task, paths["model"], paths["edits"],
                              edit_settings, features, seed=seed, precompute=precompute)


def used_groups(run: EditRun, task: str) -> set[str]:
    """The facts the edit stage's sets use (edits, locality, memory, validation memory):
    what a bench that draws other rows of the task must leave out."""
    folder = stage_paths("sample_edits", {"task": task})["out"]
    used = {r["group"] for r in run.edits + run.runner.locality}
    return used | {r["group"] for name in ("memory", "memory_val") for r in read_jsonl(folder / f"{name}.jsonl")}


def by_fact(rows: list[dict], value) -> list[float]:
    """One value a fact (a row's "group"): its mean over the rows, e.g. the seeds whose
    streams edited it; rows whose value is None are left out."""
    values = defaultdict(list)
    for row in rows:
        v = value(row)
        if v is not None:
            values[row["group"]].append(v)
    return [statistics.mean(v) for _, v in sorted(values.items())]


def bench_main(main: Callable[[], None]) -> None:
    """A bench's main(), with bad input (a variant, an override, a missing file) as one
    line on stderr and exit code 2, as a stage reports it; unlike a stage, the arithmetic
    is left as the libraries choose it (the recorded studies ran so)."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
