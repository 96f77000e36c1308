"""One edit run, built one way: the fine-tuned model, the edit sets, a method's
hyperparameters, the run's held-out design (`edit.heldout`) and the cached features, in a
stream runner. stages/edit.py (which parses arguments and writes reports) and the
benches that replay its runs (bench/transfer_study.py, bench/heldout_preact.py) build
their runs here, so a bench measures exactly what the pipeline runs.

    run = EditRun.from_paths("patcher+mpn", hparams, "xfacts", model_dir, edits_dir, settings, features)
    logs = run.run(seeds=[0, 1, 2])
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from mpn.editing.editor import Editor
from mpn.editing.features import FeatureStore
from mpn.editing.methods import MethodHParams
from mpn.experiment.checkpoints import Checkpoints
from mpn.experiment.heldout import HeldOut, memory_inputs
from mpn.experiment.sequential import SequentialEditing
from mpn.experiment.stream_log import StreamLog
from mpn.experiment.streams import StreamJob, run_streams
from mpn.model.portable import load_classifier
from mpn.core.errors import UserError
from mpn.core.io import read_jsonl
from mpn.core.params import EditSettings
from mpn.core.schema import fact_of


@dataclass
class EditRun:
    method: str              # what runs (a preset's method: mpn-tuned -> patcher+mpn)
    hparams: MethodHParams
    heldout: HeldOut         # the run's held-out design, the same for every method
    edits: list[dict]        # the edit set's rows this run makes (streams and order as sampled)
    runner: SequentialEditing

    @classmethod
    def from_paths(cls, method: str, hparams: MethodHParams, task: str, model: Path, edits: Path,
                   settings: EditSettings, features: FeatureStore | None = None, max_edits: int | None = None,
                   exclude: frozenset[str] = frozenset(),
                   near: Callable[[list[str]], dict[str, list[dict]]] | None = None,
                   runner_class: type[SequentialEditing] = SequentialEditing, seed: int = 0,
                   precompute: bool = True) -> "EditRun":
        """The run over the edit sets in folder `edits` (stage sample_edits): its first
        `max_edits` edits, less those of facts in `exclude`; `near` maps the edits' groups
        to their near-locality rows (mpn.experiment.near), measured beside locality. The
        runner holds the held-out draw of `seed` (`run` draws each seed's own). Every text of
        the edits is computed up front unless `precompute` is off (a caller adding edits of
        its own computes them all at once, so the dropout views come out as one draw)."""
        heldout = HeldOut.from_settings(settings.heldout, task, seed)
        rows = [e for e in read_jsonl(edits / "edits.jsonl")[:max_edits] if fact_of(e["group"]) not in exclude]
        if not rows:
            raise UserError(f"{edits / 'edits.jsonl'} has no edits{' outside the excluded facts' if exclude else ''}: "
                            f"the base model made no mistakes to fix")
        model_, tokenizer = load_classifier(model)
        torch.manual_seed(settings.seed)  # dropout views of texts the features file lacks
        editor = Editor(model_, tokenizer, method, hparams, engine=settings.engine,
                        memory=memory_inputs(read_jsonl(edits / "memory.jsonl"), hparams, heldout.fixed),
                        val_memory=memory_inputs(read_jsonl(edits / "memory_val.jsonl"), hparams, heldout.fixed),
                        max_length=settings.max_length, features=features, device=settings.device)
        runner = runner_class(editor, read_jsonl(edits / "locality.jsonl"), heldout, eval_every=settings.eval_every,
                              near=near([e["group"] for e in rows]) if near else None)
        if precompute:
            runner.precompute(rows)  # what the features file lacks (nothing, in the pipeline)
        return cls(method, hparams, heldout, rows, runner)

    def run(self, seeds: list[int], checkpoints: Checkpoints | None = None, processes: int = 0) -> list[StreamLog]:
        """Every (seed, stream), each from the base model; finished ones saved to and
        loaded from `checkpoints`; `processes` side by side (0: one per core)."""
        return run_streams(StreamJob.for_seeds(self.runner, self.hparams, self.heldout, self.edits, seeds,
                                               checkpoints), processes)
