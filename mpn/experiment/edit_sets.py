"""The edit set: the base model's English mistakes, and the item sets the edit stage
measures against (locality) or trains against (memory, validation memory).

Every set is drawn by group, so no fact (with its translations and rephrasings) is in
two sets. All draws are deterministic from the seed: inputs are sorted first and each
set has its own random stream, so resizing one set does not reshuffle the others.
"""
from __future__ import annotations

import logging
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Sequence

from mpn.core.errors import UserError
from mpn.core.knobs import knob
from mpn.core.schema import ENGLISH, ORIGINAL, SPLITS, Text, model_input

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditSetConfig:
    """The `sample_edits` section of params.yaml."""
    SECTION: ClassVar[str] = "sample_edits"  # its key in params.yaml
    n_streams: int = knob(9, ge=1)         # independent edit sequences, each from the base model
    stream_length: int = knob(100, ge=1)   # edits per stream at most
    n_locality: int = knob(200, ge=1)      # held-out test groups (all their languages)
    n_memory: int = knob(1000, ge=1)       # training groups for the memory loss (every language's original)
    n_memory_val: int = knob(200, ge=1)    # validation groups for early stopping (every language's original)
    batch_size: int = knob(64, ge=1)       # inference batch when running the base model
    seed: int = knob(0, ge=0)


@dataclass
class EditSet:
    edits: list[dict]
    locality: list[dict]
    memory: list[dict]
    memory_val: list[dict]
    stats: dict


def variant_order(variant: str) -> tuple[int, int, str]:
    """original first, then rephrase1, rephrase2, ..., rephrase10 in numeric order."""
    match = re.search(r"(\d+)$", variant)
    return (variant != ORIGINAL, int(match.group(1)) if match else 0, variant)


def item_row(row: dict) -> dict:
    """A row of locality.jsonl / memory.jsonl / memory_val.jsonl."""
    return {"group": row["group"], "lang": row["lang"], "input": model_input(row), "label": row["label"]}


class GroupIndex:
    """The rows of one split, by group."""

    def __init__(self, rows: Iterable[dict]):
        self.by_group: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            self.by_group[row["group"]].append(row)
        for group_rows in self.by_group.values():
            group_rows.sort(key=lambda r: (r["lang"], variant_order(r["variant"]), r["id"]))

    def english_originals(self) -> list[dict]:
        """One English original per group, in group order."""
        out = []
        for group in sorted(self.by_group):
            rows = [r for r in self.by_group[group] if r["lang"] == ENGLISH and r["variant"] == ORIGINAL]
            if rows:
                out.append(rows[0])
        return out

    def originals(self, group: str) -> list[dict]:
        """The original row of the group in each language (the first one if repeated)."""
        seen, out = set(), []
        for row in self.by_group.get(group, []):
            if row["variant"] == ORIGINAL and row["lang"] not in seen:
                seen.add(row["lang"])
                out.append(row)
        return out

    def edit_record(self, english: dict, base_pred: str) -> dict:
        """An edits.jsonl row (without its stream) for a mistake on `english`."""
        rephrases, translations, translated_rephrases = [], {}, defaultdict(list)
        for row in self.by_group[english["group"]]:
            text = model_input(row)
            if row["lang"] == ENGLISH:
                if row["variant"] != ORIGINAL:
                    rephrases.append(text)
            elif row["variant"] == ORIGINAL:
                translations.setdefault(row["lang"], text)
            else:
                translated_rephrases[row["lang"]].append(text)
        return {"edit_id": english["id"], "group": english["group"], "input": model_input(english),
                "target": english["label"], "base_pred": base_pred, "rephrases": rephrases,
                "translations": translations, "translated_rephrases": dict(translated_rephrases)}


def sample_groups(candidates: Sequence[str], n: int, taken: set[str], rng: random.Random) -> list[str]:
    """Up to `n` groups not in `taken`, drawn without replacement; adds them to `taken`."""
    pool = sorted(set(candidates) - taken)
    picked = sorted(rng.sample(pool, min(n, len(pool))))
    taken.update(picked)
    return picked


