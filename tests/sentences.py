"""Multilingual test sentences, hand-written and generated from CLDR (babel): no downloads."""
from __future__ import annotations

import random

from babel import Locale

# (lang, sentence): at least 8 languages and scripts, zh ja ar hi ru sw among them.
HANDWRITTEN = [
    ("en", "The currency of Japan is the yen."),
    ("en", "Paris is the capital and largest city of France."),
    ("de", "Die Währung der Schweiz ist der Schweizer Franken."),
    ("de", "Berlin liegt an der Spree und ist die Hauptstadt Deutschlands."),
    ("es", "La moneda de México es el peso mexicano."),
    ("fr", "Le Sénégal se trouve en Afrique de l'Ouest."),
    ("pt", "A língua oficial do Brasil é o português."),
    ("ru", "Столица России — Москва."),
    ("ru", "Валюта Казахстана называется тенге."),
    ("zh", "日本的货币是日元。"),
    ("zh", "北京是中华人民共和国的首都。"),
    ("ja", "日本の通貨は円です。"),
    ("ja", "東京は日本の首都であり、最大の都市です。"),
    ("ar", "عاصمة مصر هي القاهرة."),
    ("ar", "العملة الرسمية في المغرب هي الدرهم."),
    ("hi", "भारत की राजधानी नई दिल्ली है।"),
    ("hi", "नेपाल की मुद्रा नेपाली रुपया है।"),
    ("sw", "Mji mkuu wa Kenya ni Nairobi."),
    ("sw", "Sarafu ya Tanzania ni shilingi ya Tanzania."),
    ("ko", "대한민국의 수도는 서울입니다."),
    ("th", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย"),
    ("el", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας."),
    ("he", "ירושלים היא עיר בישראל."),
    ("tr", "Türkiye'nin para birimi Türk lirasıdır."),
]

LOCALES = ["en", "de", "es", "fr", "pt", "ru", "zh", "ja", "ar", "hi", "sw", "ko", "th", "el", "he", "tr"]


def generated(n: int, seed: int = 0) -> list[str]:
    """`n` sentence-like strings: CLDR territory, language and currency names joined with
    each locale's own list pattern, across many scripts, plus mixed spacing and digits."""
    rng = random.Random(seed)
    pools = {}
    for code in LOCALES:
        loc = Locale.parse(code)
        names = list(loc.territories.values()) + list(loc.languages.values())[:300] \
            + list(loc.currencies.values())[:200]
        pools[code] = (loc, [x for x in names if x])
    out = []
    while len(out) < n:
        code = LOCALES[len(out) % len(LOCALES)]
        loc, names = pools[code]
        words = rng.sample(names, rng.randint(2, 7))
        sentence = (" " if rng.random() < 0.7 else ", ").join(words)
        if rng.random() < 0.3:
            sentence += f" {rng.randint(0, 10**6)}"
        if rng.random() < 0.1:
            sentence = sentence.replace(" ", "  ", 1)  # runs of spaces get collapsed
        out.append(sentence + rng.choice([".", "!", "?", "", "。"]))
    return out
