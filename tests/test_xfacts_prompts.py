"""xfacts as completions (mpn.data.xfacts.prompts): each prompt plus its object starts the
fact's own claim, the new object is the false twin's, and the parts share no subject."""
from mpn.data.xfacts.facts import KINDS, REFUTES, build_facts, name
from mpn.data.xfacts.prompts import RELATIONS, build_lm_facts, split_facts
from mpn.data.xfacts.templates import DEFAULT_LANGUAGES, render

LANGS = list(DEFAULT_LANGUAGES)


def test_each_prompt_and_its_object_begin_a_claim_of_the_fact_and_the_new_object_is_the_false_twins():
    facts = build_lm_facts(list(RELATIONS), LANGS, 0)
    false_values = {(f.relation, f.subject, f.value) for f in build_facts(list(RELATIONS), LANGS, 0)
                    if f.label == REFUTES}
    assert len(facts) > 500 and {f.relation for f in facts} == set(RELATIONS)
    for fact in facts[::25]:
        subject_kind, value_kind = KINDS[fact.relation]
        assert (fact.relation, fact.subject, fact.new_value) in false_values
        for lang, prompts in fact.true.items():
            claims = render(lang, fact.relation, name(subject_kind, fact.subject, lang),
                            name(value_kind, fact.value, lang))
            false_claims = render(lang, fact.relation, name(subject_kind, fact.subject, lang),
                                  name(value_kind, fact.new_value, lang))
            for true, new in zip(prompts, fact.new[lang]):
                assert true.prompt == new.prompt and true.target != new.target
                assert any(c.startswith(true.prompt + true.target) for c in claims)
                assert any(c.startswith(new.prompt + new.target) for c in false_claims)
        assert len(fact.true["en"]) >= 2   # the edit's prompt and a paraphrase


def test_a_language_without_a_prompt_for_a_relation_is_left_out_not_mangled():
    facts = build_lm_facts(["continent"], LANGS, 0)
    assert facts and all("hi" not in f.true for f in facts)   # "{subject} {value} में स्थित है।": no words between
    assert all(set(f.true) == set(LANGS) - {"hi"} for f in facts)
    japanese = facts[0].true["ja"]
    assert len({c.prompt for c in japanese}) == len(japanese)   # two templates cut to one prompt: kept once


def test_the_parts_share_no_subject():
    parts = split_facts(build_lm_facts(list(RELATIONS), LANGS, 0), {"edit": 0.6, "memory": 0.2, "locality": 0.2})
    subjects = {part: {f.subject for f in facts} for part, facts in parts.items()}
    assert all(subjects.values())
    assert not (subjects["edit"] & subjects["memory"] or subjects["edit"] & subjects["locality"]
                or subjects["memory"] & subjects["locality"])
