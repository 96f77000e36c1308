"""Fine-tuning the base classifier, and the report of how good the base model is.

The loop keeps the parameters with the best English validation accuracy, logs a
training curve (step, mean training loss since the last evaluation, val accuracy) and
is deterministic for a seed: the data order comes from a seeded generator and dropout
from torch's seeded global generator.
"""
from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import torch
from sklearn.metrics import accuracy_score, precision_recall_fscore_support
from torch.nn import functional as F
from tqdm import tqdm
from transformers import get_linear_schedule_with_warmup

from mpn.model.classifier import Classifier, predict_logits, tokenize
from mpn.model.device import resolve_device
from mpn.core.errors import UserError
from mpn.core.knobs import knob
from mpn.core.params import MAX_LENGTH
from mpn.core.schema import ORIGINAL, Text, model_input

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """What the Trainer needs of the `finetune` section of params.yaml."""
    max_length: int = knob(MAX_LENGTH, ge=1)
    batch_size: int = knob(32, ge=1)
    learning_rate: float = knob(8.0e-5, gt=0)
    epochs: int = knob(2, ge=0)             # 0: evaluate finetune.model as it is
    warmup: float = knob(0.1, ge=0, le=0.99)  # fraction of all steps with a linearly rising learning rate
    weight_decay: float = knob(0.01, ge=0)
    freeze_word_embeddings: bool = knob(True)
    freeze_layers: int = knob(0, ge=0)      # bottom transformer layers (and all embeddings) kept frozen
    dropout: float = knob(0.1, ge=0, le=0.99)
    eval_every: int = knob(5, ge=0)         # steps between validation runs; 0: once per epoch
    max_train_examples: int = knob(0, ge=0)  # 0: the whole English training split
    max_val_examples: int = knob(0, ge=0)   # cap on the validation used to pick the checkpoint; 0: all
    seed: int = knob(0, ge=0)
    device: str = knob("auto")


@dataclass(frozen=True)
class FinetuneParams(TrainConfig):
    """The whole `finetune` section: the Trainer's keys and the stage's own."""
    SECTION: ClassVar[str] = "finetune"  # its key in params.yaml
    model: str = knob("e5-small")           # e5-small, a hub name or a local folder
    num_threads: int = knob(1, ge=0)        # torch CPU threads; 0: torch's default


@dataclass
class TrainResult:
    curve: list[dict] = field(default_factory=list)   # rows: step, loss, val_accuracy
    best_step: int = 0
    best_val_accuracy: float = -1.0


def freeze_word_embeddings(model: Classifier) -> None:
    """The word embeddings are most of e5-small's weights; tuning them on English only
    moves English tokens away from their translations, which hurts the other languages."""
    model.encoder.get_input_embeddings().weight.requires_grad_(False)


def freeze_bottom_layers(model: Classifier, n: int) -> None:
    """Freeze the embeddings and the bottom `n` transformer layers. Backpropagation then
    stops at layer n (cheaper steps), and the lower layers, where the languages are
    aligned, stay as pre-trained."""
    layers = getattr(getattr(model.encoder, "encoder", None), "layer", None)
    if layers is None or n >= len(layers):
        have = "no layer list" if layers is None else f"{len(layers)} layers"
        raise UserError(f"finetune.freeze_layers = {n}; the encoder has {have} (must be fewer)")
    for module in [model.encoder.embeddings, *layers[:n]]:
        module.requires_grad_(False)


def _optimizer(model: Classifier, config: TrainConfig) -> torch.optim.Optimizer:
    # Usual practice: no weight decay on biases and LayerNorm weights (1-d tensors).
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 else decay).append(param)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate)


