"""Texts and helpers several test files share: a tiny two-label task's edit, memory and
edit requests (the models they run on are conftest.py's fixtures)."""
from mpn.model.classifier import predict_logits

LABELS = ["SUPPORTS", "REFUTES"]
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
