"""Deterministic, group-wise train/val/edit/test splits.

Rows are split by *unit* (by default the fact: an item with all its translations and
rephrasings, and on XNLI every hypothesis of its premise, on FEVER every claim about its
page), so no fact can appear in two splits. Upstream files ("parts") each feed one or
more splits: a part feeding several splits is divided in proportion to the split ratios
of just those splits.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Iterable, Sequence

from mpn.core.errors import UserError
from mpn.core.schema import SPLITS, fact_of


def split_sizes(n: int, weights: Sequence[float]) -> list[int]:
    """Integer sizes summing to n, proportional to weights (largest remainder, ties to
    the earlier split)."""
    total = sum(weights)
    exact = [n * w / total for w in weights]
    sizes = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_remainder[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


def assign_units(units: Iterable[str], splits: Sequence[str], ratios: dict[str, float],
                 seed_key: str) -> dict[str, str]:
    """Map each distinct unit to one split; the same units and seed_key give the same
    assignment, whatever order the units come in."""
    ordered = sorted(set(units))
    random.Random(seed_key).shuffle(ordered)
    sizes = split_sizes(len(ordered), [ratios[s] for s in splits])
    out: dict[str, str] = {}
    start = 0
    for split, size in zip(splits, sizes):
        out.update((u, split) for u in ordered[start:start + size])
        start += size
    return out


def parse_parts(raw: Any, allowed_parts: Sequence[str], where: str) -> dict[str, list[str]]:
    """Validate a {part: [splits]} mapping: known parts, every split fed exactly once."""
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"{where}: {raw!r} must map upstream parts to lists of splits")
    seen: list[str] = []
    for part, splits in raw.items():
        if part not in allowed_parts:
            raise UserError(f"{where}: unknown part {part!r}; allowed: {', '.join(allowed_parts)}")
        if not isinstance(splits, list) or not splits:
            raise UserError(f"{where}.{part}: {splits!r} must be a non-empty list of splits")
        for split in splits:
            if split not in SPLITS:
                raise UserError(f"{where}.{part}: unknown split {split!r}; allowed: "
                                f"{', '.join(SPLITS)}")
        seen += splits
    if sorted(seen) != sorted(SPLITS):
        raise UserError(f"{where}: every split ({', '.join(SPLITS)}) must be fed by exactly "
                        f"one part, got {raw!r}")
    return {part: list(splits) for part, splits in raw.items()}


def apply_splits(rows_by_part: dict[str, list[dict]], parts: dict[str, list[str]],
                 ratios: dict[str, float], seed: int, task: str,
                 unit: Callable[[dict], str] = lambda row: fact_of(row["group"])) -> list[dict]:
    """Set row["split"] on every row and return all rows, part after part."""
    out: list[dict] = []
    for part, splits in parts.items():
        rows = rows_by_part[part]
        where = assign_units((unit(r) for r in rows), splits, ratios, f"{seed}:{task}:{part}")
        for row in rows:
            row["split"] = where[unit(row)]
        out += rows
    return out
