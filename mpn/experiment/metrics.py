"""Rates and ratios over seeds, with fact-level bootstrap 95% intervals (docs/design.md section 7).

A rate is reported as {"mean", "low", "high", "sd"}: the mean over seeds of each seed's
mean, a percentile interval from a cluster bootstrap, and the between-seed standard
deviation (0 with one seed). `None` when nothing was measured (e.g. mg on a task without
rephrases).

The seeds edit the same facts (a seed re-draws streams, rotation, sampling and init), so
a fact's rows are not independent. The bootstrap resamples whole facts: each resample
draws facts with replacement from a fixed `universe` (every row of a drawn fact counts,
as often as the fact was drawn), with the same draw for every seed, and, since the
universe and the seed are the same, for every method measured on that edit set. A key
that names its fact (mpn.core.schema.fact_of: XNLI's pair under its premise, FEVER's
claim under its page) is resampled with its fact.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Sequence

import numpy as np

from mpn.core.schema import fact_of


def fact_weights(universe: Sequence[Hashable], n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, facts): how often each fact of `universe` (sorted) is drawn in each resample."""
    n = len(universe)
    draws = np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))
    offsets = np.arange(n_bootstrap)[:, None] * n
    return np.bincount((draws + offsets).ravel(), minlength=n_bootstrap * n).reshape(n_bootstrap, n).astype(float)


def _sums(columns: Sequence[Sequence], seeds: Sequence | None, facts: Sequence | None,
          universe: Sequence | None) -> tuple[list, list[np.ndarray]]:
    """Rows whose entries are all measured: per seed (sorted), each column's sum per fact
    of the universe: one (facts, columns) array per seed."""
    n = len(columns[0])
    seeds = seeds if seeds is not None else [0] * n
    facts = [fact_of(f) for f in facts] if facts is not None else list(range(n))   # none given: each row its own
    universe = sorted({fact_of(f) for f in (universe if universe is not None else facts)})
    index = {fact: i for i, fact in enumerate(universe)}
    sums: dict = defaultdict(lambda: np.zeros((len(universe), len(columns))))
    for i in range(n):
        row = [c[i] for c in columns]
        if all(v is not None for v in row):
            if facts[i] not in index:
                raise ValueError(f"fact {facts[i]!r} is not in the bootstrap universe")
            sums[seeds[i]][index[facts[i]]] += [float(v) for v in row]
    return universe, [sums[s] for s in sorted(sums)]


def rate(values, seeds=None, facts=None, n_bootstrap: int = 1000, seed: int = 0,
         universe: Sequence | None = None) -> dict | None:
    """Mean of per-row scores (in [0, 1], or a lift in [-1, 1]), rows grouped by seed and
    resampled by fact (each row its own fact when `facts` is None)."""
    values = list(values)
    return ratio(values, [None if v is None else 1 for v in values], seeds, facts, n_bootstrap, seed, universe)


def ratio(after, before, seeds=None, facts=None, n_bootstrap: int = 1000, seed: int = 0,
          universe: Sequence | None = None) -> dict | None:
    """sum(after) / sum(before) over paired rows (a rate: before is 1 a row; locality:
    accuracy after / base accuracy), per seed, then averaged over seeds; resampled by
    fact, the pairs together."""
    universe, per_seed = _sums([list(after), list(before)], seeds, facts, universe)
    per_seed = [s for s in per_seed if s[:, 1].sum() > 0]
    if not per_seed:
        return None
    point = [s[:, 0].sum() / s[:, 1].sum() for s in per_seed]
    weights = fact_weights(universe, n_bootstrap, seed)                  # (n_bootstrap, facts)
    with np.errstate(invalid="ignore", divide="ignore"):
        samples = np.mean([(weights @ s[:, 0]) / (weights @ s[:, 1]) for s in per_seed], axis=0)
    return _summary(np.mean(point), samples, point)


def _summary(point: float, samples, per_seed) -> dict:
    low, high = np.nanpercentile(samples, [2.5, 97.5])
    sd = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
    return {"mean": _round(point), "low": _round(low), "high": _round(high), "sd": _round(sd)}


def _round(x) -> float:
    return round(float(x), 4) + 0.0  # + 0.0: no "-0.0" in the files
