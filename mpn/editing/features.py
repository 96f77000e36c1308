"""The frozen FFN inputs an edit stage reads, computed once per task (docs/design.md section 6).

Everything below the patched FFN is frozen and the classifier reads token 0, so the last
FFN's input there, `h`, depends on the text alone. `FeatureExtractor` computes it;
`FeatureStore` keeps it for every text the edit stages read (edits, their evaluation
texts, locality, memory, validation memory) plus the dropout views each edit trains on,
in one file per task (stage features@<task>). Every method and seed loads that file
instead of running the encoder again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mpn.model.anatomy import Anatomy, model_inputs
from mpn.model.classifier import tokenize
from mpn.model.patch import find_ffn_site
from mpn.core.errors import UserError
from mpn.core.io import atomic_path, read_json, write_json
from mpn.core.params import MAX_LENGTH
from mpn.core.schema import ENGLISH, Text, as_text


def eval_texts(e: dict) -> dict[str, list[Text]]:
    """An edit's evaluation texts by language: "en" the English rephrases; each other
    language its translation, then its translated rephrases."""
    texts = {ENGLISH: [as_text(t) for t in e["rephrases"]]} if e["rephrases"] else {}
    for lang, translation in e["translations"].items():
        texts[lang] = [as_text(translation)] + [as_text(t) for t in e["translated_rephrases"].get(lang, [])]
    return texts


def edit_texts(edits: list[dict]) -> list[Text]:
    """Each edit's input and evaluation texts, in edit order."""
    return [t for e in edits for t in [as_text(e["input"])] + [t for ts in eval_texts(e).values() for t in ts]]


def memory_texts(rows: list[dict], per_language: int = 0,
                 languages: Callable[[str], bool] = lambda lang: True) -> dict[str, list[Text]]:
    """By language: every English memory row, then up to `per_language` rows in each other
    language that `languages` admits (in the order the languages first appear)."""
    by_lang = {ENGLISH: [as_text(r["input"]) for r in rows if r["lang"] == ENGLISH]}
    for r in rows:
        lang = r["lang"]
        if lang != ENGLISH and languages(lang) and len(by_lang.setdefault(lang, [])) < per_language:
            by_lang[lang].append(as_text(r["input"]))
    return {lang: texts for lang, texts in by_lang.items() if texts or lang == ENGLISH}


def _length(text: Text) -> int:
    return sum(map(len, text)) if isinstance(text, tuple) else len(text)


class FeatureExtractor:
    """FFN inputs at the classifier's position (token 0) of the last layer, via a hook."""

    def __init__(self, model, tokenizer, max_length: int = MAX_LENGTH, batch_size: int = 64):
        self.model, self.tokenizer = model, tokenizer
        self.anatomy = Anatomy.of(model)
        self.max_length, self.batch_size = max_length, batch_size
        self.site = find_ffn_site(model)
        self.filled = 0  # texts encoded so far whose tokens fill max_length (longer ones are cut)

    def __call__(self, texts: list[Text], dropout: bool = False, progress: bool = False) -> torch.Tensor:
        """(n, hidden), rows in `texts` order. With dropout on, each row is an independent
        noisy view. Batches go by text length (less padding)."""
        order = sorted(range(len(texts)), key=lambda i: _length(texts[i]))
        captured = []
        hook = self.site.up.register_forward_hook(lambda mod, inp, out: captured.append(inp[0][:, 0].detach().cpu()))
        was_training = self.model.training
        self.model.train(dropout)
        try:
            with torch.no_grad():
                starts = range(0, len(texts), self.batch_size)
                for i in tqdm(starts, desc="ffn inputs", unit="batch", disable=not progress):
                    batch = [texts[j] for j in order[i:i + self.batch_size]]
                    enc = tokenize(self.tokenizer, batch, self.anatomy.input_prefix, self.max_length)
                    self.filled += int((enc["attention_mask"].sum(1) >= self.max_length).sum())
                    self.anatomy.encoder(**model_inputs(self.anatomy.encoder, enc.to(self.model.device)))
        finally:
            hook.remove()
            self.model.train(was_training)
        if not captured:
            return torch.empty(0, self.site.base_up.in_features)
        out = torch.empty(len(texts), captured[0].shape[1])
        out[torch.tensor(order)] = torch.cat(captured)
        return out


@dataclass
class FeatureStore:
    """Clean FFN inputs of `texts` and `n_views` dropout views of each of `view_texts`."""
    texts: list[Text]
    clean: torch.Tensor         # (texts, hidden)
    view_texts: list[Text]
    views: torch.Tensor         # (view_texts, n_views, hidden)

    TENSORS = "features.safetensors"
    INDEX = "texts.json"

    @property
    def n_views(self) -> int:
        return self.views.shape[1]

    @classmethod
    def compute(cls, extract: FeatureExtractor, texts: list[Text], view_texts: list[Text],
                n_views: int, seed: int, progress: bool = False) -> "FeatureStore":
        """Distinct texts in first-seen order; the views drawn after torch.manual_seed(seed)."""
        texts, view_texts = list(dict.fromkeys(texts)), list(dict.fromkeys(view_texts))
        clean = extract(texts, progress=progress)
        torch.manual_seed(seed)
        views = extract([t for t in view_texts for _ in range(n_views)], dropout=True, progress=progress)
        return cls(texts, clean, view_texts, views.reshape(len(view_texts), n_views, -1))

    def save(self, folder: Path) -> None:
        """Both files written atomically (temp file, then rename)."""
        folder = Path(folder)
        with atomic_path(folder / self.TENSORS) as tmp:
            save_file({"clean": self.clean.contiguous(), "views": self.views.contiguous()}, str(tmp))
        write_json(folder / self.INDEX, {"texts": self.texts, "view_texts": self.view_texts})

    @classmethod
    def load(cls, folder: Path) -> "FeatureStore":
        folder = Path(folder)
        index = read_json(folder / cls.INDEX)
        try:
            tensors = load_file(str(folder / cls.TENSORS))
        except (OSError, SafetensorError) as err:
            raise UserError(f"{folder / cls.TENSORS}: cannot read features ({err})") from None
        store = cls([as_text(t) for t in index["texts"]], tensors["clean"],
                    [as_text(t) for t in index["view_texts"]], tensors["views"])
        if store.clean.shape[0] != len(store.texts) or store.views.shape[0] != len(store.view_texts):
            raise UserError(f"{folder}: {cls.INDEX} and {cls.TENSORS} disagree on the number of texts; "
                            "rerun the features stage")
        return store

    def __eq__(self, other) -> bool:
        return (isinstance(other, FeatureStore) and self.texts == other.texts
                and self.view_texts == other.view_texts and torch.equal(self.clean, other.clean)
                and torch.equal(self.views, other.views))


def stage_texts(edits: list[dict], locality: list[dict], memory: list[dict], memory_val: list[dict],
                memory_per_language: int) -> list[Text]:
    """Every text an edit stage may read, for any method: edits, locality, and the memory
    sets in English plus `memory_per_language` rows per other language."""
    memories = [memory_texts(rows, memory_per_language) for rows in (memory, memory_val)]
    return (edit_texts(edits) + [as_text(r["input"]) for r in locality]
            + [t for by_lang in memories for texts in by_lang.values() for t in texts])
