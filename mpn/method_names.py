"""Method names, without loading any method: `X+mpn` is method X with the MPN
augmentation, and `mpn` is short for `patcher+mpn` (the reports read these too)."""
from __future__ import annotations

AUGMENTATION = "+mpn"
ALIASES = {"mpn": "patcher+mpn"}


def split(name: str) -> tuple[str, bool]:
    """(base method name, augmented?)"""
    full = ALIASES.get(name, name)
    return (full[:-len(AUGMENTATION)], True) if full.endswith(AUGMENTATION) else (full, False)


def base_name(name: str) -> str:
    return split(name)[0]
