"""Claim templates: per language and relation, template 0 first (the "original"
variant), the others are rephrasings. Slots: {subject} and {value} (see facts.KINDS),
plus the prepared French forms {le_value} and {de_value}.

Many templates name a country before a colon and then speak of "this country", so that
no article, case or gender has to agree with the country's name.
"""
from __future__ import annotations

from mpn.data.xfacts import grammar
from mpn.data.xfacts.facts import KINDS

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "currency": ("The currency of {subject} is the {value}.",
                     "{subject} uses the {value} as its official currency.",
                     "The official currency in {subject} is the {value}."),
        "language": ("{value} is an official language of {subject}.",
                     "In {subject}, {value} has the status of an official language.",
                     "{value} is recognized as an official language in {subject}."),
        "continent": ("{subject} is a country in {value}.",
                      "{subject} is located in {value}.",
                      "{subject} lies on the continent of {value}."),
        "city": ("{subject} is located in {value}.",
                 "{subject} is a place in {value}.",
                 "{subject} lies within the territory of {value}."),
        "city_continent": ("{subject} lies on the continent of {value}.",
                           "{subject} is a place in {value}.",
                           "{subject} is situated in {value}."),
    },
    "de": {
        "currency": ("{subject}: Die Landeswährung heißt {value}.",
                     "{subject}: Die offizielle Währung dieses Landes heißt {value}."),
        "language": ("{subject}: {value} ist eine Amtssprache dieses Landes.",
                     "{subject}: {value} hat in diesem Land den Status einer Amtssprache."),
        "continent": ("{subject}: Dieses Land liegt in {value}.",
                      "{subject}: Das Land gehört zum Kontinent {value}."),
        "city": ("{value}: {subject} liegt in diesem Land.",
                 "{value}: Der Ort {subject} befindet sich in diesem Land."),
        "city_continent": ("{subject} liegt in {value}.",
                           "Der Ort {subject} befindet sich auf dem Kontinent {value}."),
    },
    "es": {
        "currency": ("{subject}: la moneda oficial de este país se llama {value}.",
                     "{subject}: la moneda que se usa en este país se llama {value}."),
        "language": ("{subject}: el {value} es una lengua oficial de este país.",
                     "{subject}: en este país, el {value} tiene estatus de idioma oficial."),
        "continent": ("{subject}: este país está en {value}.",
                      "{subject}: se trata de un país de {value}."),
        "city": ("{value}: {subject} se encuentra en este país.",
                 "{value}: en este país se encuentra {subject}."),
        "city_continent": ("{subject} está en {value}.",
                           "{subject} es un lugar situado en {value}."),
    },
    "fr": {
        "currency": ("{subject} : la monnaie officielle de ce pays porte le nom {de_value}.",
                     "{subject} : le nom de la monnaie de ce pays est « {value} »."),
        "language": ("{subject} : {le_value} est une langue officielle de ce pays.",
                     "{subject} : dans ce pays, {le_value} a le statut de langue officielle."),
        "continent": ("{subject} : ce pays se trouve en {value}.",
                      "{subject} : il s'agit d'un pays {de_value}."),
        "city": ("{value} : {subject} se trouve dans ce pays.",
                 "{value} : c'est dans ce pays que se trouve {subject}."),
        "city_continent": ("{subject} se trouve en {value}.",
                           "{subject} : ce lieu se trouve en {value}."),
    },
    "pt": {
        "currency": ("{subject}: a moeda oficial deste país se chama {value}.",
                     "{subject}: o nome da moeda deste país é {value}."),
        "language": ("{subject}: o {value} é uma língua oficial deste país.",
                     "{subject}: neste país, o {value} tem status de língua oficial."),
        "continent": ("{subject}: este país fica na {value}.",
                      "{subject}: trata-se de um país da {value}."),
        "city": ("{value}: {subject} fica neste país.",
                 "{value}: é neste país que fica {subject}."),
        "city_continent": ("{subject} fica na {value}.",
                           "{subject}: este lugar fica na {value}."),
    },
    "ru": {
        "currency": ("{subject}: официальная валюта этой страны — {value}.",
                     "{subject}: в этой стране в качестве валюты используется {value}."),
        "language": ("{subject}: {value} имеет в этой стране статус официального языка.",
                     "{subject}: к официальным языкам этой страны относится {value}."),
        "continent": ("{subject}: эта страна относится к региону мира под названием {value}.",
                      "{subject}: с точки зрения географии эта страна — часть региона «{value}»."),
        "city": ("{value}: {subject} находится в этой стране.",
                 "{value}: именно в этой стране находится {subject}."),
        "city_continent": ("{subject}: это место находится в регионе мира под названием {value}.",
                           "{subject}: с точки зрения географии это место относится к региону «{value}»."),
    },
    "zh": {
        "currency": ("{subject}的货币是{value}。",
                     "{subject}使用的官方货币是{value}。"),
        "language": ("{value}是{subject}的官方语言。",
                     "{subject}的官方语言包括{value}。"),
        "continent": ("{subject}位于{value}。",
                      "{subject}是一个{value}国家。"),
        "city": ("{subject}位于{value}。",
                 "{subject}在{value}境内。"),
        "city_continent": ("{subject}位于{value}。",
                           "{subject}是{value}的一个地方。"),
    },
    "ja": {
        "currency": ("{subject}の通貨は{value}です。",
                     "{subject}で使われている公式の通貨は{value}です。"),
        "language": ("{value}は{subject}の公用語です。",
                     "{subject}の公用語には{value}が含まれます。"),
        "continent": ("{subject}は{value}にある国です。",
                      "{subject}は{value}に位置しています。"),
        "city": ("{subject}は{value}にあります。",
                 "{subject}は{value}の領域内に位置しています。"),
        "city_continent": ("{subject}は{value}にあります。",
                           "{subject}は{value}に位置する場所です。"),
    },
    "ar": {
        "currency": ("اسم العملة الرسمية في {subject} هو {value}.",
                     "تُعرف عملة {subject} باسم {value}."),
        "language": ("{value} لغة رسمية في {subject}.",
                     "{subject} بلد من لغاته الرسمية {value}."),
        "continent": ("{subject} بلد يقع في {value}.",
                      "تقع دولة {subject} في قارة {value}."),
        "city": ("تقع {subject} في {value}.",
                 "تقع {subject} داخل أراضي {value}."),
        "city_continent": ("تقع {subject} في {value}.",
                           "تقع {subject} في قارة {value}."),
    },
    "hi": {
        "currency": ("{subject} की मुद्रा {value} है।",
                     "{subject} में इस्तेमाल होने वाली आधिकारिक मुद्रा {value} है।"),
        "language": ("{value} {subject} की एक आधिकारिक भाषा है।",
                     "{subject} में {value} को आधिकारिक भाषा का दर्जा प्राप्त है।"),
        "continent": ("{subject} {value} में स्थित है।",
                      "{subject} {value} का एक देश है।"),
        "city": ("{subject} {value} में स्थित है।",
                 "{subject} {value} का हिस्सा है।"),
        "city_continent": ("{subject} {value} में स्थित है।",
                           "{subject} {value} महाद्वीप में है।"),
    },
    "sw": {
        "currency": ("Sarafu ya {subject} ni {value}.",
                     "Nchini {subject}, sarafu rasmi ni {value}."),
        "language": ("{value} ni lugha rasmi ya {subject}.",
                     "Nchini {subject}, lugha ya {value} ina hadhi ya lugha rasmi."),
        "continent": ("{subject} iko barani {value}.",
                      "Nchi ya {subject} inapatikana katika bara la {value}."),
        "city": ("{subject} iko nchini {value}.",
                 "{subject} inapatikana nchini {value}."),
        "city_continent": ("{subject} iko barani {value}.",
                           "{subject} inapatikana katika bara la {value}."),
    },
    # Languages no default run, fine-tuning, pool or study uses: the confirmatory run's
    # held-out test languages (docs/benchmarks.md, "A fair fight").
    "it": {
        "currency": ("{subject}: la valuta ufficiale di questo paese si chiama {value}.",
                     "{subject}: la moneta usata in questo paese si chiama {value}."),
        "language": ("{subject}: una delle lingue ufficiali di questo paese è {value}.",
                     "{subject}: in questo paese, {value} ha lo status di lingua ufficiale."),
        "continent": ("{subject}: questo paese si trova in {value}.",
                      "{subject}: si tratta di un paese situato in {value}."),
        "city": ("{value}: {subject} si trova in questo paese.",
                 "{value}: è in questo paese che si trova {subject}."),
        "city_continent": ("{subject} si trova in {value}.",
                           "{subject}: questo luogo si trova in {value}."),
    },
    "nl": {
        "currency": ("{subject}: de officiële munteenheid van dit land heet {value}.",
                     "{subject}: de munt die in dit land wordt gebruikt, heet {value}."),
        "language": ("{subject}: het {value} is een officiële taal van dit land.",
                     "{subject}: in dit land heeft het {value} de status van officiële taal."),
        "continent": ("{subject}: dit land ligt in {value}.",
                      "{subject}: het gaat om een land in {value}."),
        "city": ("{value}: {subject} ligt in dit land.",
                 "{value}: in dit land ligt {subject}."),
        "city_continent": ("{subject} ligt in {value}.",
                           "{subject}: deze plaats ligt in {value}."),
    },
    "id": {
        "currency": ("{subject}: mata uang resmi negara ini adalah {value}.",
                     "{subject}: negara ini memakai {value} sebagai mata uang resminya."),
        "language": ("{subject}: {value} adalah bahasa resmi negara ini.",
                     "{subject}: di negara ini, {value} berstatus sebagai bahasa resmi."),
        "continent": ("{subject}: negara ini terletak di {value}.",
                      "{subject}: ini adalah sebuah negara di {value}."),
        "city": ("{value}: {subject} terletak di negara ini.",
                 "{value}: di negara inilah {subject} berada."),
        "city_continent": ("{subject} terletak di {value}.",
                           "{subject}: tempat ini berada di {value}."),
    },
    "vi": {
        "currency": ("{subject}: đồng tiền chính thức của quốc gia này là {value}.",
                     "{subject}: quốc gia này sử dụng {value} làm tiền tệ chính thức."),
        "language": ("{subject}: {value} là một ngôn ngữ chính thức của quốc gia này.",
                     "{subject}: ở quốc gia này, {value} có địa vị ngôn ngữ chính thức."),
        "continent": ("{subject}: quốc gia này nằm ở {value}.",
                      "{subject}: đây là một quốc gia thuộc {value}."),
        "city": ("{value}: {subject} nằm ở quốc gia này.",
                 "{value}: {subject} thuộc lãnh thổ của quốc gia này."),
        "city_continent": ("{subject} nằm ở {value}.",
                           "{subject}: địa điểm này nằm ở {value}."),
    },
    "ko": {
        "currency": ("{subject}: 이 나라의 공식 통화는 {value}입니다.",
                     "{subject}: 이 나라에서 쓰이는 공식 통화는 {value}입니다."),
        "language": ("{subject}: 이 나라의 공용어 중 하나는 {value}입니다.",
                     "{subject}: 이 나라에서 공용어의 지위를 가진 언어 중 하나는 {value}입니다."),
        "continent": ("{subject}: 이 나라는 {value}에 있습니다.",
                      "{subject}: {value}에 속한 나라입니다."),
        "city": ("{value}: 이 나라 안에 있는 곳 중 하나는 {subject}입니다.",
                 "{value}: {subject}의 소재지는 이 나라입니다."),
        "city_continent": ("{subject}: 이곳은 {value}에 있습니다.",
                           "{subject}: 이 장소는 {value}에 위치합니다."),
    },
    "pl": {
        "currency": ("{subject}: oficjalna waluta tego kraju to {value}.",
                     "{subject}: waluta używana w tym kraju to {value}."),
        "language": ("{subject}: język {value} jest językiem urzędowym tego kraju.",
                     "{subject}: w tym kraju język {value} ma status języka urzędowego."),
        "continent": ("{subject}: ten kraj należy do regionu świata o nazwie {value}.",
                      "{subject}: pod względem geograficznym ten kraj jest częścią regionu „{value}”."),
        "city": ("{value}: {subject} leży w tym kraju.",
                 "{value}: to w tym kraju znajduje się {subject}."),
        "city_continent": ("{subject}: to miejsce leży w regionie świata o nazwie {value}.",
                           "{subject}: pod względem geograficznym to miejsce należy do regionu „{value}”."),
    },
    "tr": {
        "currency": ("{subject}: bu ülkenin resmi para birimi {value}.",
                     "{subject}: bu ülkede kullanılan resmi para biriminin adı {value}."),
        "language": ("{subject}: {value} bu ülkenin resmi dillerinden biridir.",
                     "{subject}: bu ülkede {value} resmi dil statüsüne sahiptir."),
        "continent": ("{subject}: bu ülke {value} bölgesinde yer alır.",
                      "{subject}: coğrafi olarak bu ülke {value} bölgesinin bir parçasıdır."),
        "city": ("{value}: {subject} bu ülkede bulunur.",
                 "{value}: {subject} bu ülkenin sınırları içindedir."),
        "city_continent": ("{subject}: bu yer {value} bölgesinde yer alır.",
                           "{subject}: coğrafi olarak burası {value} bölgesinin bir parçasıdır."),
    },
}

