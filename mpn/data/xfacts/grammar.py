"""The little grammar the templates need, per language.

Templates avoid agreement wherever they can ("Japon : ce pays ..." instead of an article
that depends on the country's gender); what is left is here: English "the" before some
country names, French elision, and lower-casing CLDR names that are capitalized only
because CLDR lists them standalone.
"""
from __future__ import annotations

import re

# English country names read with "the" in running text.
_EN_THE_WORDS = {"United", "Republic", "Islands", "Kingdom", "States", "Emirates"}
_EN_THE_NAMES = {"Bahamas", "Netherlands", "Philippines", "Maldives", "Seychelles",
                 "Comoros", "Gambia"}

_FR_VOWELS = set("aeiouàâäéèêëîïôöùûüAEIOUÀÂÉÈÊÎÔÛÜ")
# Words with a mute h, which elide like vowels ("l'hindi"); others keep "le" ("le hongrois").
_FR_MUTE_H = ("hébreu", "hindi")

CASED_SCRIPTS = {"en", "de", "es", "fr", "pt", "ru", "sw"}


def english_country(name: str) -> str:
    if name in _EN_THE_NAMES or _EN_THE_WORDS & set(name.split()):
        return f"the {name}"
    return name


def _french_elides(word: str) -> bool:
    return word[:1] in _FR_VOWELS or word.lower().startswith(_FR_MUTE_H)


def french_le(name: str) -> str:
    """Definite article for a (masculine) language name: "le français", "l'anglais"."""
    return f"l'{name}" if _french_elides(name) else f"le {name}"


def french_de(name: str) -> str:
    """The preposition "de" before a bare name: "de yen", "d'euro", "d'Afrique"."""
    return f"d'{name}" if _french_elides(name) else f"de {name}"


def russian_unabbreviate(name: str) -> str:
    """CLDR's Russian names abbreviate islands ("Соломоновы о-ва", "о-в Сахалин")."""
    name = re.sub(r"\bо-ва\b", "Острова", name)
    return re.sub(r"\bо-в\b", "остров", name)


def lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def capitalize_sentence(text: str, lang: str) -> str:
    return text[:1].upper() + text[1:] if lang in CASED_SCRIPTS else text
