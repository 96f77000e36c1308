"""Paired method comparison on the same edits, from the edit stage's per-edit logs.

Two methods' separate intervals overlap even when one wins on nearly every edit; the
honest comparison is the difference on the edits both made (same seed, stream and
group). Its interval resamples whole facts (mpn.experiment.metrics: the seeds edit the same facts),
with the same draw for every seed. Generalization is compared on lifts (post minus pre),
so a method is not credited for what the model already got right, and only on texts
neither method trained on: the held-out languages, and the paraphrases in the others.
Locality agreement is compared per stream at its end (the same locality items in every
stream), resampling (seed, stream) pairs.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from mpn.experiment.metrics import rate
from mpn.core.schema import fact_of

PAIRED_METRICS = ("es", "mg_lift", "clg_heldout_lift", "clg_paraphrase_lift", "locality_agreement")


@dataclass(frozen=True)
class PairedDifference:
    """method minus baseline: mean over seeds of the mean over shared edits, with a 95%
    fact-level bootstrap interval and the between-seed sd."""

    n_pairs: int           # shared edit rows (or streams, for locality agreement)
    n_facts: int           # distinct facts among them
    mean: float | None
    low: float | None
    high: float | None
    sd: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def edit_value(row: dict[str, Any], metric: str) -> float | None:
    """`metric` for one edit: a column, or for `<rate>_lift` the rate minus `<rate>_pre`."""
    if metric.endswith("_lift"):
        rate_key = metric[:-len("_lift")]
        post, pre = row[rate_key], row[f"{rate_key}_pre"]
        return None if post is None or pre is None else post - pre
    return row[metric]


def per_edit(rows: list[dict[str, Any]], metric: str) -> dict[tuple[str, str, str], float]:
    """(seed, stream, group) -> the metric for that edit; blanks (not measurable) dropped."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in rows:
        value = edit_value(row, metric)
        if value is not None:
            values[(row["seed"], row["stream"], row["group"])].append(value)
    return {key: float(np.mean(v)) for key, v in values.items()}


def stream_ends(curve: list[dict[str, Any]], metric: str) -> dict[tuple[str, str, str], float]:
    """(seed, stream, stream) -> the metric at the stream's last curve point."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for row in curve:
        key = (row["seed"], row["stream"])
        if key not in last or row["n_edits"] > last[key]["n_edits"]:
            last[key] = row
    return {(seed, stream, f"stream{stream}"): row[metric] for (seed, stream), row in last.items()
            if row.get(metric) is not None}


def difference(ours: dict, theirs: dict, n_bootstrap: int, seed: int) -> PairedDifference:
    """Keys (seed, stream, fact); the universe is every fact either side measured."""
    shared = sorted(ours.keys() & theirs.keys())
    if not shared:
        return PairedDifference(0, 0, None, None, None, None)
    universe = sorted({key[2] for key in ours.keys() | theirs.keys()})
    result = rate([ours[k] - theirs[k] for k in shared], [k[0] for k in shared], [k[2] for k in shared],
                  n_bootstrap, seed, universe)
    return PairedDifference(len(shared), len({fact_of(k[2]) for k in shared}), result["mean"], result["low"],
                            result["high"], result["sd"])


def paired_difference(rows: list[dict[str, Any]], baseline_rows: list[dict[str, Any]],
                      metric: str, n_bootstrap: int, seed: int) -> PairedDifference:
    return difference(per_edit(rows, metric), per_edit(baseline_rows, metric), n_bootstrap, seed)


def compare_to_baseline(method, baseline, n_bootstrap: int, seed: int) -> dict[str, PairedDifference]:
    """`method` and `baseline`: anything with `.edits` and `.curve` rows (a MethodReport)."""
    out = {m: paired_difference(method.edits, baseline.edits, m, n_bootstrap, seed)
           for m in PAIRED_METRICS if m != "locality_agreement"}
    out["locality_agreement"] = difference(stream_ends(method.curve, "agreement"),
                                           stream_ends(baseline.curve, "agreement"), n_bootstrap, seed)
    return out


def hierarchical(values_by_model: Sequence[Sequence[float]], n_bootstrap: int, seed: int) -> dict | None:
    """Across base models (the confirmatory run): the mean over models of each model's mean
    over its facts (one value a fact), with a two-level 95% interval: each resample draws
    base models with replacement, then facts with replacement within each drawn model.
    sd: between the models' means."""
    groups = [np.asarray(v, dtype=float) for v in values_by_model if len(v)]
    if not groups:
        return None
    rng = np.random.default_rng(seed)
    samples = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        drawn = rng.integers(0, len(groups), len(groups))
        samples[b] = np.mean([groups[m][rng.integers(0, len(groups[m]), len(groups[m]))].mean() for m in drawn])
    means = [g.mean() for g in groups]
    low, high = np.percentile(samples, [2.5, 97.5])
    sd = float(np.std(means, ddof=1)) if len(means) > 1 else 0.0
    return {"mean": round(float(np.mean(means)), 4), "low": round(float(low), 4), "high": round(float(high), 4),
            "sd": round(sd, 4), "per_model": [round(float(m), 4) for m in means]}