class Trainer:
    """One fine-tuning run: batches in seeded order, best-on-validation checkpoint."""

    def __init__(self, model: Classifier, tokenizer, config: TrainConfig):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.device = resolve_device(config.device, "finetune.device")

    def fit(self, texts: Sequence[Text], labels: Sequence[int],
            val_texts: Sequence[Text], val_labels: Sequence[int]) -> TrainResult:
        """Train; leaves the model at its best English-val checkpoint, in eval mode."""
        config = self.config
        if not texts:
            raise UserError("no training examples: the English training split is empty")
        torch.manual_seed(config.seed)
        order_rng = torch.Generator().manual_seed(config.seed)
        self._prepare_model()
        steps_per_epoch = -(-len(texts) // config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        eval_every = config.eval_every or steps_per_epoch
        optimizer = _optimizer(self.model, config)
        schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup * total_steps), total_steps)
        result, best_state, losses, step = TrainResult(), None, [], 0
        bar = tqdm(total=len(texts) * config.epochs, unit="ex", desc="fine-tune", unit_scale=True)
        for _ in range(config.epochs):
            for batch in torch.randperm(len(texts), generator=order_rng).split(config.batch_size):
                losses.append(self._step([texts[i] for i in batch], [labels[i] for i in batch],
                                         optimizer, schedule))
                step += 1
                bar.update(len(batch))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
                if step % eval_every == 0 or step == total_steps:
                    if self._check(step, losses, val_texts, val_labels, result):
                        best_state = self._trainable_state()
                    losses = []
        bar.close()
        self.model.load_state_dict(best_state, strict=False)
        self.model.eval()
        log.info("kept the checkpoint of step %d (val accuracy %.4f)", result.best_step,
                 result.best_val_accuracy)
        return result

    def _prepare_model(self) -> None:
        self.model.to(self.device)
        if self.config.freeze_word_embeddings:
            freeze_word_embeddings(self.model)
        if self.config.freeze_layers:
            freeze_bottom_layers(self.model, self.config.freeze_layers)

    def _check(self, step: int, losses: list[float], val_texts, val_labels, result: TrainResult) -> bool:
        """Validate, add a curve row; True when this is the best checkpoint so far."""
        accuracy = self.accuracy(val_texts, val_labels)
        result.curve.append({"step": step, "loss": sum(losses) / len(losses), "val_accuracy": accuracy})
        log.info("step %d: train loss %.4f, val accuracy %.4f", step, result.curve[-1]["loss"], accuracy)
        if accuracy <= result.best_val_accuracy:
            return False
        result.best_step, result.best_val_accuracy = step, accuracy
        return True

    def _step(self, texts, labels, optimizer, schedule) -> float:
        self.model.train()
        batch = tokenize(self.tokenizer, texts, self.model.config.input_prefix, self.config.max_length)
        logits = self.model(**{k: v.to(self.device) for k, v in batch.items()})
        loss = F.cross_entropy(logits, torch.tensor(labels, device=self.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        return loss.item()

    def _trainable_state(self) -> dict[str, torch.Tensor]:
        # Frozen weights never change, so the trainable ones are a complete checkpoint.
        return {name: p.detach().clone() for name, p in self.model.named_parameters() if p.requires_grad}

    def accuracy(self, texts: Sequence[Text], labels: Sequence[int]) -> float:
        predictions = predict(self.model, self.tokenizer, texts, self.config.batch_size * 2,
                              self.config.max_length)
        return float(accuracy_score(labels, predictions)) if labels else 0.0


def predict(model: Classifier, tokenizer, texts: Sequence[Text], batch_size: int,
            max_length: int, desc: str | None = None) -> list[int]:
    """Predicted label indices, on whatever device the model sits. Batches hold texts of
    similar length (less padding, a lot faster on CPU); the result is in input order."""
    order = sorted(range(len(texts)), key=lambda i: (_text_length(texts[i]), i))
    predictions = [0] * len(texts)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc=desc, unit="batch", disable=desc is None):
        logits = _logits(model, tokenizer, [texts[i] for i in batch], max_length)
        for i, label in zip(batch, logits.argmax(-1).tolist()):
            predictions[i] = label
    return predictions


def _text_length(text: Text) -> int:
    return len(text) if isinstance(text, str) else len(text[0]) + len(text[1])


@torch.no_grad()
def _logits(model, tokenizer, texts: list[Text], max_length: int) -> torch.Tensor:
    return predict_logits(model, tokenizer, texts, len(texts), max_length).cpu()


# --- the base model's report ----------------------------------------------------

def majority_baseline(train_labels: Sequence[str], test_labels: Sequence[str]) -> float:
    """Accuracy on the test labels of always answering the training split's most common label."""
    if not train_labels or not test_labels:
        return 0.0
    majority = min(Counter(train_labels).most_common(), key=lambda kv: (-kv[1], kv[0]))[0]
    return sum(label == majority for label in test_labels) / len(test_labels)


def accuracy_by_lang(gold: Sequence[str], predicted: Sequence[str], langs: Sequence[str]) -> dict[str, float]:
    """Accuracy per language, English first, then the others sorted."""
    ordered = sorted(set(langs), key=lambda lang: (lang != "en", lang))
    out = {}
    for lang in ordered:
        idx = [i for i, x in enumerate(langs) if x == lang]
        out[lang] = float(accuracy_score([gold[i] for i in idx], [predicted[i] for i in idx]))
    return out


def per_class(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, dict]:
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=list(labels), zero_division=0)
    return {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)}


