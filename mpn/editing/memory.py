"""A method's memory: FFN inputs of texts its patches must stay silent on, each row with
its language (docs/design.md section 7, "held out means never trained on").

The one rule every transfer figure rests on is enforced here: for each edit, no row in a
language held out for that edit enters any term of the edit's loss or stopping rule.
Methods read their memory (training memory, validation memory, rows remembered from past
edits) only through `Memory.without(request.heldout)`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import AbstractSet

import torch

from mpn.core.schema import ENGLISH, Text


@dataclass(frozen=True)
class Memory:
    features: torch.Tensor      # (rows, hidden)
    langs: tuple[str, ...]      # each row's language

    def __post_init__(self):
        if self.features.shape[0] != len(self.langs):
            raise ValueError(f"memory has {self.features.shape[0]} rows but {len(self.langs)} languages")

    @classmethod
    def empty(cls, hidden: int, device=None) -> "Memory":
        return cls(torch.empty(0, hidden, device=device), ())

    @classmethod
    def of(cls, features, texts: Sequence[Text] | Mapping[str, Sequence[Text]]) -> "Memory":
        """`texts` by language ({lang: [text, ...]}), or a plain list (English); `features`
        turns a list of texts into their (n, hidden) FFN inputs."""
        by_lang = texts if isinstance(texts, Mapping) else {ENGLISH: list(texts)}
        flat = [t for ts in by_lang.values() for t in ts]
        return cls(features(flat), tuple(lang for lang, ts in by_lang.items() for _ in ts))

    @classmethod
    def cat(cls, parts: Sequence["Memory"]) -> "Memory":
        return cls(torch.cat([p.features for p in parts]), tuple(lang for p in parts for lang in p.langs))

    def __len__(self) -> int:
        return len(self.langs)

    def without(self, heldout: AbstractSet[str]) -> torch.Tensor:
        """The rows in no language of `heldout`: (kept rows, hidden)."""
        keep = [lang not in heldout for lang in self.langs]
        if all(keep):
            return self.features
        return self.features[torch.tensor(keep, dtype=torch.bool, device=self.features.device)]

    # save and load: the languages travel as one space-separated UTF-8 string in a uint8 tensor
    def tensors(self, name: str) -> dict[str, torch.Tensor]:
        encoded = " ".join(self.langs).encode()
        return {name: self.features.contiguous(),
                f"{name}_langs": torch.tensor(list(encoded), dtype=torch.uint8)}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], name: str) -> "Memory":
        langs = bytes(tensors[f"{name}_langs"].tolist()).decode().split()
        return cls(tensors[name], tuple(langs))
