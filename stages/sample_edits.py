"""Stage sample_edits@<task>: the base model's English mistakes on the edit split become
edits (with rephrases and translations), split into streams; plus the locality, memory
and validation-memory sets, all disjoint by group.

A completion task (xfacts-lm): the edit split's facts whose new object the LM does not
already complete, and locality and memory facts (mpn.experiment.lm_sets).

Usage: python stages/sample_edits.py <task> --data data --model models/<task> --out data/edits/<task>
Reads the task's rows under <data> and its fine-tuned model; writes
{edits,locality,memory,memory_val}.jsonl and stats.json to the out folder.
"""
from __future__ import annotations

import logging

from mpn.data import is_completion, load_rows
from mpn.experiment import lm_sets
from mpn.experiment.lm_sets import LMTaskSettings
from mpn.experiment.edit_sets import EditSetConfig, sample_edit_set
from mpn.experiment.finetune import FinetuneParams, predict
from mpn.model.anatomy import Anatomy
from mpn.model.device import resolve_device
from mpn.model.portable import load_classifier
from mpn.core.io import write_json, write_jsonl
from mpn.core.params import section
from mpn.pipeline.stage import run_stage, set_threads, stage_args

log = logging.getLogger(__name__)
PATHS = {"data": "data root (raw and translated rows in)", "model": "the fine-tuned model's folder",
         "out": "the edit sets' folder"}


def main() -> None:
    args, params = stage_args(__doc__, ("task",), PATHS)
    if is_completion(args.task):   # a causal LM's facts (mpn.experiment.lm_sets)
        stats = lm_sets.sample_edits(args.task, args.model, load_rows(args.task, args.data),
                                      section(params, LMTaskSettings), args.out)
        log.info("%s: %s", args.task, stats)
        return
    finetune, config = section(params, FinetuneParams), section(params, EditSetConfig)
    set_threads(finetune.num_threads)
    model, tokenizer = load_classifier(args.model)
    model.to(resolve_device(finetune.device, "finetune.device"))
    max_length = finetune.max_length
    labels = Anatomy.of(model).labels

    def predict_labels(texts):
        return [labels[i] for i in predict(model, tokenizer, texts, config.batch_size,
                                                 max_length, desc="base model on edit split")]

    edit_set = sample_edit_set(load_rows(args.task, args.data), predict_labels, config)
    out = args.out
    write_jsonl(out / "edits.jsonl", edit_set.edits)
    write_jsonl(out / "locality.jsonl", edit_set.locality)
    write_jsonl(out / "memory.jsonl", edit_set.memory)
    write_jsonl(out / "memory_val.jsonl", edit_set.memory_val)
    write_json(out / "stats.json", edit_set.stats)
    log.info("%s: %d edits in streams %s; locality %s", args.task, edit_set.stats["n_edits"],
             edit_set.stats["edits_per_stream"], edit_set.stats["n_locality_by_lang"])


if __name__ == "__main__":
    run_stage(main)