def split_report(gold: Sequence[str], predicted: Sequence[str], langs: Sequence[str]) -> dict:
    by_lang = accuracy_by_lang(gold, predicted, langs)
    return {"accuracy": by_lang.get("en", 0.0), "accuracy_by_lang": by_lang}


def english_split(rows: Sequence[dict], split: str, labels: Sequence[str], cap: int = 0,
                  seed: int = 0) -> tuple[list[Text], list[int]]:
    """English originals of a split as (texts, label indices), in id order; a cap keeps
    a seeded random subset."""
    chosen = sorted((r for r in rows if r["split"] == split and r["lang"] == "en"
                     and r["variant"] == ORIGINAL), key=lambda r: r["id"])
    if cap and len(chosen) > cap:
        keep = set(random.Random(f"{seed}-{split}").sample(range(len(chosen)), cap))
        chosen = [r for i, r in enumerate(chosen) if i in keep]
    return [model_input(r) for r in chosen], [label_index(r, labels) for r in chosen]


def label_index(row: dict, labels: Sequence[str]) -> int:
    try:
        return labels.index(row["label"])
    except ValueError:
        raise UserError(f"row {row['id']!r} has label {row['label']!r}; allowed: {', '.join(labels)}") from None


def originals(rows: Sequence[dict], split: str) -> list[dict]:
    """Original (not rephrased) rows of a split in every language, in id order."""
    return sorted((r for r in rows if r["split"] == split and r["variant"] == ORIGINAL),
                  key=lambda r: r["id"])


def base_metrics(report: dict) -> dict:
    """base_metrics.json, the file DVC's views list: test accuracy in English, its mean
    over the task's other languages, and the majority-class baseline."""
    by_lang = report["test"]["accuracy_by_lang"]
    others = [accuracy for lang, accuracy in by_lang.items() if lang != "en"]
    return {"accuracy_en": by_lang.get("en"), "accuracy_other_languages": sum(others) / len(others) if others else None,
            "majority_baseline": report["majority_baseline"]}


def base_report(task: str, model: Classifier, tokenizer, rows: Sequence[dict],
                labels: Sequence[str], config: TrainConfig) -> dict:
    """reports/<task>/base.json: the base model's accuracy, per language, on val and test."""
    splits = {}
    for split in ("val", "test"):
        chosen = originals(rows, split)
        predicted = predict(model, tokenizer, [model_input(r) for r in chosen], config.batch_size * 2,
                            config.max_length, desc=f"evaluate {split}")
        gold = [r["label"] for r in chosen]
        names = [labels[i] for i in predicted]
        splits[split] = split_report(gold, names, [r["lang"] for r in chosen])
        if split == "test":
            english = [i for i, r in enumerate(chosen) if r["lang"] == "en"]
            splits[split]["per_class"] = per_class([gold[i] for i in english],
                                                   [names[i] for i in english], labels)
    train_labels = [r["label"] for r in rows if r["split"] == "train" and r["lang"] == "en"
                    and r["variant"] == ORIGINAL]
    test_labels = [r["label"] for r in originals(rows, "test") if r["lang"] == "en"]
    return {"task": task, "labels": list(labels),
            "majority_baseline": majority_baseline(train_labels, test_labels),
            "val": splits["val"], "test": splits["test"]}
