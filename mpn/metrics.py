"""Rates and ratios over seeds, with bootstrap 95% intervals (docs/design.md section 7).

A rate is reported as {"mean", "low", "high", "sd"}: the mean over seeds of each seed's
mean, a percentile bootstrap interval that resamples items *within* each seed, and the
between-seed standard deviation (0 with one seed). `None` when nothing was measured
(e.g. mg on a task without rephrases).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np


def _by_group(columns: Sequence[Sequence], groups: Sequence | None) -> list[np.ndarray]:
    """Rows (one per item) whose entries are all measured, split by group (seed):
    one (items, len(columns)) array per group, in sorted group order."""
    n = len(columns[0])
    groups = groups if groups is not None else [0] * n
    rows: dict = defaultdict(list)
    for i in range(n):
        row = [c[i] for c in columns]
        if all(v is not None for v in row):
            rows[groups[i]].append(row)
    return [np.asarray(rows[g], dtype=float) for g in sorted(rows)]


def _resampled(arrays: list[np.ndarray], n_bootstrap: int, seed: int):
    """For each group, `n_bootstrap` resamples of its rows: (n_bootstrap, items, cols)."""
    rng = np.random.default_rng(seed)
    return [a[rng.integers(0, len(a), size=(n_bootstrap, len(a)))] for a in arrays]


def rate(values, groups=None, n_bootstrap: int = 1000, seed: int = 0) -> dict | None:
    """Mean of per-item scores (in [0, 1], or a lift in [-1, 1]); items grouped by seed."""
    arrays = _by_group([list(values)], groups)
    if not arrays:
        return None
    per_group = [a[:, 0].mean() for a in arrays]
    samples = np.mean([r[:, :, 0].mean(axis=1) for r in _resampled(arrays, n_bootstrap, seed)], axis=0)
    return _summary(np.mean(per_group), samples, per_group)


def ratio(after, before, groups=None, n_bootstrap: int = 1000, seed: int = 0) -> dict | None:
    """sum(after) / sum(before) over paired items (locality: accuracy after / base
    accuracy), per seed, then averaged; the pairs are resampled together."""
    arrays = [a for a in _by_group([list(after), list(before)], groups) if a[:, 1].sum() > 0]
    if not arrays:
        return None
    per_group = [a[:, 0].sum() / a[:, 1].sum() for a in arrays]
    with np.errstate(invalid="ignore", divide="ignore"):
        samples = np.mean([r[:, :, 0].sum(axis=1) / r[:, :, 1].sum(axis=1)
                           for r in _resampled(arrays, n_bootstrap, seed)], axis=0)
    return _summary(np.mean(per_group), samples, per_group)


def _summary(point: float, samples, per_group) -> dict:
    low, high = np.nanpercentile(samples, [2.5, 97.5])
    sd = float(np.std(per_group, ddof=1)) if len(per_group) > 1 else 0.0
    return {"mean": _round(point), "low": _round(low), "high": _round(high), "sd": _round(sd)}


def _round(x) -> float:
    return round(float(x), 4) + 0.0  # + 0.0: no "-0.0" in the files
