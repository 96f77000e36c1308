"""Stage features@<task>: the last FFN's input at the classifier position, once per task.

Usage: python stages/features.py <task> --model models/<task> --edits data/edits/<task>
    --needs data/feature_needs --out data/features/<task>
Reads the fine-tuned model, the edit sets and, for every method in params `methods`, the
two of its resolved knobs that shape the features (stage hparams@<method>); writes {features.safetensors,
texts.json} to the out folder: every text any edit stage reads (edits and their
evaluation texts, locality, memory and validation memory in English and up to as many
rows per other language as any method's `memory_per_language` asks) and as many dropout
views of each edit input as any method's `n_views`. Every edit@<task>-<method> stage and
seed loads it (mpn.editing.features). A completion task (xfacts-lm): the memory's MLP
inputs at each layer a method edits, per language (mpn.experiment.lm_sets).
"""
from __future__ import annotations

import logging

import torch

from mpn.data import is_completion
from mpn.experiment import lm_sets
from mpn.editing.features import FeatureExtractor, FeatureStore, stage_texts
from mpn.editing.resolver import read_resolved
from mpn.experiment.finetune import FinetuneParams
from mpn.model.device import resolve_device
from mpn.model.portable import load_classifier
from mpn.core.io import read_jsonl
from mpn.core.params import EditSettings, pipeline, section
from mpn.core.schema import as_text
from mpn.pipeline.stage import run_stage, stage_args

log = logging.getLogger(__name__)
PATHS = {"model": "the fine-tuned model's folder", "edits": "the edit sets' folder (stage sample_edits)",
         "needs": "the methods' feature needs folder (stage hparams@<method>)", "out": "the features' folder"}


def main() -> None:
    args, params = stage_args(__doc__, ("task",), PATHS)
    settings = section(params, EditSettings)  # max_length, seed (the dropout views), num_threads
    needs = [read_resolved(args.needs / f"{m}.json", m) for m in pipeline(params).methods]
    if is_completion(args.task):   # a causal LM: its memory's states at each edited layer
        counts = lm_sets.features(args.model, args.edits, args.out, [need["lm_layer"] for need in needs])
        log.info("%s: memory positions by layer %s", args.task, counts)
        return
    per_language = max(need["memory_per_language"] for need in needs)
    n_views = max(need["n_views"] for need in needs)
    device = resolve_device(section(params, FinetuneParams).device, "finetune.device")
    torch.set_num_threads(settings.num_threads or torch.get_num_threads())

    folder = args.edits
    edits = read_jsonl(folder / "edits.jsonl")
    texts = stage_texts(edits, read_jsonl(folder / "locality.jsonl"), read_jsonl(folder / "memory.jsonl"),
                        read_jsonl(folder / "memory_val.jsonl"), per_language)
    model, tokenizer = load_classifier(args.model)
    extract = FeatureExtractor(model.to(device), tokenizer, settings.max_length)
    store = FeatureStore.compute(extract, texts, [as_text(e["input"]) for e in edits], n_views,
                                 settings.seed, progress=True)
    store.save(args.out)
    log.info("%s: features of %d texts, %d dropout views of each of %d edit inputs (%s)",
             args.task, len(store.texts), store.n_views, len(store.view_texts), device)
    if extract.filled:
        log.warning("%s: %d encodings (texts and dropout views) fill edit.max_length (%d tokens): any longer were truncated",
                    args.task, extract.filled, settings.max_length)


if __name__ == "__main__":
    run_stage(main)
