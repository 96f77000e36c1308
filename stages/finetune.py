"""Stage finetune@<task>: fine-tune the base classifier on the task's English training
split, keep the best checkpoint on English validation, and report its accuracy in every
language (zero-shot cross-lingual transfer).

A completion task (xfacts-lm) fine-tunes nothing: the causal LM `finetune.model` is saved
as it is and base.json says which true objects it completes (mpn.experiment.lm_sets).

Usage: python stages/finetune.py <task> --data data --model models/<task> --reports reports/tasks/<task>
Reads <data>/raw/<task> and <data>/translated/<task>; writes the model folder (classifier
+ tokenizer) and, in the reports folder, base.json (accuracy per language and split),
base_metrics.json (the headline, for DVC's views) and train_curve.csv.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from mpn.data import is_completion, load_meta, load_rows
from mpn.experiment import lm_sets
from mpn.experiment.lm_sets import LMTaskSettings
from mpn.experiment.finetune import FinetuneParams, TrainConfig, Trainer, base_metrics, base_report, english_split
from mpn.model.anatomy import Anatomy
from mpn.model.classifier import Classifier, default_prefix, load_encoder
from mpn.model.portable import load_any
from mpn.core.errors import UserError
from mpn.core.io import atomic_folder, csv_text, write_json, write_text
from mpn.core.params import section
from mpn.pipeline.stage import run_stage, set_threads, stage_args

log = logging.getLogger(__name__)


def save_model(model: Classifier, tokenizer, folder: Path) -> None:
    """save_pretrained into a temp folder, then rename: never a half-written model."""
    with atomic_folder(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def curve_csv(curve: list[dict]) -> str:
    return csv_text(({"step": row["step"], "loss": f"{row['loss']:.6f}", "val_accuracy": f"{row['val_accuracy']:.6f}"}
                     for row in curve), ["step", "loss", "val_accuracy"])


def fine_tune(model_name: str, labels: list[str], rows: list[dict], config: TrainConfig, task: str):
    """Our Classifier (a fresh head on the encoder `model_name`), fine-tuned on English."""
    encoder, tokenizer = load_encoder(model_name)
    model = Classifier.from_encoder(encoder, labels, dropout=config.dropout,
                                    input_prefix=default_prefix(model_name), seed=config.seed)
    train_texts, train_labels = english_split(rows, "train", labels, config.max_train_examples, config.seed)
    val_texts, val_labels = english_split(rows, "val", labels, config.max_val_examples, config.seed)
    log.info("%s: fine-tuning %s on %d English training items (%d for validation)",
             task, model_name, len(train_texts), len(val_texts))
    result = Trainer(model, tokenizer, config).fit(train_texts, train_labels, val_texts, val_labels)
    return model, tokenizer, result.curve


def load_fine_tuned(model_name: str, labels: list[str]):
    """A sequence classifier (hub name or folder) whose labels are the task's, matched by
    name (case, spaces, - and _ ignored) and renamed to the task's spelling."""
    model, tokenizer = load_any(model_name)
    anatomy = Anatomy.of(model)
    spelled = {_label_key(name): i for i, name in enumerate(anatomy.labels)}
    missing = [label for label in labels if _label_key(label) not in spelled]
    if missing or len(labels) != len(anatomy.labels):
        raise UserError(f"finetune.model {model_name!r}: its labels ({', '.join(anatomy.labels)}) do not match "
                        f"the task's ({', '.join(labels)}); with finetune.epochs 0 the model must be a classifier "
                        "for this task's labels")
    names = {spelled[_label_key(label)]: label for label in labels}
    if isinstance(model, Classifier):
        model.config.labels = [names[i] for i in range(len(labels))]
    else:
        model.config.id2label = names
        model.config.label2id = {label: i for i, label in names.items()}
    log.info("evaluating %s as it is (finetune.epochs 0); labels %s", model_name, names)
    return model, tokenizer


def _label_key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def write_reports(folder: Path, report: dict, curve: list[dict]) -> None:
    write_text(folder / "train_curve.csv", curve_csv(curve))
    write_json(folder / "base.json", report)
    write_json(folder / "base_metrics.json", base_metrics(report))


PATHS = {"data": "data root (raw and translated rows in)", "model": "the fine-tuned model's folder (out)",
         "reports": "the task's reports folder (out)"}


def main() -> None:
    args, params = stage_args(__doc__, ("task",), PATHS)
    config = section(params, FinetuneParams)
    set_threads(config.num_threads)
    started = time.monotonic()
    meta, rows = load_meta(args.task, args.data), load_rows(args.task, args.data)
    if is_completion(args.task):   # a causal LM as it is: saved, and its base.json
        report = lm_sets.finetune(args.task, config.model, rows, section(params, LMTaskSettings), args.model)
        write_reports(args.reports, report, [])
        log.info("%s: %s completes the true objects by language %s (test); %.1f min", args.task, config.model,
                 report["test"]["accuracy_by_lang"], (time.monotonic() - started) / 60)
        return
    labels = list(meta["labels"])

    model_name = config.model
    if config.epochs == 0:  # an already fine-tuned classifier: evaluate it as it is
        model, tokenizer = load_fine_tuned(model_name, labels)
        curve = []
    else:
        model, tokenizer, curve = fine_tune(model_name, labels, rows, config, args.task)

    report = base_report(args.task, model, tokenizer, rows, labels, config)
    save_model(model.cpu(), tokenizer, args.model)
    write_reports(args.reports, report, curve)
    log.info("%s: test accuracy by language %s (majority baseline %.4f); %.1f min",
             args.task, {k: round(v, 4) for k, v in report["test"]["accuracy_by_lang"].items()},
             report["majority_baseline"], (time.monotonic() - started) / 60)


if __name__ == "__main__":
    run_stage(main)