def assign_streams(edits: list[dict], n_streams: int, stream_length: int, seed: int) -> list[dict]:
    """Shuffle the edits, keep at most n_streams * stream_length, split them into
    n_streams near-equal streams; returns them ordered by stream, then position."""
    shuffled = sorted(edits, key=lambda e: e["edit_id"])
    random.Random(f"{seed}-streams").shuffle(shuffled)
    kept = shuffled[:n_streams * stream_length]
    base, extra = divmod(len(kept), n_streams)
    out, start = [], 0
    for stream in range(n_streams):
        size = base + (stream < extra)
        out.extend({"edit_id": e["edit_id"], "stream": stream,
                    **{k: v for k, v in e.items() if k != "edit_id"}} for e in kept[start:start + size])
        start += size
    return out


def reshuffle_streams(edits: list[dict], seed: int) -> list[dict]:
    """The same edits in as many streams as they came in, drawn anew for `seed` (the
    edit stage's seeds; with sample_edits' own seed it gives back its assignment)."""
    n_streams = len({e["stream"] for e in edits})
    return assign_streams(edits, n_streams, len(edits), seed)


Predictor = Callable[[list[Text]], list[str]]  # texts -> predicted label names


def sample_edit_set(rows: Iterable[dict], predict: Predictor, config: EditSetConfig) -> EditSet:
    """Run the base model on the English edit split; its mistakes become edits.
    `rows`: all normalized rows of the task (every split and language)."""
    by_split: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_split[row["split"]].append(row)
    for split in sorted(SPLITS):
        if not by_split[split]:
            raise UserError(f"the {split!r} split has no rows; sample_edits needs edit, test, train and val")
    splits = {name: GroupIndex(split_rows) for name, split_rows in by_split.items()}

    english = splits["edit"].english_originals()
    predicted = predict([model_input(r) for r in english])
    mistakes = [splits["edit"].edit_record(r, p) for r, p in zip(english, predicted) if p != r["label"]]
    accuracy = 1 - len(mistakes) / len(english) if english else 0.0
    log.info("base model: %d mistakes on %d English edit-split items (accuracy %.4f)",
             len(mistakes), len(english), accuracy)
    edits = assign_streams(mistakes, config.n_streams, config.stream_length, config.seed)

    taken = {e["group"] for e in mistakes}
    test_groups = [r["group"] for r in splits["test"].english_originals()]
    locality_groups = sample_groups(test_groups, config.n_locality, taken,
                                    random.Random(f"{config.seed}-locality"))
    locality = [item_row(r) for g in locality_groups for r in splits["test"].originals(g)]
    memory = _memory_items(splits["train"], config.n_memory, taken, f"{config.seed}-memory")
    memory_val = _memory_items(splits["val"], config.n_memory_val, taken, f"{config.seed}-memory-val")
    stats = _stats(edits, config.n_streams, locality, memory, memory_val, accuracy)
    return EditSet(edits, locality, memory, memory_val, stats)


def _memory_items(index: GroupIndex, n: int, taken: set[str], seed: str) -> list[dict]:
    """`n` groups with an English original, each in every language it has: Transformer-
    Patcher trains against the English rows; MPN, whose patches fire across languages,
    also against the rows of the languages it samples."""
    candidates = [r["group"] for r in index.english_originals()]
    groups = sample_groups(candidates, n, taken, random.Random(seed))
    return [item_row(r) for g in groups for r in index.originals(g)]


def _stats(edits, n_streams, locality, memory, memory_val, accuracy) -> dict:
    per_stream = Counter(e["stream"] for e in edits)
    by_lang = Counter(r["lang"] for r in locality)
    found = {lang for e in edits for lang in e["translations"]} | set(by_lang) | {ENGLISH}
    languages = sorted(found, key=lambda lang: (lang != ENGLISH, lang))
    return {"n_edits": len(edits), "edits_per_stream": [per_stream[s] for s in range(n_streams)],
            "languages": languages,
            "n_locality_by_lang": {lang: by_lang[lang] for lang in languages if by_lang[lang]},
            "n_memory": sum(r["lang"] == ENGLISH for r in memory),
            "n_memory_val": sum(r["lang"] == ENGLISH for r in memory_val),
            "base_edit_split_accuracy_en": accuracy}
