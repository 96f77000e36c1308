"""xfacts-lm: the xfacts facts as completions for a causal LM (mpn.data.xfacts.prompts),
a task of kind "complete" for the pipeline.

A row is one prompt of one fact in one language: `prompt` ("The currency of Japan is
the"), `target` its true object (" yen") and `new_target` the counterfactual one the edit
asks for (" euro", the false twin's). Variant `original` is the language's first prompt
(English: the edit's; the others: the translation MPN may train on), `rephraseN` the
others. Splits go by subject, so no subject is in two: edit (the edits), train (the
memory), test (locality), val (the base model's second accuracy).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from mpn.core.schema import ORIGINAL, SPLITS, make_row, rephrase
from mpn.data.registry import Task, register
from mpn.data.settings import DataConfig, choice, languages, task_section
from mpn.data.splits import apply_splits
from mpn.data.task_data import TaskData
from mpn.data.xfacts.facts import relation_of
from mpn.data.xfacts.prompts import RELATIONS, Completion, LMFact, build_lm_facts
from mpn.data.xfacts.templates import DEFAULT_LANGUAGES, LANGUAGES

log = logging.getLogger(__name__)

NAME = "xfacts-lm"
SOURCES = ("synthetic",)
DEFAULTS: dict[str, Any] = {"source": "synthetic", "languages": list(DEFAULT_LANGUAGES)}
LABEL = "true"   # every row states its fact's true object; the edit asks for `new_target`


def fact_rows(fact: LMFact) -> list[dict]:
    """One row a prompt of `fact`, language after language."""
    return [make_row(id=f"{fact.group}/{lang}/{i}", group=fact.group, lang=lang,
                     variant=ORIGINAL if i == 0 else rephrase(i), label=LABEL,
                     texts={"prompt": true.prompt, "target": true.target, "new_target": new.target,
                            "subject": fact.subject})
            for lang in fact.true for i, (true, new) in enumerate(zip(fact.true[lang], fact.new[lang]))]


def facts_from_rows(rows: list[dict]) -> list[LMFact]:
    """The LMFacts back from their rows (any order), by group; each language's prompts in
    variant order (original first)."""
    by_group: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_group[row["group"]].append(row)
    out = []
    for group, members in sorted(by_group.items()):
        members.sort(key=lambda r: (r["lang"], r["variant"] != ORIGINAL, r["variant"]))
        true, new = defaultdict(list), defaultdict(list)
        for r in members:
            true[r["lang"]].append(Completion(r["prompt"], r["target"]))
            new[r["lang"]].append(Completion(r["prompt"], r["new_target"]))
        order = ["en"] + sorted(set(true) - {"en"})
        out.append(LMFact(group, relation_of(group), members[0]["subject"], true["en"][0].target,
                          new["en"][0].target, {k: true[k] for k in order if k in true},
                          {k: new[k] for k in order if k in new}))
    return out


class XfactsLMBuilder:
    def __init__(self, section: dict[str, Any], cfg: DataConfig):
        c = task_section(section, NAME, DEFAULTS)
        self.cfg = cfg
        self.source = choice(c["source"], SOURCES, f"data.{NAME}.source")
        self.languages = languages(c["languages"], LANGUAGES, f"data.{NAME}.languages")

    def __call__(self) -> TaskData:
        facts = build_lm_facts(list(RELATIONS), self.languages, self.cfg.seed)
        rows = [row for fact in facts for row in fact_rows(fact)]
        subject = {f.group: f.subject for f in facts}
        log.info("%s: %d facts, %d prompts in %d languages", NAME, len(facts), len(rows), len(self.languages))
        rows = apply_splits({"all": rows}, {"all": list(SPLITS)}, self.cfg.split_ratios, self.cfg.seed, NAME,
                            unit=lambda row: subject[row["group"]])
        return TaskData(task=NAME, source=self.source, labels=[LABEL], text_fields=["prompt"],
                        languages=self.languages, rows=rows)


register(Task(name=NAME, sources=SOURCES, prepare=XfactsLMBuilder, relation=relation_of, kind="complete"))
