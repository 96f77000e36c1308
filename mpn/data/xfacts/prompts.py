"""xfacts as completions (the LM form of xfacts): each fact's claim templates cut where
the object starts, so a causal LM completes them ("The currency of Japan is the" ->
" yen"). The edit target is the object the fact's false twin names (CounterFact-style:
" euro"), in every language with its own prompt and object.

A template yields a prompt when it names the subject first and the object after it,
with words between ("{subject}: la moneda oficial de este país se llama {value}."); what
follows the object is dropped (Japanese "…は{value}です。" -> "…は"). English keeps up to
three prompts (the first is the edit's, the others its paraphrases), each language its
distinct ones (two templates may cut to one prompt); a language whose
word order puts the object right after the subject (Hindi continents: "{subject} {value}
में स्थित है।") has none for that relation, and its facts go without it.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from mpn.data.xfacts import grammar
from mpn.data.xfacts.facts import KINDS, REFUTES, SUPPORTS, build_facts, name
from mpn.data.xfacts.templates import TEMPLATES, slot_forms

# Relations with English prompts that ask for the object (city's templates put the
# country first; language's only English prompt would be "In Japan,").
RELATIONS = ("currency", "continent", "city_continent")
SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Completion:
    prompt: str
    target: str   # with its leading space where the language writes one


@dataclass(frozen=True)
class LMFact:
    """One true fact and its counterfactual: per language, the prompts (template order)
    with the true object and with the new one (the false twin's)."""
    group: str       # the true fact's xfacts group: "xfacts-currency-JP-JPY"
    relation: str
    subject: str     # ISO code or tz id
    value: str       # the true object's code, and the new one's (facts.Fact.value)
    new_value: str
    true: dict[str, list[Completion]]
    new: dict[str, list[Completion]]
    unrelated: dict[str, list[Completion]] = field(default_factory=dict)  # locality completions that came with it (MzsRE's loc)


def prompt_templates(lang: str, relation: str) -> list[tuple[str, str]]:
    """(text before the object, the object's slot) of each usable template."""
    out = []
    for template in TEMPLATES[lang][relation]:
        slots = [(m.group(1), m.start()) for m in SLOT.finditer(template)]
        if len(slots) == 2 and slots[0][0] == "subject":
            before = template[:slots[1][1]]
            if before.replace("{subject}", "").strip(" :"):   # words between subject and object
                out.append((before, slots[1][0]))
    return out


def completions(lang: str, relation: str, subject: str, value: str) -> list[Completion]:
    """The prompts of (lang, relation) about `subject`, each with `value` as its object."""
    forms = slot_forms(lang, relation, subject, value)
    out = []
    for before, slot in prompt_templates(lang, relation):
        text = grammar.capitalize_sentence(before.format(**forms), lang)
        prompt = text.rstrip(" ")
        if prompt not in {c.prompt for c in out}:
            out.append(Completion(prompt, text[len(prompt):] + forms[slot]))
    return out


def build_lm_facts(relations: list[str], langs: list[str], seed: int) -> list[LMFact]:
    """One LMFact per (relation, subject) with an English prompt: its first true fact,
    with the new object of that fact's false twin, in each language of `langs` with a prompt."""
    facts = build_facts(relations, langs, seed)
    twin = {f.pair: f for f in facts if f.label == REFUTES}
    out, seen = [], set()
    for fact in facts:
        if fact.label != SUPPORTS or (fact.relation, fact.subject) in seen or fact.pair not in twin:
            continue
        seen.add((fact.relation, fact.subject))
        subject_kind, value_kind = KINDS[fact.relation]
        true, new = {}, {}
        for lang in langs:
            subject = name(subject_kind, fact.subject, lang)
            if prompt_templates(lang, fact.relation):
                true[lang] = completions(lang, fact.relation, subject, name(value_kind, fact.value, lang))
                new[lang] = completions(lang, fact.relation, subject, name(value_kind, twin[fact.pair].value, lang))
        if true.get("en"):
            out.append(LMFact(fact.group, fact.relation, fact.subject, fact.value, twin[fact.pair].value, true, new))
    return out


def split_facts(facts: list[LMFact], shares: dict[str, float]) -> dict[str, list[LMFact]]:
    """Disjoint parts by subject (every fact about a subject in one part), drawn once with
    a fixed key: {"edit": 0.6, "memory": 0.2, "locality": 0.2} -> those parts."""
    subjects = sorted({f.subject for f in facts})
    random.Random("xfacts-lm:split").shuffle(subjects)
    part_of, start = {}, 0
    for i, (part, share) in enumerate(shares.items()):
        end = len(subjects) if i == len(shares) - 1 else start + round(share * len(subjects))
        part_of |= {s: part for s in subjects[start:end]}
        start = end
    return {part: [f for f in facts if part_of[f.subject] == part] for part in shares}
