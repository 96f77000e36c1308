"""Near locality: items that share an edit's entity or relation, which a patch that
learned too broad a rule would change (random unrelated items rarely would).

For xfacts, an edit's fact (relation, subject, value) has near items of three kinds,
each fact another group of the task's data, never one the run edits:

- twin: the same subject and relation, the other value (the false twin of a true fact,
  or the reverse): the label differs, so a patch keyed on "subject + relation" flips it;
- entity: the same subject, another relation;
- relation: the same relation, another subject.

For a task whose groups name their fact (mpn.core.schema.fact_of; XNLI: a pair
under its premise; FEVER: a claim under its evidence page), one kind:

- sibling: another group of the same fact (XNLI: the same premise with another
  hypothesis, often another label; FEVER: another claim about the page), never one the
  run edits.

Each near group is taken in every language of the data (its original text), and
compared with the base model's prediction at the end of the stream.
"""
from __future__ import annotations

import random
from collections import defaultdict

from mpn.core.schema import ORIGINAL, fact_of, model_input, names_fact

KINDS = ("twin", "entity", "relation", "sibling")


def xfacts_key(group: str) -> tuple[str, str, str] | None:
    """'xfacts-currency-OM-XAF' -> ('currency', 'OM', 'XAF'); a subject may hold dashes
    (time zone ids), a value does not."""
    prefix, _, rest = group.partition("-")
    relation, _, rest = rest.partition("-")
    subject, _, value = rest.rpartition("-")
    return (relation, subject, value) if prefix == "xfacts" and subject and value else None


def near_groups(edited: list[str], groups: list[str], per_kind: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """edit group -> [(kind, near group)], of every kind above that its task has."""
    return {**xfacts_near(edited, groups, per_kind, seed), **siblings(edited, groups, per_kind, seed)}


def siblings(edited: list[str], groups: list[str], per_kind: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """edit group -> up to `per_kind` other groups of its fact (a seeded draw), none
    edited; only for groups that name their fact."""
    skip = set(edited)
    by_fact = defaultdict(list)
    for g in sorted(set(groups)):
        if names_fact(g) and g not in skip:
            by_fact[fact_of(g)].append(g)
    out = {}
    for group in sorted(skip):
        if names_fact(group):
            others = by_fact[fact_of(group)]
            rng = random.Random(f"{seed}-near-{group}")
            out[group] = [("sibling", g) for g in rng.sample(others, min(per_kind, len(others)))]
    return out


def xfacts_near(edited: list[str], groups: list[str], per_kind: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """edit group -> [(kind, near group)]: its twin, and up to `per_kind` groups of each
    other kind (a seeded draw), none of them an edited group."""
    keys = {g: k for g in sorted(set(groups)) if (k := xfacts_key(g))}
    skip = set(edited)
    by_subject, by_relation = defaultdict(list), defaultdict(list)
    for g, (relation, subject, _) in keys.items():
        if g not in skip:
            by_subject[subject].append(g)
            by_relation[relation].append(g)
    out = {}
    for group in sorted(set(edited)):
        if group not in keys:
            continue
        relation, subject, value = keys[group]
        rng = random.Random(f"{seed}-near-{group}")
        twins = [g for g in by_subject[subject] if keys[g][0] == relation and keys[g][2] != value]
        entity = [g for g in by_subject[subject] if keys[g][0] != relation]
        same_relation = [g for g in by_relation[relation] if keys[g][1] != subject]
        out[group] = ([("twin", g) for g in twins[:1]]
                      + [("entity", g) for g in rng.sample(entity, min(per_kind, len(entity)))]
                      + [("relation", g) for g in rng.sample(same_relation, min(per_kind, len(same_relation)))])
    return out


def near_rows(edited: list[str], rows: list[dict], per_kind: int = 2, seed: int = 0) -> dict[str, list[dict]]:
    """edit group -> its near rows ({input, lang, kind, group}), from the task's data rows:
    each near group's original in every language."""
    originals = defaultdict(list)
    for r in rows:
        if r["variant"] == ORIGINAL:
            originals[r["group"]].append({"input": model_input(r), "lang": r["lang"], "group": r["group"]})
    facts = near_groups(edited, list(originals), per_kind, seed)
    return {group: [{**row, "kind": kind} for kind, near in pairs for row in originals[near]]
            for group, pairs in facts.items()}
