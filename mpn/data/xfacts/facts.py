"""True facts about countries and cities from CLDR, each paired with a false twin.

A fact says that a subject has a value: a country's currency, official language or
continent, a city's country, a city's continent. Its false twin changes the value to
another of the same kind, skipping any that would make the claim arguably true, and
only among values with CLDR names in every language. Every true fact has exactly one
false twin, so labels are balanced; twins share a `pair` key so a split keeps them
together.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator

from mpn.data.xfacts import cldr

SUPPORTS, REFUTES = "SUPPORTS", "REFUTES"

# CLDR's Arabic name for Gilbertese ("language of the people of Gibraltar") is wrong.
BAD_LANGUAGE_NAMES = frozenset({"gil"})
# Codes of one language under several names: a claim about one is a claim about all.
_SAME_LANGUAGE = {"nb": "no", "nn": "no"}

# relation -> (kind of subject, kind of value)
KINDS = {"currency": ("country", "currency"), "language": ("country", "language"),
         "continent": ("country", "continent"), "city": ("city", "country"),
         "city_continent": ("city", "continent")}


@dataclass(frozen=True)
class Fact:
    relation: str
    subject: str   # ISO country code or tz id of a city
    value: str     # currency, language, continent (CLDR code) or country (ISO code)
    label: str
    pair: str      # shared with its twin

    @property
    def group(self) -> str:
        key = f"{self.relation}-{self.subject}-{self.value}".replace("/", ".")
        return f"xfacts-{key}"


def relation_of(group: str) -> str | None:
    """The relation a group's fact states (Fact.group read back): "xfacts-currency-OM-XAF" -> "currency"."""
    prefix, relation, rest = (group.split("-", 2) + ["", ""])[:3]
    return relation if prefix == "xfacts" and relation and rest else None


def name(kind: str, code: str, lang: str) -> str | None:
    if kind == "country":
        return cldr.country_name(code, lang)
    if kind == "currency":
        return cldr.currency_name(code, lang)
    if kind == "language":
        return None if code in BAD_LANGUAGE_NAMES else cldr.language_name(code, lang)
    if kind == "continent":
        return cldr.continent_name(code, lang)
    return cldr.city_name(cldr.City(code, ""), lang)


def named(kind: str, code: str, langs: list[str]) -> bool:
    return all(name(kind, code, lang) for lang in langs)


def _pairs(relation: str, trues: list[tuple[str, str]], wrong: Callable[[str, str], list[str]],
           rng: random.Random) -> Iterator[Fact]:
    used: set[tuple[str, str]] = set()   # a false claim is made once, for one twin
    for subject, value in trues:
        candidates = [v for v in wrong(subject, value) if (subject, v) not in used]
        if candidates:
            pick = rng.choice(candidates)
            used.add((subject, pick))
            pair = f"{relation}-{subject}-{value}"
            yield Fact(relation, subject, value, SUPPORTS, pair)
            yield Fact(relation, subject, pick, REFUTES, pair)


@dataclass
class World:
    """The named states and cities every relation draws from."""
    langs: list[str]
    states: list[str]
    cities: list[cldr.City]

    @classmethod
    def build(cls, langs: list[str]) -> "World":
        states = [t for t in cldr.sovereign_states() if named("country", t, langs)]
        cities = [c for t in states for c in cldr.cities(t) if named("city", c.zone, langs)]
        cities = [c for c in cities if not _gives_country_away(c, langs)]
        return cls(langs, states, cities)


def _gives_country_away(city: cldr.City, langs: list[str]) -> bool:
    """A city named like its country ("Singapore", "St. Kitts") makes a trivial claim."""
    countries = _names("country", city.territory, langs)
    return any(c in k or k in c for c in _names("city", city.zone, langs) for k in countries)


def _names(kind: str, code: str, langs: list[str]) -> set[str]:
    return {name(kind, code, lang).casefold() for lang in langs}


def currency_facts(w: World, rng: random.Random) -> Iterator[Fact]:
    trues = [(t, cldr.currencies(t)[0]) for t in w.states if cldr.currencies(t)]
    trues = [(t, c) for t, c in trues if named("currency", c, w.langs)]
    pool = sorted({c for _, c in trues})
    return _pairs("currency", trues,
                  lambda t, _: [c for c in pool if c not in cldr.currencies(t)], rng)


def _language_family(code: str) -> str:
    return _SAME_LANGUAGE.get(code, code)


def language_facts(w: World, rng: random.Random) -> Iterator[Fact]:
    trues = [(t, code) for t in w.states for code in cldr.official_languages(t)
             if named("language", code, w.langs)]
    pool = sorted({code for _, code in trues})

    def wrong(territory: str, _: str) -> list[str]:
        taken = {_language_family(c) for c in cldr.any_status_languages(territory)}
        return [c for c in pool if _language_family(c) not in taken]
    return _pairs("language", trues, wrong, rng)


def _continent_pool(w: World) -> list[str]:
    return [c for c in cldr.CONTINENTS if named("continent", c, w.langs)]


def continent_facts(w: World, rng: random.Random) -> Iterator[Fact]:
    pool = _continent_pool(w)
    trues = [(t, cldr.continent(t)) for t in w.states if cldr.continent(t) in pool]
    return _pairs("continent", trues,
                  lambda t, _: [c for c in pool if c not in cldr.touching_continents(t)], rng)


def city_facts(w: World, rng: random.Random) -> Iterator[Fact]:
    # Names of each country and of its places: a false country must not have a place
    # of the same name, where the claim could be true.
    places: dict[str, set[str]] = {t: _names("country", t, w.langs) for t in w.states}
    for c in w.cities:
        places[c.territory] |= _names("city", c.zone, w.langs)
    territory_of = {c.zone: c.territory for c in w.cities}

    def wrong(zone: str, territory: str) -> list[str]:
        names = _names("city", zone, w.langs)
        return [t for t in w.states if t != territory and not names & places[t]]
    return _pairs("city", [(c.zone, territory_of[c.zone]) for c in w.cities], wrong, rng)


def city_continent_facts(w: World, rng: random.Random) -> Iterator[Fact]:
    pool = _continent_pool(w)
    territory_of = {c.zone: c.territory for c in w.cities}
    trues = [(c.zone, cldr.city_continent(c)) for c in w.cities if cldr.city_continent(c) in pool]
    return _pairs("city_continent", trues,
                  lambda z, _: [c for c in pool
                                if c not in cldr.touching_continents(territory_of[z])], rng)


GENERATORS = {"currency": currency_facts, "language": language_facts,
              "continent": continent_facts, "city": city_facts,
              "city_continent": city_continent_facts}
RELATIONS = tuple(GENERATORS)


def build_facts(relations: list[str], langs: list[str], seed: int) -> list[Fact]:
    """All facts of `relations`, each true one followed by its false twin."""
    world = World.build(langs)
    out: list[Fact] = []
    for relation in relations:
        out += GENERATORS[relation](world, random.Random(f"{seed}:xfacts:{relation}"))
    return out
