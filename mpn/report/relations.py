"""Held-out lift per relation (xfacts: currency, language, continent, city,
city_continent): does a method's transfer hold for every kind of fact, or come from one?
A task whose groups name no relation (mpn.data registry: `Task.relation`) gets no table."""
from __future__ import annotations

from typing import Callable

from mpn.experiment.metrics import rate
from mpn.report.inputs import TaskReport

Relations = dict[str, dict[str, dict]]  # relation -> method -> {"pre", "post", "lift", "n_facts"}


def relation_lifts(report: TaskReport, relation_of: Callable[[str], str | None] | None,
                   n_bootstrap: int, seed: int) -> Relations:
    """Held-out CLG pre, post and lift per relation and method, on the edit rows with a
    held-out text, intervals resampling that relation's facts (the same draw for every method)."""
    if relation_of is None:
        return {}
    universes: dict[str, set] = {}  # per relation, every fact any method edited: one draw for all
    for result in report.methods.values():
        for row in result.edits:
            if relation := relation_of(row["group"]):
                universes.setdefault(relation, set()).add(row["group"])
    out: Relations = {}
    for method, result in report.methods.items():
        rows = [r for r in result.edits if r["clg_heldout"] is not None and relation_of(r["group"])]
        for relation in sorted({relation_of(r["group"]) for r in rows}):
            mine = [r for r in rows if relation_of(r["group"]) == relation]
            seeds, facts = [r["seed"] for r in mine], [r["group"] for r in mine]
            universe = sorted(universes[relation])

            def over(values):
                return rate(values, seeds, facts, n_bootstrap, seed, universe)
            out.setdefault(relation, {})[method] = {
                "pre": over([r["clg_heldout_pre"] for r in mine]), "post": over([r["clg_heldout"] for r in mine]),
                "lift": over([r["clg_heldout"] - r["clg_heldout_pre"] for r in mine]), "n_facts": len(set(facts))}
    return out
