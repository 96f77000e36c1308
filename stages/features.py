"""Stage features@<task>: the last FFN's input at the classifier position, once per task.

Usage: python stages/features.py <task>
Reads models/<task>/ and data/edits/<task>/; writes data/features/<task>/
{features.safetensors, texts.json}: every text any edit stage reads (edits and their
evaluation texts, locality, memory and validation memory in English and up to
as many rows per other language as `hparams.patcher.memory_per_language` or
`hparams.mpn.memory_per_language` asks, whichever is more) and `hparams.patcher.n_views` dropout views
of each edit input. Every edit@<task>-<method> stage and seed loads it (mpn.editing.features).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from mpn.editing.features import FeatureExtractor, FeatureStore, stage_texts
from mpn.editing.methods import method_hparams
from mpn.experiment.finetune import FinetuneParams
from mpn.model.device import resolve_device
from mpn.model.portable import load_classifier
from mpn.pipeline.io import read_jsonl
from mpn.pipeline.params import EditSettings, section
from mpn.pipeline.schema import as_text
from mpn.pipeline.stage import load_params, run_stage, task_argument

log = logging.getLogger(__name__)


def main() -> None:
    params = load_params()
    task = task_argument(params)
    settings = section(params, EditSettings)  # max_length, seed (the dropout views), num_threads
    hparams = method_hparams(params, "mpn")  # n_views and memory_per_language, checked
    per_language = max(hparams.memory_per_language, method_hparams(params, "patcher").memory_per_language)
    device = resolve_device(section(params, FinetuneParams).device, "finetune.device")
    torch.set_num_threads(settings.num_threads or torch.get_num_threads())

    folder = Path("data") / "edits" / task
    edits = read_jsonl(folder / "edits.jsonl")
    texts = stage_texts(edits, read_jsonl(folder / "locality.jsonl"), read_jsonl(folder / "memory.jsonl"),
                        read_jsonl(folder / "memory_val.jsonl"), per_language)
    model, tokenizer = load_classifier(Path("models") / task)
    extract = FeatureExtractor(model.to(device), tokenizer, settings.max_length)
    store = FeatureStore.compute(extract, texts, [as_text(e["input"]) for e in edits], hparams.n_views,
                                 settings.seed, progress=True)
    store.save(Path("data") / "features" / task)
    log.info("%s: features of %d texts, %d dropout views of each of %d edit inputs (%s)",
             task, len(store.texts), store.n_views, len(store.view_texts), device)
    if extract.filled:
        log.warning("%s: %d encodings (texts and dropout views) fill edit.max_length (%d tokens): any longer were truncated",
                    task, extract.filled, settings.max_length)


if __name__ == "__main__":
    run_stage(main)
