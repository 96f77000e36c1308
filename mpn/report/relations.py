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
    by_relation: dict[str, dict[str, list[dict]]] = {}  # relation -> method -> its edit rows
    for method, result in report.methods.items():
        for row in result.edits:
            if relation := relation_of(row["group"]):
                by_relation.setdefault(relation, {}).setdefault(method, []).append(row)
    out: Relations = {}
    for relation, methods in sorted(by_relation.items()):
        universe = sorted({r["group"] for rows in methods.values() for r in rows})  # one draw for every method
        for method, rows in methods.items():
            mine = [r for r in rows if r["clg_heldout"] is not None]
            if not mine:
                continue
            seeds, facts = [r["seed"] for r in mine], [r["group"] for r in mine]

            def over(values):
                return rate(values, seeds, facts, n_bootstrap, seed, universe)
            out.setdefault(relation, {})[method] = {
                "pre": over([r["clg_heldout_pre"] for r in mine]), "post": over([r["clg_heldout"] for r in mine]),
                "lift": over([r["clg_heldout"] - r["clg_heldout_pre"] for r in mine]), "n_facts": len(set(facts))}
    return out
