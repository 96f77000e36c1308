"""What the editing benchmarks share: the pipeline's model, edits and memory for a task."""
from __future__ import annotations

from pathlib import Path

from mpn.cli import load_params
from mpn.io import read_jsonl
from mpn.models import load_classifier
from mpn.sequential import as_text


def load_task(task: str):
    """(model, tokenizer, edits, memory, val_memory, locality, params) from a `dvc repro` run."""
    params = load_params()
    model, tokenizer = load_classifier(Path("models") / task)
    folder = Path("data") / "edits" / task
    edits = read_jsonl(folder / "edits.jsonl")
    memory = [as_text(r["input"]) for r in read_jsonl(folder / "memory.jsonl")]
    val_memory = [as_text(r["input"]) for r in read_jsonl(folder / "memory_val.jsonl")]
    locality = read_jsonl(folder / "locality.jsonl")
    return model, tokenizer, edits, memory, val_memory, locality, params
