"""The `translate` params section, checked once: every bad value is a one-line UserError."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import ClassVar

from mpn.core.errors import UserError
from mpn.translate.pacing import RetryPolicy
from mpn.translate.registry import check_provider_name

SOURCE_LANG = "en"  # XFEVER translates English claims; rephrases come back to English
ENGINE_SECTIONS = ("libre", "deepl", "mymemory", "bergamot", "apertium")
TASK_KEYS = ("languages", "provider", "providers")  # what translate.tasks.<task> may set
_LANG_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class TranslateSettings:
    SECTION: ClassVar[str] = "translate"  # its key in params.yaml
    languages: tuple[str, ...] = ("es", "fr", "ja", "pt", "zh")
    provider: str = "google"
    providers: dict = field(default_factory=lambda: {"pt": "bergamot"})  # language -> provider name
    backtranslate_pivot: str | None = None
    batch_size: int = 32
    rate_limit: float | None = 5.0
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    max_failures: int = 0
    max_consecutive_failures: int = 10
    cache_dir: str = "data/cache/translations"
    libre: dict = field(default_factory=lambda: {"url": "http://localhost:5000/", "api_key_env": "LIBRE_API_KEY"})
    deepl: dict = field(default_factory=lambda: {"api_key_env": "DEEPL_API_KEY", "free_api": True, "url": None})
    mymemory: dict = field(default_factory=lambda: {"email": None})
    bergamot: dict = field(default_factory=lambda: {"threads": 1})
    apertium: dict = field(default_factory=lambda: {"binary": "apertium"})
    # Per task, what differs from the shared languages / provider / providers above
    # (e.g. {fever: {languages: [es, pt], provider: apertium}}).
    tasks: dict = field(default_factory=dict)

    @classmethod
    def from_params(cls, section: dict | None) -> "TranslateSettings":
        section = dict(section or {})
        allowed = [f.name for f in fields(cls)]
        for key in section:
            if key not in allowed:
                raise UserError(f"unknown key translate.{key}; allowed: {', '.join(allowed)}")
        settings = cls(**section)
        settings._check()
        return settings

    def for_task(self, task: str) -> "TranslateSettings":
        """These settings with `tasks.<task>`'s languages, provider and providers, checked."""
        settings = replace(self, **self.tasks.get(task, {}), tasks={})
        settings._check()
        return settings

    def provider_for(self, lang: str) -> str:
        return self.providers.get(lang, self.provider)

    def options(self, provider: str) -> dict:
        return dict(getattr(self, provider, None) or {}) if provider in ENGINE_SECTIONS else {}

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.max_attempts, self.backoff_s, self.backoff_max_s)

    def _check(self) -> None:
        if not isinstance(self.languages, (list, tuple)):
            raise UserError(f"translate.languages must be a list of language codes, "
                            f"got {self.languages!r}")
        object.__setattr__(self, "languages", tuple(dict.fromkeys(self.languages)))
        for lang in self.languages:
            check_language(lang, "translate.languages")
        check_provider_name(self.provider, "translate.provider")
        if not isinstance(self.providers, dict):
            raise UserError(f"translate.providers must map language -> provider, "
                            f"got {self.providers!r}")
        for lang, name in self.providers.items():
            check_language(lang, "translate.providers")
            check_provider_name(name, f"translate.providers.{lang}")
        if self.backtranslate_pivot is not None:
            check_language(self.backtranslate_pivot, "translate.backtranslate_pivot")
        _check_number("batch_size", self.batch_size, minimum=1, integer=True)
        _check_number("max_attempts", self.max_attempts, minimum=1, integer=True)
        _check_number("max_failures", self.max_failures, minimum=0, integer=True)
        _check_number("max_consecutive_failures", self.max_consecutive_failures, minimum=1,
                      integer=True)
        _check_number("backoff_s", self.backoff_s, minimum=0)
        _check_number("backoff_max_s", self.backoff_max_s, minimum=0)
        if self.rate_limit is not None:
            _check_number("rate_limit", self.rate_limit, minimum=0, strict=True)
        # no "no timeout": a server that never answers would hang the stage forever
        _check_number("timeout_s", self.timeout_s, minimum=0, strict=True)
        for name in ENGINE_SECTIONS:
            if not isinstance(getattr(self, name) or {}, dict):
                raise UserError(f"translate.{name} must be a mapping of options, "
                                f"got {getattr(self, name)!r}")
        self._check_tasks()

    def _check_tasks(self) -> None:
        if not isinstance(self.tasks, dict):
            raise UserError(f"translate.tasks must map a task to its settings, got {self.tasks!r}")
        for task, override in self.tasks.items():
            if not isinstance(override, dict) or not set(override) <= set(TASK_KEYS):
                raise UserError(f"translate.tasks.{task} = {override!r}; allowed: a mapping of "
                                f"{', '.join(TASK_KEYS)}")
            try:
                self.for_task(task)
            except UserError as err:
                raise UserError(str(err).replace("translate.", f"translate.tasks.{task}.", 1)) from None


def check_language(lang: object, where: str) -> None:
    if not isinstance(lang, str) or not _LANG_CODE.match(lang):
        raise UserError(f"bad language code {lang!r} in {where}; "
                        "allowed: ISO 639 codes like es, pt, zh or zh-TW")
    if lang == SOURCE_LANG:
        raise UserError(f"{where} names the source language {SOURCE_LANG!r}; "
                        "allowed: target languages other than en")


def _check_number(name: str, value: object, minimum: float, integer: bool = False,
                  strict: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    ok = ok and (value > minimum if strict else value >= minimum)
    if not ok:
        kind = "an integer" if integer else "a number"
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise UserError(f"translate.{name} must be {kind} {bound}, got {value!r}")
