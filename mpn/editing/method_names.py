"""Method names, without loading any method: `X+mpn` is method X with the MPN
augmentation, `mpn` is short for `patcher+mpn`, and `mpn-tuned` is `patcher+mpn` with
the transfer study's settings (the reports read these too)."""
from __future__ import annotations

AUGMENTATION = "+mpn"
ALIASES = {"mpn": "patcher+mpn", "mpn-tuned": "patcher+mpn"}
# A named setting of a method: its hyperparameters over the method's own section. mpn-tuned:
# chosen on one fold of the facts, reported on the other (docs/benchmarks.md, "The activation
# loss's weight"): 8 translations a step, the value bounded, the activation loss weighted 25.
PRESETS = {"mpn-tuned": {"k_translations": 8, "value_norm_max": 5.0, "act_coef": 25.0}}


def split(name: str) -> tuple[str, bool]:
    """(base method name, augmented?)"""
    full = ALIASES.get(name, name)
    return (full[:-len(AUGMENTATION)], True) if full.endswith(AUGMENTATION) else (full, False)


def base_name(name: str) -> str:
    return split(name)[0]