LANGUAGES = tuple(TEMPLATES)
DEFAULT_LANGUAGES = LANGUAGES[:LANGUAGES.index("it")]   # the default run's (params.yaml data.xfacts.languages)


def _slot(kind: str, text: str, lang: str) -> str:
    if lang == "ru":
        text = grammar.russian_unabbreviate(text)
    if kind == "country" and lang == "en":
        return grammar.english_country(text)
    if kind == "currency" and lang in ("pt", "sw"):
        return grammar.lower_first(text)
    return text


def slot_forms(lang: str, relation: str, subject: str, value: str) -> dict[str, str]:
    """The strings a template of `lang` may use, from the CLDR names."""
    subject_kind, value_kind = KINDS[relation]
    forms = {"subject": _slot(subject_kind, subject, lang),
             "value": _slot(value_kind, value, lang)}
    if lang == "fr":
        forms |= {"le_value": grammar.french_le(forms["value"]),
                  "de_value": grammar.french_de(forms["value"])}
    return forms


def render(lang: str, relation: str, subject: str, value: str) -> list[str]:
    """All sentences of (lang, relation) for the given names, template 0 first."""
    forms = slot_forms(lang, relation, subject, value)
    return [grammar.capitalize_sentence(t.format(**forms), lang)
            for t in TEMPLATES[lang][relation]]
