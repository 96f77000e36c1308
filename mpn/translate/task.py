"""Translate one task: English rows into every requested language, plus optional
back-translated English rephrases. Groups the raw data already carries in a language
come from the source (the reference provider) and are never sent to a machine."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from mpn.core.errors import UserError
from mpn.core.schema import ORIGINAL
from mpn.translate.base import Provider
from mpn.translate.registry import make_provider
from mpn.translate.rows import carried_texts, groups_by_lang, load_raw, next_rephrase, texts_of, translated_row
from mpn.translate.runner import RunResult, TranslationRunner
from mpn.translate.settings import SOURCE_LANG, TranslateSettings

log = logging.getLogger(__name__)


@dataclass
class TaskTranslation:
    rows: dict[str, list[dict]] = field(default_factory=dict)  # lang -> rows to write
    summary: dict = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)


class TaskTranslator:
    """Builds data/translated/<task> rows from data/raw/<task>."""

    def __init__(self, task: str, settings: TranslateSettings, runner: TranslationRunner,
                 root: str | Path = "data"):
        self.task, self.settings, self.runner = task, settings, runner
        self.raw, self.fields = load_raw(task, root)
        self.english = [r for r in self.raw if r["lang"] == SOURCE_LANG]
        if not self.english:
            raise UserError(f"task {task!r} has no {SOURCE_LANG} rows to translate in its raw data")
        self.out = TaskTranslation(summary={"task": task, "text_fields": self.fields,
                                            "languages": {}})

    def run(self) -> TaskTranslation:
        english = self.english
        if self.settings.backtranslate_pivot:
            rephrases = self._backtranslate(self.settings.backtranslate_pivot)
            self.out.rows[SOURCE_LANG] = rephrases
            english = english + rephrases  # translated like every English rephrase
        carried = groups_by_lang(self.raw)
        for lang in self.settings.languages:
            self.out.rows[lang] = self._translate(english, lang, carried.get(lang, set()))
        self.out.summary["failed_texts"] = self.runner.failed
        return self.out

    def _translate(self, english: list[dict], lang: str, carried_groups: set[str]) -> list[dict]:
        todo = [r for r in english if r["group"] not in carried_groups]
        info = {"english_rows": len(english), "carried_by_source": len(english) - len(todo)}
        if not todo:
            log.info("%s: the raw data carries every group in %s (reference provider): "
                     "nothing to translate", self.task, lang)
            self.out.summary["languages"][lang] = {**info, "provider": "reference", "written": 0}
            return []
        result = self._run(self.settings.provider_for(lang), SOURCE_LANG, lang, todo)
        rows = [t for t in (translated_row(r, lang, self.fields, result.translations)
                            for r in todo) if t]
        log.info("%s: %d %s rows (%d carried by the source, %d translated now, %d from cache)",
                 self.task, len(rows), lang, info["carried_by_source"], result.translated,
                 result.from_cache)
        self.out.summary["languages"][lang] = {**info, **result.summary(), "written": len(rows)}
        return rows

    def _backtranslate(self, pivot: str) -> list[dict]:
        """English -> pivot -> English rephrases of the original rows (variant rephraseN,
        the first number the group does not use yet; id = English id + "/bt")."""
        name = self.settings.provider_for(pivot)
        if name == "reference":
            raise UserError(f"translate.backtranslate_pivot={pivot} needs a machine translation "
                            f"provider, but the provider for {pivot} is 'reference'")
        originals = [r for r in self.english if r["variant"] == ORIGINAL]
        there = self._run(name, SOURCE_LANG, pivot, originals)
        in_pivot = [translated_row(r, pivot, self.fields, there.translations) for r in originals]
        back = self._run(name, pivot, SOURCE_LANG, [p for p in in_pivot if p])
        variants = next_rephrase(self.raw)
        rows, identical = [], 0
        for row, pivot_row in zip(originals, in_pivot):
            rephrase = pivot_row and translated_row(pivot_row, SOURCE_LANG, self.fields,
                                                    back.translations)
            if not rephrase:
                continue
            if all(_same(rephrase[f], row[f]) for f in self.fields):
                identical += 1  # a rephrase equal to its original tests nothing
                continue
            rows.append({**rephrase, "id": f"{row['id']}/bt", "variant": variants[row["group"]]})
        log.info("%s: %d back-translated English rephrases via %s (%d identical to the "
                 "original, dropped)", self.task, len(rows), pivot, identical)
        self.out.summary["backtranslation"] = {
            "pivot": pivot, "provider": name, "originals": len(originals), "written": len(rows),
            "identical_dropped": identical, "there": there.summary(), "back": back.summary()}
        return rows

    def _run(self, name: str, source: str, target: str, rows: list[dict]) -> RunResult:
        result = self.runner.run(self._provider(name, source, target),
                                 texts_of(rows, self.fields))
        if result.failures:
            log.warning("%s: %d texts failed, %s", self.task, len(result.failures),
                        result.describe_failures())
        self.out.runs.append(result)
        return result

    def _provider(self, name: str, source: str, target: str) -> Provider:
        carried = carried_texts(self.raw, target, self.fields) if name == "reference" else None
        return make_provider(name, source, target, self.settings.options(name),
                             self.settings.timeout_s, carried)


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())
