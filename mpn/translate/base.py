"""What every translation provider is: a named engine for one language pair."""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod


class ErrorKind(enum.Enum):
    """What the runner does with an exception a provider raised."""

    TRANSIENT = "transient"  # retry with backoff (HTTP 429, 5xx, timeouts)
    ITEM = "item"  # this text cannot be translated: record it, go on
    FATAL = "fatal"  # the whole provider is unusable (bad key, language): stop


class NotTranslated(Exception):
    """A provider's own one-item failure (empty answer, text not carried)."""


class Provider(ABC):
    """Translates lists of texts from `source` to `target`.

    `max_batch` is how many texts one call may carry (None: the runner's batch size):
    the runner commits each call's results to the cache, so a provider that loops over
    single web requests must say 1, or a kill would lose finished translations.
    """

    name: str = ""
    online: bool = False  # online providers are rate-limited
    max_batch: int | None = 1

    def __init__(self, source: str, target: str):
        self.source = source
        self.target = target

    @property
    def cache_name(self) -> str:
        """Cache key part: changes whenever the same text could translate differently."""
        return self.name

    @abstractmethod
    def translate(self, texts: list[str]) -> list[str]:
        """One translation per text, in order; raise on failure."""

    def classify(self, exc: Exception) -> ErrorKind:
        """Local engines have nothing worth retrying: a failure is about the text."""
        return ErrorKind.ITEM

    def describe(self, exc: Exception) -> str:
        """One line saying what went wrong, for the failure summary."""
        return one_line(f"{type(exc).__name__}: {exc}")

    def __str__(self) -> str:
        return f"{self.name} {self.source}->{self.target}"


def one_line(text: str) -> str:
    return " ".join(str(text).split())
