"""What one editing stream records: a row per edit made, the running curve, and at the
stream's end locality, retention and near locality (mpn.experiment.sequential fills it;
mpn.experiment.summary reads it; mpn.experiment.checkpoints saves it)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StreamLog:
    seed: int = 0
    edits: list[dict] = field(default_factory=list)     # one row per edit made
    curve: list[dict] = field(default_factory=list)     # locality and er every eval_every edits
    locality_after: list[int] = field(default_factory=list)   # per locality item, end of stream
    locality_base: list[int] = field(default_factory=list)
    agreement: list[int] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)       # a causal LM's: KL(base || after) of the next token, per item
    locality_langs: list[str] = field(default_factory=list)
    locality_groups: list[str] = field(default_factory=list)   # each item's fact (the bootstrap's unit)
    retained: list[int] = field(default_factory=list)   # per edit made, right at the end
    # per edit made, per language: its translation right just after the edit, and at the end
    translation_after_edit: list[dict] = field(default_factory=list)
    translation_at_end: list[dict] = field(default_factory=list)
    # near locality, end of stream: per made edit, per item sharing its entity or relation
    # (mpn.experiment.near): {group (the edit's), kind, lang, agreement with the base model}
    near: list[dict] = field(default_factory=list)
