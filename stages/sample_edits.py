"""Stage sample_edits@<task>: the base model's English mistakes on the edit split become
edits (with rephrases and translations), split into streams; plus the locality, memory
and validation-memory sets, all disjoint by group.

Usage: python stages/sample_edits.py <task>
Writes data/edits/<task>/{edits,locality,memory,memory_val}.jsonl and stats.json.
"""
from __future__ import annotations

import logging
from pathlib import Path

from mpn.data import load_rows
from mpn.experiment.edit_sets import EditSetConfig, sample_edit_set
from mpn.experiment.finetune import FinetuneParams, predict
from mpn.model.anatomy import Anatomy
from mpn.model.device import resolve_device
from mpn.model.portable import load_classifier
from mpn.pipeline.io import write_json, write_jsonl
from mpn.pipeline.params import section
from mpn.pipeline.stage import load_params, run_stage, set_threads, task_argument

log = logging.getLogger(__name__)


def main() -> None:
    params = load_params()
    task = task_argument(params)
    finetune, config = section(params, FinetuneParams), section(params, EditSetConfig)
    set_threads(finetune.num_threads)
    model, tokenizer = load_classifier(Path("models") / task)
    model.to(resolve_device(finetune.device, "finetune.device"))
    max_length = finetune.max_length
    labels = Anatomy.of(model).labels

    def predict_labels(texts):
        return [labels[i] for i in predict(model, tokenizer, texts, config.batch_size,
                                                 max_length, desc="base model on edit split")]

    edit_set = sample_edit_set(load_rows(task), predict_labels, config)
    out = Path("data") / "edits" / task
    write_jsonl(out / "edits.jsonl", edit_set.edits)
    write_jsonl(out / "locality.jsonl", edit_set.locality)
    write_jsonl(out / "memory.jsonl", edit_set.memory)
    write_jsonl(out / "memory_val.jsonl", edit_set.memory_val)
    write_json(out / "stats.json", edit_set.stats)
    log.info("%s: %d edits in streams %s; locality %s", task, edit_set.stats["n_edits"],
             edit_set.stats["edits_per_stream"], edit_set.stats["n_locality_by_lang"])


if __name__ == "__main__":
    run_stage(main)
