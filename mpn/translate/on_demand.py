"""Translations of a few English inputs on demand (the `mpn-edit` command's
`--translate-to` and `--check-languages`): the translate stage's providers, persistent
cache, retries and secret rules, for texts that are not a task's rows.

    translator = OnDemandTranslator(TranslateSettings(provider="bergamot"))
    table = translator.translate(["The sky is green."], ["pt"])   # {"pt": {text: translation}}
    filled = translator.fill(inputs, given, ["pt"])                # each input's translations

Everything is translated up front, before the first edit: a provider that cannot be
built or reached is a one-line UserError while nothing has been edited or written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence, Union

from mpn.core.errors import UserError
from mpn.translate.cache import TranslationCache
from mpn.translate.registry import make_provider
from mpn.translate.runner import TranslationRunner
from mpn.translate.settings import SOURCE_LANG, TranslateSettings

Text = Union[str, tuple]  # a text, or a (premise, hypothesis) pair
CACHE_FILE = "mpn-edit.sqlite"  # in translate.cache_dir, beside the stage's <task>.sqlite files


class OnDemandTranslator:
    """English -> each language through `settings.provider_for(lang)`, cached in
    `<settings.cache_dir>/mpn-edit.sqlite` (a second run asks no provider again)."""

    def __init__(self, settings: TranslateSettings, progress: bool = False):
        self.settings = settings
        self.progress = progress

    @property
    def cache_path(self) -> Path:
        return Path(self.settings.cache_dir) / CACHE_FILE

    def translate(self, texts: Sequence[str], languages: Sequence[str]) -> dict[str, dict[str, str]]:
        """{lang: {text: translation}} for every text and language, or a UserError naming
        the language, provider and why, if any text stays untranslated."""
        providers = {lang: self._provider(lang) for lang in languages}  # every bad name or pair before any call
        texts = list(dict.fromkeys(texts))
        settings = self.settings
        table = {}
        with TranslationCache(self.cache_path) as cache:
            runner = TranslationRunner(cache, settings.retry_policy(), settings.batch_size, settings.rate_limit,
                                       max_failures=0, max_consecutive_failures=settings.max_consecutive_failures,
                                       progress=self.progress)
            for lang, provider in providers.items():
                result = runner.run(provider, texts)
                if result.failures:
                    raise UserError(f"{len(result.failures)} of {len(texts)} texts could not be translated "
                                    f"({result.describe_failures()[:300]}); nothing was edited or written")
                table[lang] = result.translations
        return table

    def fill(self, inputs: Sequence[Text], given: Sequence[Mapping[str, Text]],
             languages: Sequence[str]) -> list[dict[str, Text]]:
        """Each input's translations into `languages`: the ones in `given` (the request's
        own) as they are, the others translated (a pair part by part)."""
        missing = [part for text, own in zip(inputs, given) for lang in languages if lang not in own
                   for part in _parts(text)]
        needed = sorted({lang for own in given for lang in languages if lang not in own})
        table = self.translate(missing, needed) if missing else {}
        filled = []
        for text, own in zip(inputs, given):
            out = dict(own)
            for lang in languages:
                if lang not in out:
                    parts = tuple(table[lang][part] for part in _parts(text))
                    out[lang] = parts if isinstance(text, tuple) else parts[0]
            filled.append(out)
        return filled

    def _provider(self, lang: str):
        if lang == SOURCE_LANG:
            raise UserError(f"cannot translate into {lang!r}: the requests are in English already")
        name = self.settings.provider_for(lang)
        if name == "reference":
            raise UserError("provider 'reference' only copies a task's own translations; "
                            "choose a translation engine for requests")
        return make_provider(name, SOURCE_LANG, lang, self.settings.options(name), self.settings.timeout_s)


def _parts(text: Text) -> tuple[str, ...]:
    return tuple(text) if isinstance(text, tuple) else (text,)
