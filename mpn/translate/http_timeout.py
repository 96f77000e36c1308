"""Give deep-translator's HTTP calls a timeout, keys out of URLs, and each answer's status.

deep-translator calls `requests.get/post` with no timeout, so a server that never answers
would hang the stage forever; it puts API keys in the query string, where every
connection error's text repeats them; and its exceptions drop the HTTP status (a 502 and
a 418 both become "API server error"). We swap the `requests` name inside its provider
modules for a stand-in that adds our timeout, moves the key into a header (DeepL) or the
form body (LibreTranslate), and records the status; everything else is requests.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
from typing import Iterator

import requests


def _deepl_header(kwargs: dict) -> None:
    """DeepL's documented way: `Authorization: DeepL-Auth-Key <key>`, nothing in the URL."""
    params = dict(kwargs.get("params") or {})
    key = params.pop("auth_key", None)
    if key:
        kwargs["params"] = params
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Authorization": f"DeepL-Auth-Key {key}"}


def _libre_form(kwargs: dict) -> None:
    """LibreTranslate reads its fields (api_key included) from a form body as well."""
    if kwargs.get("params") and "data" not in kwargs:
        kwargs["data"] = kwargs.pop("params")


def _as_is(kwargs: dict) -> None:
    pass


_MODULES = {"deep_translator.google": _as_is, "deep_translator.deepl": _deepl_header,
            "deep_translator.mymemory": _as_is, "deep_translator.libre": _libre_form}
_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar("timeout", default=None)
_status: contextvars.ContextVar[int | None] = contextvars.ContextVar("status", default=None)


class _TimedRequests:
    """Looks like the requests module to deep-translator."""

    def __init__(self, move_credentials):
        self._move_credentials = move_credentials

    def __getattr__(self, name: str):
        return getattr(requests, name)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self._send(requests.get, url, kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self._send(requests.post, url, kwargs)

    def _send(self, method, url: str, kwargs: dict) -> requests.Response:
        self._move_credentials(kwargs)
        kwargs.setdefault("timeout", _timeout.get())
        response = method(url, **kwargs)
        _status.set(response.status_code)
        return response


def install() -> None:
    """Idempotent: point deep-translator's provider modules at their stand-ins."""
    for name, move_credentials in _MODULES.items():
        module = importlib.import_module(name)
        if not isinstance(module.requests, _TimedRequests):
            module.requests = _TimedRequests(move_credentials)


@contextlib.contextmanager
def request_timeout(seconds: float | None) -> Iterator[None]:
    """Within the block, deep-translator requests time out after `seconds`."""
    token = _timeout.set(seconds)
    _status.set(None)
    try:
        yield
    finally:
        _timeout.reset(token)


def last_status() -> int | None:
    """Status code of the last answer inside the current request_timeout block."""
    return _status.get()
