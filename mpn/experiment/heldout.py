"""Which languages an edit may not train on, drawn by the run (`edit.heldout`: fixed
languages and a per-edit rotation), the same for every method; and a method's memory
texts without the run's fixed held-out languages."""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from mpn.editing.features import memory_texts
from mpn.editing.methods import MethodHParams
from mpn.core.params import HeldOutSettings
from mpn.core.schema import Text


def memory_inputs(rows: list[dict], hparams: MethodHParams,
                  heldout: frozenset[str] = frozenset()) -> dict[str, list[Text]]:
    """By language: the English memory, and up to `memory_per_language` items in each
    language the method remembers (MPN: those it samples), so its changes stay silent
    there too; none in the run's fixed `heldout` languages. An edit's other held-out
    languages are masked out per edit (mpn.editing.memory)."""
    return memory_texts(rows, hparams.memory_per_language,
                        lambda lang: hparams.remembers(lang) and lang not in heldout)


@dataclass(frozen=True)
class HeldOut:
    """Which of an edit's languages MPN may not train on: the `fixed` ones, plus
    (language rotation) a share `fraction` of the others, drawn per edit and seed."""
    fixed: frozenset[str] = frozenset()
    fraction: float = 0.0
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: HeldOutSettings, task: str | None = None, seed: int = 0) -> "HeldOut":
        """params.yaml's `edit.heldout` for `task` (its own fixed languages where it has them)."""
        return cls(frozenset(settings.fixed(task)), settings.fraction, seed)

    def draw(self, edit_id: str, languages) -> frozenset[str]:
        rest = sorted(set(languages) - self.fixed)
        n = math.floor(self.fraction * len(rest) + 0.5)
        drawn = random.Random(f"{self.seed}-heldout-{edit_id}").sample(rest, n)
        return (self.fixed & set(languages)) | frozenset(drawn)
