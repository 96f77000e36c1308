"""Texts and helpers several test files share: a tiny two-label task's edit, memory and
edit requests (the models they run on are conftest.py's fixtures)."""
import json
from pathlib import Path

from mpn.model.classifier import predict_logits
from tiny import make_tiny_hf_classifier

TINY_CORPUS = [
    "the currency of japan is the yen",
    "the currency of france is the euro",
    "paris is a city in france",
    "tokyo is a city in japan",
    "die währung von japan ist der yen",
    "la moneda de francia es el euro",
    "a man is playing a guitar",
    "nobody is playing music",
]

LABELS = ["SUPPORTS", "REFUTES"]
THREE_LABELS = ["SUPPORTS", "REFUTES", "NOT ENOUGH INFO"]
MEMORY = ["paris is a city in france", "tokyo is a city in japan", "a man is playing a guitar",
          "the currency of france is the euro", "nobody is playing music"]
VAL_MEMORY = ["die währung von japan ist der yen", "la moneda de francia es el euro"]
EDIT = "the currency of japan is the euro"


def wrong_label(model, tokenizer, text):
    """The label the model does not predict for `text`: an edit target that changes it."""
    pred = predict_logits(model, tokenizer, [text]).argmax(-1).item()
    return LABELS[1 - pred]


def make_edits(editor):
    """Three edit requests (two streams) whose targets are what `editor`'s model gets wrong."""
    texts = ["the currency of japan is the euro", "tokyo is a city in france", "paris is a city in japan"]
    preds = editor.predict(texts)
    return [{"edit_id": str(i), "stream": i % 2, "group": f"g{i}", "input": t,
             "target": LABELS[1 - LABELS.index(p)], "base_pred": p, "rephrases": [t + " indeed"],
             "translations": {"de": "die währung von japan ist der euro", "es": "la moneda de japan es el euro"},
             "translated_rephrases": {}} for i, (t, p) in enumerate(zip(texts, preds))]


def other_label(model, tokenizer, text, labels: list[str] = THREE_LABELS) -> str:
    """The first of `labels` the model does not predict for `text`."""
    predicted = labels[predict_logits(model, tokenizer, [text]).argmax(-1).item()]
    return next(label for label in labels if label != predicted)


def classifier_dir(folder: Path, tokenizer, labels: list[str]):
    """A tiny XLM-R sequence classifier saved with its tokenizer to `folder`: (folder, model)."""
    model = make_tiny_hf_classifier("xlm-roberta", tokenizer, labels)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model


def write_jsonl(path: Path, rows) -> str:
    """Rows (dicts, or raw lines as strings) to a jsonl file; returns its path as a string."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows))
    return str(path)
