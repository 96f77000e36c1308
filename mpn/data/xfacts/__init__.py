"""xfacts: true and false claims about countries, generated offline from CLDR.

Every fact (a group) exists in every language: English with three templates
("original", "rephrase1", "rephrase2"), the other languages with two or more. Splits
keep a true fact and its false twin together, so each split is exactly balanced.
"""
from __future__ import annotations

import logging
import random
from collections import defaultdict
from typing import Any

from mpn.data.registry import Task, register
from mpn.data.settings import DataConfig, choice, languages, task_section
from mpn.data.splits import apply_splits
from mpn.data.task_data import TaskData
from mpn.data.xfacts.facts import KINDS, REFUTES, RELATIONS, SUPPORTS, Fact, build_facts, name, relation_of
from mpn.data.xfacts.templates import DEFAULT_LANGUAGES, LANGUAGES, render
from mpn.core.errors import UserError
from mpn.core.schema import ORIGINAL, SPLITS, make_row, rephrase

log = logging.getLogger(__name__)

NAME = "xfacts"
SOURCES = ("synthetic",)
PART = "all"
DEFAULTS: dict[str, Any] = {"source": "synthetic", "languages": list(DEFAULT_LANGUAGES),
                            "relations": list(RELATIONS), "max_facts": None}


def fact_rows(fact: Fact, langs: list[str]) -> list[dict]:
    subject_kind, value_kind = KINDS[fact.relation]
    rows = []
    for lang in langs:
        sentences = render(lang, fact.relation, name(subject_kind, fact.subject, lang),
                           name(value_kind, fact.value, lang))
        for i, text in enumerate(sentences):
            variant = ORIGINAL if i == 0 else rephrase(i)
            row_id = f"{fact.group}/{variant}" + ("" if lang == "en" else f"/{lang}")
            rows.append(make_row(id=row_id, group=fact.group, lang=lang, variant=variant,
                                 label=fact.label, texts={"claim": text}))
    return rows


def drop_colliding(rows_by_pair: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Drop pairs with a sentence that another group also produces (two places or
    currencies sharing a name in some language): one text must not carry two facts."""
    groups_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    pair_of: dict[str, str] = {}
    for pair, rows in rows_by_pair.items():
        for row in rows:
            groups_of[(row["lang"], row["claim"])].add(row["group"])
            pair_of[row["group"]] = pair
    bad = {pair_of[g] for groups in groups_of.values() if len(groups) > 1 for g in groups}
    if bad:
        log.info("xfacts: dropped %d fact pairs whose sentences collide in some language", len(bad))
    return {p: rows for p, rows in rows_by_pair.items() if p not in bad}


class XfactsBuilder:
    def __init__(self, section: dict[str, Any], cfg: DataConfig):
        c = task_section(section, NAME, DEFAULTS)
        self.cfg = cfg
        self.source = choice(c["source"], SOURCES, "data.xfacts.source")
        self.languages = languages(c["languages"], LANGUAGES, "data.xfacts.languages")
        self.relations = self._relations(c["relations"])
        self.max_facts = c["max_facts"]
        if self.max_facts is not None and (not isinstance(self.max_facts, int)
                                           or isinstance(self.max_facts, bool)
                                           or self.max_facts < 8):
            raise UserError(f"data.xfacts.max_facts: {self.max_facts!r} must be null or an "
                            "integer >= 8")

    @staticmethod
    def _relations(value: Any) -> list[str]:
        if not isinstance(value, list) or not value or len(set(value)) != len(value):
            raise UserError(f"data.xfacts.relations: {value!r} must be a non-empty list "
                            f"of distinct relations from {', '.join(RELATIONS)}")
        for rel in value:
            choice(rel, RELATIONS, "data.xfacts.relations")
        return list(value)

    def _sample(self, pairs: list[str]) -> list[str]:
        if self.max_facts is None or 2 * len(pairs) <= self.max_facts:
            return pairs
        picked = list(pairs)
        random.Random(f"{self.cfg.seed}:xfacts:sample").shuffle(picked)
        return sorted(picked[: self.max_facts // 2])

    def __call__(self) -> TaskData:
        facts = build_facts(self.relations, self.languages, self.cfg.seed)
        rows_by_pair: dict[str, list[dict]] = defaultdict(list)
        for fact in facts:
            rows_by_pair[fact.pair] += fact_rows(fact, self.languages)
        rows_by_pair = drop_colliding(rows_by_pair)
        pairs = self._sample(sorted(rows_by_pair))
        pair_of = {row["group"]: p for p in pairs for row in rows_by_pair[p]}
        rows = [row for p in pairs for row in rows_by_pair[p]]
        log.info("xfacts: %d facts (%d pairs) in %d languages", 2 * len(pairs), len(pairs),
                 len(self.languages))
        rows = apply_splits({PART: rows}, {PART: list(SPLITS)},
                            self.cfg.split_ratios, self.cfg.seed, NAME,
                            unit=lambda row: pair_of[row["group"]])
        return TaskData(task=NAME, source=self.source, labels=[SUPPORTS, REFUTES],
                        text_fields=["claim"], languages=self.languages, rows=rows)


register(Task(name=NAME, sources=SOURCES, prepare=XfactsBuilder, relation=relation_of))
