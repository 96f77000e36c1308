"""One rule that picks a method's tuned variant, fixed before any study runs (issue 40).

For every side of a comparison (Transformer-Patcher's candidates, MPN's candidates) and
every task, the same rule, on one fold of the edit facts and one fold of the locality
items, each drawn by a seeded split:

1. eligible: a candidate whose locality agreement on the choosing fold's locality items
   is at most LOCALITY_SLACK below the default baseline's on those same items;
2. chosen: the eligible candidate with the largest mean paired held-out lift over the
   default baseline on the choosing fold's edit facts (ties: the earlier candidate);
3. reported: only on the other fold, facts and locality items both, which no choice saw.

A Run holds what the rule and the paired comparison read: per-edit rows, per-stream
curve points and per-item locality rows at each stream's end.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from mpn.core.schema import fact_of
from mpn.report.paired import per_edit

LOCALITY_SLACK = 0.01   # one point of locality agreement


@dataclass
class Run:
    """One variant's rows: edits (one per edit made), curve (stream points) and locality
    (seed, stream, group, agreement: one per locality item at each stream's end)."""
    edits: list[dict]
    curve: list[dict]
    locality: list[dict] = field(default_factory=list)
    near: list[dict] = field(default_factory=list)   # seed, stream, group (the edit's), kind, lang, agreement

    @classmethod
    def from_logs(cls, logs) -> Run:
        """From StreamLogs: each log is one (seed, stream)."""
        locality, near = [], []
        for lg in logs:
            stream = lg.curve[-1]["stream"] if lg.curve else None
            locality += [{"seed": lg.seed, "stream": stream, "group": g, "agreement": a}
                         for g, a in zip(lg.locality_groups, lg.agreement)]
            near += [{"seed": lg.seed, "stream": stream, **r} for r in lg.near]
        return cls([r for lg in logs for r in lg.edits], [c for lg in logs for c in lg.curve], locality, near)

    @classmethod
    def from_saved(cls, saved: dict) -> Run:
        """From a bench/transfer_study.py --runs file (older ones have no near rows)."""
        return cls(saved["edits"], saved["curve"], saved["locality"], saved.get("near", []))

    def only(self, facts: set[str], items: set[str] | None = None) -> Run:
        """The edits of `facts`; with `items` (facts of locality items), the stream ends'
        locality agreement on those items only (the curve is rebuilt from them)."""
        edits = _of(self.edits, facts)
        near = _of(self.near, facts)
        if items is None:
            return Run(edits, self.curve, self.locality, near)
        locality = _of(self.locality, items)
        by_stream = defaultdict(list)
        for r in locality:
            by_stream[(r["seed"], r["stream"])].append(r["agreement"])
        curve = [{"seed": seed, "stream": stream, "n_edits": 0, "agreement": float(np.mean(values))}
                 for (seed, stream), values in sorted(by_stream.items(), key=str)]
        return Run(edits, curve, locality, near)


def _of(rows: list[dict], facts: set[str]) -> list[dict]:
    """The rows whose group states one of `facts`."""
    return [r for r in rows if fact_of(r["group"]) in facts]


def agreement_by_key(rows: list[dict]) -> dict[tuple, float]:
    """(seed, stream, group) -> the mean agreement of its rows (a locality group's
    languages, or an edit's near items): the keys mpn.report.paired pairs on."""
    values = defaultdict(list)
    for r in rows:
        values[(r["seed"], r["stream"], r["group"])].append(r["agreement"])
    return {key: float(np.mean(v)) for key, v in values.items()}


def folds(groups, seed: int) -> tuple[set[str], set[str]]:
    """The facts of `groups` (edits' or locality items') in two halves, by a seeded draw."""
    shuffled = sorted({fact_of(g) for g in groups})
    random.Random(f"{seed}-folds").shuffle(shuffled)
    half = len(shuffled) // 2
    return set(shuffled[:half]), set(shuffled[half:])


def locality_agreement(run: Run, items: set[str]) -> float:
    """Mean agreement with the base model over the stream ends' rows of `items`."""
    values = [r["agreement"] for r in _of(run.locality, items)]
    return float(np.mean(values)) if values else float("nan")


def paired_lift(run: Run, baseline: Run, facts: set[str]) -> float | None:
    """Mean paired held-out lift over `baseline` on the edits of `facts` both made: per
    seed, the mean over shared edits, then the mean over seeds (as mpn.report.paired)."""
    ours = per_edit(_of(run.edits, facts), "clg_heldout_lift")
    theirs = per_edit(_of(baseline.edits, facts), "clg_heldout_lift")
    by_seed = defaultdict(list)
    for key in ours.keys() & theirs.keys():
        by_seed[key[0]].append(ours[key] - theirs[key])
    return float(np.mean([np.mean(v) for v in by_seed.values()])) if by_seed else None


def choose(runs: dict[str, Run], candidates: list[str], baseline: str, facts: set[str],
           items: set[str]) -> str | None:
    """The rule above, on the choosing fold (`facts`, `items`)."""
    floor = locality_agreement(runs[baseline], items) - LOCALITY_SLACK
    scores = {spec: paired_lift(runs[spec], runs[baseline], facts) for spec in candidates
              if locality_agreement(runs[spec], items) >= floor - 1e-12}
    scored = [spec for spec in candidates if scores.get(spec) is not None]
    return max(scored, key=lambda spec: scores[spec], default=None)
