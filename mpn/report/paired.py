"""Paired method comparison on the same edits, from the edit stage's per-edit logs.

Two methods' separate intervals overlap even when one wins on nearly every edit; the
honest comparison is the difference on the edits both made (same seed, stream and
group), with a bootstrap interval over those pairs. Generalization is compared on lifts
(post minus pre), so a method is not credited for what the model already got right.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

PAIRED_METRICS = ("es", "mg_lift", "clg_lift", "clg_heldout_lift")


@dataclass(frozen=True)
class PairedDifference:
    """method minus baseline, mean over shared edits, with a 95% bootstrap interval."""

    n_pairs: int
    mean: float | None
    low: float | None
    high: float | None


def edit_value(row: dict[str, Any], metric: str) -> float | None:
    """`metric` for one edit: a column, or for `<rate>_lift` the rate minus `<rate>_pre`."""
    if metric.endswith("_lift"):
        rate = metric[:-len("_lift")]
        post, pre = row[rate], row[f"{rate}_pre"]
        return None if post is None or pre is None else post - pre
    return row[metric]


def per_edit_means(rows: list[dict[str, Any]], metric: str) -> dict[tuple[str, str, str], float]:
    """(seed, stream, group) -> the metric for that edit; blanks (not measurable) dropped."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for row in rows:
        value = edit_value(row, metric)
        if value is not None:
            values[(row["seed"], row["stream"], row["group"])].append(value)
    return {key: float(np.mean(v)) for key, v in values.items()}


def paired_difference(rows: list[dict[str, Any]], baseline_rows: list[dict[str, Any]],
                      metric: str, n_bootstrap: int, seed: int) -> PairedDifference:
    ours, theirs = per_edit_means(rows, metric), per_edit_means(baseline_rows, metric)
    shared = sorted(ours.keys() & theirs.keys())
    if not shared:
        return PairedDifference(0, None, None, None)
    diffs = np.array([ours[key] - theirs[key] for key in shared])
    rng = np.random.default_rng(seed)
    resampled = diffs[rng.integers(0, len(diffs), size=(n_bootstrap, len(diffs)))].mean(axis=1)
    low, high = np.percentile(resampled, [2.5, 97.5])
    return PairedDifference(len(diffs), float(diffs.mean()), float(low), float(high))


def compare_to_baseline(rows: list[dict[str, Any]], baseline_rows: list[dict[str, Any]],
                        n_bootstrap: int, seed: int) -> dict[str, PairedDifference]:
    return {metric: paired_difference(rows, baseline_rows, metric, n_bootstrap, seed)
            for metric in PAIRED_METRICS}
