"""xfacts: the offline claims about countries generated from CLDR (babel)."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from mpn.data.build import download_tasks
from mpn.data.xfacts import cldr, grammar
from mpn.data.xfacts.facts import KINDS, RELATIONS, SUPPORTS, build_facts, name
from mpn.data.xfacts.templates import DEFAULT_LANGUAGES, TEMPLATES, render
from mpn.core.errors import UserError
from mpn.core.schema import SPLITS

LANGS = ["en", "de", "es", "fr", "pt", "ru", "zh", "ja", "ar", "hi", "sw"]
FIELDS = {"id", "group", "lang", "variant", "split", "label", "claim"}


def build(out: Path, seed: int = 0, **xfacts) -> Path:
    download_tasks(["xfacts"], {"seed": seed, "xfacts": xfacts}, out)
    return out / "xfacts"


def read_rows(task_dir: Path) -> list[dict]:
    return [json.loads(line) for split in SPLITS
            for line in (task_dir / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("xfacts_seed0"))


@pytest.fixture(scope="module")
def rows(built) -> list[dict]:
    return read_rows(built)


@pytest.fixture(scope="module")
def groups(rows) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for row in rows:
        out[row["group"]].append(row)
    return out


def test_same_seed_gives_identical_files_and_another_seed_differs(built, tmp_path):
    again = build(tmp_path / "again", seed=0)
    other = build(tmp_path / "other", seed=1)
    names = [f"{s}.jsonl" for s in SPLITS] + ["meta.json"]
    assert all((built / n).read_bytes() == (again / n).read_bytes() for n in names)
    assert any((built / n).read_bytes() != (other / n).read_bytes() for n in names)


def test_at_least_2000_facts_in_11_languages(built, groups):
    meta = json.loads((built / "meta.json").read_text())
    assert len(groups) >= 2000
    assert meta["languages"] == LANGS
    assert sum(meta["groups"].values()) == len(groups)


def test_rows_follow_the_contract(rows):
    assert all(set(r) == FIELDS for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["label"] for r in rows} == {"SUPPORTS", "REFUTES"}


def test_every_group_exists_in_every_language_with_its_templates(groups):
    for group, members in groups.items():
        variants = defaultdict(set)
        for r in members:
            variants[r["lang"]].add(r["variant"])
        assert set(variants) == set(LANGS), group
        assert variants["en"] == {"original", "rephrase1", "rephrase2"}, group
        assert all({"original", "rephrase1"} <= v for v in variants.values()), group
        assert len({r["label"] for r in members}) == 1, group


def test_no_group_is_in_two_splits_and_each_split_is_balanced(groups):
    split_of = {}
    for group, members in groups.items():
        splits = {r["split"] for r in members}
        assert len(splits) == 1, f"{group} leaks across {splits}"
        split_of[group] = splits.pop()
    labels = Counter((split_of[g], m[0]["label"]) for g, m in groups.items())
    for split in SPLITS:
        assert labels[(split, "SUPPORTS")] == labels[(split, "REFUTES")] > 0, split


def test_no_sentence_stands_for_two_facts(rows):
    owners = defaultdict(set)
    for r in rows:
        owners[(r["lang"], r["claim"])].add(r["group"])
    assert all(len(g) == 1 for g in owners.values())


def test_template_counts_per_language_and_relation():
    assert len(TEMPLATES) >= 11
    for lang, per_relation in TEMPLATES.items():
        assert set(per_relation) == set(RELATIONS), lang
        need = 3 if lang == "en" else 2
        assert all(len(t) >= need for t in per_relation.values()), lang


def test_false_twins_change_only_the_value_and_are_false():
    facts = build_facts(list(RELATIONS), LANGS, seed=0)
    true, false = facts[0::2], facts[1::2]
    assert len(true) == len(false)
    for t, f in zip(true, false):
        assert t.label == SUPPORTS and f.label == "REFUTES" and t.pair == f.pair
        assert (t.relation, t.subject) == (f.relation, f.subject) and t.value != f.value
        if t.relation == "currency":
            assert f.value not in cldr.currencies(t.subject)
        if t.relation == "continent":
            assert f.value not in cldr.touching_continents(t.subject)


def test_values_without_a_cldr_name_in_some_language_are_skipped():
    facts = build_facts(["language"], LANGS, seed=0)
    # Fiji Hindi is official in Fiji, but CLDR has no Spanish name for it; CLDR's Arabic
    # name for Gilbertese is wrong, so Gilbertese is skipped too.
    assert "hif" in cldr.official_languages("FJ") and name("language", "hif", "es") is None
    assert not [f for f in facts if f.value in ("hif", "gil")]
    assert all(name("language", f.value, lang) for f in facts for lang in LANGS)


def test_non_latin_scripts_never_fall_back_to_the_tz_id():
    city = cldr.City("Europe/Vienna", "AT")
    assert cldr.city_name(city, "de") == "Wien"
    assert cldr.city_name(cldr.City("Europe/Nowhere", "AT"), "ru") is None
    assert cldr.city_name(cldr.City("Europe/Nowhere", "AT"), "de") == "Nowhere"


@pytest.mark.parametrize("word, le, de", [("anglais", "l'anglais", "d'anglais"),
                                          ("hongrois", "le hongrois", "de hongrois"),
                                          ("hindi", "l'hindi", "d'hindi"),
                                          ("yen japonais", "le yen japonais", "de yen japonais")])
def test_french_elision(word, le, de):
    assert grammar.french_le(word) == le and grammar.french_de(word) == de


def test_english_article_and_russian_abbreviations():
    assert grammar.english_country("United States") == "the United States"
    assert grammar.english_country("Netherlands") == "the Netherlands"
    assert grammar.english_country("Japan") == "Japan"
    assert grammar.russian_unabbreviate("Соломоновы о-ва") == "Соломоновы Острова"
    assert grammar.russian_unabbreviate("о-в Сахалин") == "остров Сахалин"


def test_english_rows_read_well(groups):
    en = {r["claim"] for m in groups.values() for r in m if r["lang"] == "en"}
    assert "The currency of Japan is the Japanese Yen." in en
    assert "The United States uses the US Dollar as its official currency." in en
    assert "Vienna is located in Austria." in en


def test_max_facts_keeps_a_balanced_subset(tmp_path):
    subset = read_rows(build(tmp_path, max_facts=40, languages=["en", "ja"]))
    labels = Counter(r["label"] for r in subset if r["variant"] == "original" and r["lang"] == "en")
    assert labels == {"SUPPORTS": 20, "REFUTES": 20}


@pytest.mark.parametrize("xfacts, message", [
    ({"languages": ["en", "xx"]}, "unknown language 'xx'"),
    ({"languages": ["de", "fr"]}, "must include 'en'"),
    ({"relations": ["currency", "capital"]}, "unknown value 'capital'"),
    ({"source": "hub"}, "data.xfacts.source: unknown value 'hub'; allowed: synthetic"),
    ({"langauges": ["en"]}, "unknown key 'langauges'"),
])
def test_bad_params_are_one_line_errors_and_write_nothing(tmp_path, xfacts, message):
    with pytest.raises(UserError, match=message) as err:
        build(tmp_path, **xfacts)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "xfacts").exists()


CONFIRMATORY = ["ko", "pl", "tr", "it"]   # docs/benchmarks.md, "A fair fight": held-out test languages only


def test_the_confirmatory_languages_render_every_relation_and_stay_out_of_the_default_run():
    params = yaml.safe_load(Path(__file__).resolve().parents[1].joinpath("params.yaml").read_text())
    assert params["data"]["xfacts"]["languages"] == list(DEFAULT_LANGUAGES) == LANGS
    facts = build_facts(list(RELATIONS), LANGS + CONFIRMATORY, 0)
    by_relation = {f.relation: f for f in facts}
    assert set(by_relation) == set(RELATIONS)
    for lang in CONFIRMATORY:
        assert lang in TEMPLATES and lang not in DEFAULT_LANGUAGES
        for relation, fact in by_relation.items():
            subject_kind, value_kind = KINDS[relation]
            subject, value = name(subject_kind, fact.subject, lang), name(value_kind, fact.value, lang)
            sentences = render(lang, relation, subject, value)
            assert len(set(sentences)) >= 2, (lang, relation)
            assert all(subject in s and value in s for s in sentences), (lang, relation, sentences)
