"""Online providers through deep-translator: google, deepl, mymemory, libre.

One HTTP request per text (deep-translator's translate_batch is a loop of single
requests too), so max_batch is 1 and every answer reaches the cache before the next
request. Failures are classified from deep-translator's exceptions plus the HTTP status
recorded by mpn.translate.http_timeout: 429, 5xx, timeouts and refused connections are
transient; a rejected key or an unsupported language is fatal; the rest is the item's.
"""
from __future__ import annotations

import os
from typing import Iterable

import requests
from deep_translator import DeeplTranslator, GoogleTranslator, LibreTranslator, MyMemoryTranslator, constants
from deep_translator import exceptions as dt

from mpn.core import secrets
from mpn.core.errors import UserError
from mpn.translate import http_timeout
from mpn.translate.base import ErrorKind, Provider, one_line

_FATAL = (dt.AuthorizationException, dt.ApiKeyException, dt.LanguageNotSupportedException,
          dt.InvalidSourceOrTargetLanguage)
_TRANSIENT = (requests.Timeout, requests.ConnectionError, ConnectionError, dt.TooManyRequests)
# deep-translator's ServerException keeps only a message; these name 429 and 5xx statuses.
_TRANSIENT_MESSAGES = {"ERR_TOO_MANY_REQUESTS", "ERR_INTERNAL_SERVER_ERROR",
                       "ERR_SERVICE_NOT_AVAIBLE"}
# Our ISO codes -> the regional codes some services want instead.
_ALIASES = {"zh": ["zh-CN"], "he": ["iw"], "jv": ["jw"], "en": ["en-US", "en-GB"],
            "pt": ["pt-PT", "pt-BR"]}


class WebFailure(Exception):
    """A deep-translator exception together with the HTTP status of the answer, if any."""

    def __init__(self, cause: Exception, status: int | None):
        super().__init__(one_line(f"{type(cause).__name__}: {cause}"))
        self.cause, self.status = cause, status


class WebProvider(Provider):
    """A deep-translator backend with a request timeout."""

    online = True
    max_batch = 1

    def __init__(self, name: str, translator, source: str, target: str,
                 timeout_s: float | None, cache_name: str | None = None):
        super().__init__(source, target)
        self.name = name
        self.timeout_s = timeout_s
        self._translator = translator
        self._cache_name = cache_name or name
        http_timeout.install()

    @property
    def cache_name(self) -> str:
        return self._cache_name

    def translate(self, texts: list[str]) -> list[str]:
        return [self._translate_one(text) for text in texts]

    def _translate_one(self, text: str) -> str:
        with http_timeout.request_timeout(self.timeout_s):
            try:
                return self._translator.translate(text)
            except Exception as exc:  # noqa: BLE001 - classified by classify()
                raise WebFailure(exc, http_timeout.last_status()) from exc

    def classify(self, exc: Exception) -> ErrorKind:
        if not isinstance(exc, WebFailure):
            return ErrorKind.ITEM
        cause, status = exc.cause, exc.status
        if isinstance(cause, _FATAL) or status in (401, 403):
            return ErrorKind.FATAL
        if isinstance(cause, _TRANSIENT) or (status is not None and (status == 429 or status >= 500)):
            return ErrorKind.TRANSIENT
        if status is None and str(cause) in _TRANSIENT_MESSAGES:
            return ErrorKind.TRANSIENT
        return ErrorKind.ITEM

    def describe(self, exc: Exception) -> str:
        """Scrubbed: deep-translator's texts can carry the key (its 403 error names it)."""
        if isinstance(exc, WebFailure):
            if isinstance(exc.cause, requests.Timeout):
                return f"timeout: no answer within {self.timeout_s}s"
            if exc.status is not None and exc.status != 200:
                return secrets.scrub(f"HTTP {exc.status} ({exc})")
        return secrets.scrub(super().describe(exc))


def service_code(service: str, lang: str, known: Iterable[str]) -> str:
    """The code `service` uses for ISO `lang`; UserError naming the languages it knows."""
    known = set(known)
    candidates = [lang, *_ALIASES.get(lang, []), f"{lang}-{lang.upper()}",
                  *sorted(c for c in known if c.split("-")[0] == lang)]
    for code in candidates:
        if code in known:
            return code
    allowed = ", ".join(sorted({c.split("-")[0] for c in known}))
    raise UserError(f"{service} cannot translate language {lang!r}; languages it knows: {allowed}")


def _api_key(service: str, options: dict, default_env: str, required: bool) -> str | None:
    env = options.get("api_key_env") or default_env
    key = os.environ.get(env)
    secrets.register(key)
    if required and not key:
        raise UserError(f"{service} needs an API key in the environment variable {env} "
                        f"(translate.{service}.api_key_env names the variable)")
    return key


def make_google(source: str, target: str, options: dict, timeout_s: float | None) -> Provider:
    codes = constants.GOOGLE_LANGUAGES_TO_CODES.values()
    translator = GoogleTranslator(source=service_code("google", source, codes),
                                  target=service_code("google", target, codes))
    return WebProvider("google", translator, source, target, timeout_s)


def make_mymemory(source: str, target: str, options: dict, timeout_s: float | None) -> Provider:
    codes = constants.MY_MEMORY_LANGUAGES_TO_CODES.values()
    translator = MyMemoryTranslator(source=service_code("mymemory", source, codes),
                                    target=service_code("mymemory", target, codes),
                                    email=options.get("email"))
    return WebProvider("mymemory", translator, source, target, timeout_s)


def make_deepl(source: str, target: str, options: dict, timeout_s: float | None) -> Provider:
    codes = constants.DEEPL_LANGUAGE_TO_CODE.values()
    translator = DeeplTranslator(source=service_code("deepl", source, codes),
                                 target=service_code("deepl", target, codes),
                                 api_key=_api_key("deepl", options, "DEEPL_API_KEY", True),
                                 use_free_api=bool(options.get("free_api", True)))
    url = options.get("url")  # a proxy or a test server instead of DeepL's own host
    if url:
        if not str(url).startswith(("http://", "https://")):
            raise UserError(f"translate.deepl.url must be an http(s) URL, got {url!r}")
        translator._base_url = url if url.endswith("/") else url + "/"
    return WebProvider("deepl", translator, source, target, timeout_s)


def make_libre(source: str, target: str, options: dict, timeout_s: float | None) -> Provider:
    url = str(options.get("url") or "")
    if not url.startswith(("http://", "https://")):
        raise UserError(f"translate.libre.url must be an http(s) URL, got {url!r}")
    url = url if url.endswith("/") else url + "/"
    # A self-hosted LibreTranslate without keys ignores api_key, but deep-translator
    # refuses to start without one; a server that wants a key answers 403 (fatal).
    key = _api_key("libre", options, "LIBRE_API_KEY", False) or "no-key"
    codes = constants.LIBRE_LANGUAGES_TO_CODES.values()
    translator = LibreTranslator(source=service_code("libre", source, codes),
                                 target=service_code("libre", target, codes),
                                 api_key=key, custom_url=url)
    return WebProvider("libre", translator, source, target, timeout_s, cache_name=f"libre@{url}")
