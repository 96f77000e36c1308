"""Method names, without loading any method: `X+mpn` is method X with the MPN
augmentation, `mpn` is short for `patcher+mpn`, and a preset (`mpn-tuned`,
`patcher-tuned`) is a method with named settings (the reports read these too)."""
from __future__ import annotations

AUGMENTATION = "+mpn"
ALIASES = {"mpn": "patcher+mpn", "mpn-tuned": "patcher+mpn", "patcher-tuned": "patcher"}
# A named setting of a method: its hyperparameters over the method's own section. mpn-tuned:
# chosen on one fold of the facts, reported on the other (docs/benchmarks.md, "The activation
# loss's weight"): 8 translations a step, the value bounded, the activation loss weighted 25.
# patcher-tuned: the same settings where they are Transformer-Patcher's own knobs.
PRESETS = {"mpn-tuned": {"k_translations": 8, "value_norm_max": 5.0, "act_coef": 25.0},
           "patcher-tuned": {"value_norm_max": 5.0, "act_coef": 25.0}}
# The like-for-like baseline of a preset of X+mpn: X with every setting of the preset that
# is X's own knob (tests/test_methods.py checks that it is exactly that).
LIKE_FOR_LIKE = {"mpn-tuned": "patcher-tuned"}


def split(name: str) -> tuple[str, bool]:
    """(base method name, augmented?)"""
    full = ALIASES.get(name, name)
    return (full[:-len(AUGMENTATION)], True) if full.endswith(AUGMENTATION) else (full, False)


def base_name(name: str) -> str:
    return split(name)[0]


def like_for_like(name: str) -> str:
    """What an augmented method is compared with: X for X+mpn (and `mpn`), the preset with
    the same X settings for a preset; a plain method's base for a plain one."""
    return LIKE_FOR_LIKE.get(name, base_name(name))
