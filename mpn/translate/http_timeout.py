"""Give deep-translator's HTTP calls a timeout and remember each answer's status code.

deep-translator calls `requests.get/post` with no timeout, so a server that never answers
would hang the stage forever, and its exceptions drop the HTTP status (a 502 and a 418
both become "API server error"). We swap the `requests` name inside its provider modules
for a stand-in that adds our timeout and records the status; everything else is requests.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
from typing import Iterator

import requests

_MODULES = ("deep_translator.google", "deep_translator.deepl",
            "deep_translator.mymemory", "deep_translator.libre")
_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar("timeout", default=None)
_status: contextvars.ContextVar[int | None] = contextvars.ContextVar("status", default=None)


class _TimedRequests:
    """Looks like the requests module to deep-translator."""

    def __getattr__(self, name: str):
        return getattr(requests, name)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self._send(requests.get, url, kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self._send(requests.post, url, kwargs)

    @staticmethod
    def _send(method, url: str, kwargs: dict) -> requests.Response:
        kwargs.setdefault("timeout", _timeout.get())
        response = method(url, **kwargs)
        _status.set(response.status_code)
        return response


_SHIM = _TimedRequests()


def install() -> None:
    """Idempotent: point deep-translator's provider modules at the stand-in."""
    for name in _MODULES:
        importlib.import_module(name).requests = _SHIM


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
