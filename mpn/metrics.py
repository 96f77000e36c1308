"""Rates with bootstrap 95% intervals (DESIGN.md section 7).

A rate is reported as {"mean", "low", "high"}; `None` when nothing was measured
(e.g. mg on a task without rephrases).
"""
from __future__ import annotations

import numpy as np
from sklearn.utils import resample


def rate(values, n_bootstrap: int = 1000, seed: int = 0) -> dict | None:
    """Mean of per-item scores in [0, 1] with a percentile bootstrap 95% interval."""
    values = np.asarray([v for v in values if v is not None], dtype=float)
    if values.size == 0:
        return None
    rng = np.random.RandomState(seed)
    means = [resample(values, random_state=rng).mean() for _ in range(n_bootstrap)]
    return _summary(values.mean(), means)


def ratio(after, before, n_bootstrap: int = 1000, seed: int = 0) -> dict | None:
    """sum(after) / sum(before) over paired items (locality: accuracy after / base accuracy),
    with the pairs resampled together."""
    after, before = np.asarray(after, dtype=float), np.asarray(before, dtype=float)
    if after.size == 0 or before.sum() == 0:
        return None
    rng = np.random.RandomState(seed)
    ratios = []
    for _ in range(n_bootstrap):
        a, b = resample(after, before, random_state=rng)
        ratios.append(a.sum() / b.sum() if b.sum() else np.nan)
    return _summary(after.sum() / before.sum(), ratios)


def _summary(point: float, samples) -> dict:
    low, high = np.nanpercentile(samples, [2.5, 97.5])
    return {"mean": round(float(point), 4), "low": round(float(low), 4), "high": round(float(high), 4)}
