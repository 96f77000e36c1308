"""Facts about countries read from the Unicode CLDR data that `babel` ships.

Only sovereign states, with names in every requested language taken from CLDR itself:
an item whose CLDR name is missing in any language is skipped, never filled in with
an English fallback. A few facts CLDR does not carry in babel (which territories are
not sovereign, which continent an island state or a state spanning two continents
belongs to) are small documented lists below.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import lru_cache

from babel import Locale, core
from babel.languages import get_official_languages
from babel.numbers import get_territory_currencies

# Dependent territories, and territories whose status is disputed: left out so that
# "X is in Y" can never be true in a political sense and false in a geographic one.
NOT_SOVEREIGN = frozenset(
    "AC AI AQ AS AW AX BL BM BQ BV CC CK CP CW CX DG EA EH FK FO GF GG GI GL GP GS GU HK "
    "HM IC IM IO JE KY MF MO MP MQ MS NC NF NU PF PM PN PR PS RE SH SJ SX TA TC TF TK TW "
    "UM VG VI WF XK YT ZZ".split())

# Currencies in legal tender on this date; a fixed date keeps the data deterministic.
CURRENCY_DATE = datetime.date(2024, 1, 1)

# CLDR codes of the continents used in claims.
AFRICA, ASIA, EUROPE, NORTH_AMERICA, SOUTH_AMERICA, OCEANIA = (
    "002", "142", "150", "003", "005", "009")
CONTINENTS = (AFRICA, ASIA, EUROPE, NORTH_AMERICA, SOUTH_AMERICA, OCEANIA)

# The continent comes from the time-zone ids of a territory (Europe/..., Africa/...);
# tz ids say "America" for both Americas, so South America is listed.
SOUTH_AMERICAN = frozenset("AR BO BR CL CO EC GY PE PY SR UY VE".split())
_TZ_CONTINENT = {"Europe": EUROPE, "Africa": AFRICA, "Asia": ASIA, "Australia": OCEANIA,
                 "Pacific": OCEANIA}
# States whose only zones are Atlantic/... or Indian/...: the continent they belong to.
ISLAND_CONTINENT = {"CV": AFRICA, "IS": EUROPE, "KM": AFRICA, "MG": AFRICA, "MU": AFRICA,
                    "MV": ASIA, "SC": AFRICA}
# States with zones on two continents whose main part is clearly on one of them.
MAIN_CONTINENT = {"ES": EUROPE, "PT": EUROPE, "US": NORTH_AMERICA, "CL": SOUTH_AMERICA,
                  "EC": SOUTH_AMERICA, "AU": OCEANIA}
# Left out of continent claims: transcontinental states, and Central America and the
# Caribbean, which many Spanish and Portuguese speakers do not count as North America.
CONTINENT_AMBIGUOUS = frozenset(
    "RU TR KZ AZ GE AM CY EG ID TT BZ CR SV GT HN NI PA AG BS BB CU DM DO GD HT JM KN LC VC"
    .split())

# Zones left out of city claims: groups of islands named in the plural; places whose
# sovereignty is disputed, where a "false" country could be argued to be right.
NOT_A_CITY = frozenset({"Atlantic/Canary", "Atlantic/Azores", "Pacific/Galapagos",
                        "Europe/Simferopol", "Asia/Famagusta", "Asia/Jerusalem", "Africa/Ceuta"})
# ... and zones that are not places, or whose names carry a US state ("Knox, Indiana"),
# which gives the country away.
_NO_CITY_PREFIXES = ("Antarctica/", "Arctic/", "Etc/", "America/Indiana/", "America/Kentucky/",
                     "America/North_Dakota/")

# Scripts in which CLDR gives a zone's city only when it differs from the tz id; for
# these, the tz-id name is CLDR's own value, for the others it is a missing name.
LATIN_SCRIPT_LANGUAGES = frozenset({"en", "de", "es", "fr", "pt", "sw"})


@dataclass(frozen=True)
class City:
    zone: str        # tz id, e.g. "Europe/Vienna"
    territory: str   # ISO code of the state it lies in


@lru_cache(maxsize=None)
def locale(lang: str) -> Locale:
    return Locale.parse(lang)


def _clean(name: str | None) -> str | None:
    # Some CLDR names carry soft hyphens (de: "Reyk\u00adja\u00advík") for line breaking.
    return name.replace("\u00ad", "") if name else name


def sovereign_states() -> list[str]:
    zones = core.get_global("territory_zones")
    return sorted(t for t in zones if len(t) == 2 and t not in NOT_SOVEREIGN)


def country_name(territory: str, lang: str) -> str | None:
    return _clean(locale(lang).territories.get(territory))


def currencies(territory: str) -> list[str]:
    """Currencies in legal tender in `territory` on CURRENCY_DATE, main one first."""
    return get_territory_currencies(territory, start_date=CURRENCY_DATE,
                                    end_date=CURRENCY_DATE, tender=True)


def currency_name(code: str, lang: str) -> str | None:
    return _clean(locale(lang).currencies.get(code))


def _base_language(code: str) -> str:
    # "zh_Hant" -> "zh", "sr_Latn" -> "sr": claims are about languages, not scripts.
    return code.split("_")[0]


def official_languages(territory: str) -> list[str]:
    """Languages with national official status (not regional, not only de facto)."""
    return list(dict.fromkeys(_base_language(c) for c in get_official_languages(territory)))


def any_status_languages(territory: str) -> set[str]:
    """Every language with any official status, regional or de facto included: a claim
    that one of these is *not* official would be arguable, so false claims avoid them."""
    codes = get_official_languages(territory, regional=True, de_facto=True)
    return {_base_language(c) for c in codes}


def language_name(code: str, lang: str) -> str | None:
    return _clean(locale(lang).languages.get(code))


def _zone_continents(territory: str) -> set[str]:
    found = set()
    for zone in core.get_global("territory_zones")[territory]:
        prefix = zone.split("/")[0]
        if prefix == "America":
            found.add(SOUTH_AMERICA if territory in SOUTH_AMERICAN else NORTH_AMERICA)
        elif prefix in _TZ_CONTINENT:
            found.add(_TZ_CONTINENT[prefix])
    if territory in ISLAND_CONTINENT:
        found.add(ISLAND_CONTINENT[territory])
    return found


def continent(territory: str) -> str | None:
    """The one continent `territory` lies on, or None where that is arguable."""
    if territory in CONTINENT_AMBIGUOUS:
        return None
    found = _zone_continents(territory)
    if territory in MAIN_CONTINENT:
        return MAIN_CONTINENT[territory]
    return next(iter(found)) if len(found) == 1 else None


def touching_continents(territory: str) -> set[str]:
    """Every continent some part of `territory` lies on (false claims avoid them all)."""
    return _zone_continents(territory) | {c for c in [continent(territory)] if c}


# States whose zone ids tell on which side of a continental border each city lies.
ZONE_DECIDES_CONTINENT = frozenset({"RU"})


def city_continent(city: City) -> str | None:
    """The continent of a city: its country's, where the zone id agrees (Honolulu's
    Pacific/... zone does not agree with the United States being North American)."""
    prefix = city.zone.split("/")[0]
    if prefix == "America":
        by_zone = SOUTH_AMERICA if city.territory in SOUTH_AMERICAN else NORTH_AMERICA
    else:
        by_zone = _TZ_CONTINENT.get(prefix)
    if city.territory in ZONE_DECIDES_CONTINENT:
        return by_zone
    country = continent(city.territory)
    if country is None or by_zone not in (None, country):
        return None
    if by_zone is None and city.territory not in ISLAND_CONTINENT:
        return None
    return country


def continent_name(code: str, lang: str) -> str | None:
    return _clean(locale(lang).territories.get(code))


def cities(territory: str) -> list[City]:
    zones = core.get_global("territory_zones")[territory]
    return [City(z, territory) for z in zones
            if not z.startswith(_NO_CITY_PREFIXES) and z not in NOT_A_CITY]


def city_name(city: City, lang: str) -> str | None:
    name = locale(lang).time_zones.get(city.zone, {}).get("city")
    if name is None and lang in LATIN_SCRIPT_LANGUAGES:
        name = city.zone.split("/")[-1].replace("_", " ")
    return _clean(name)
