"""Run a provider over many texts: cache first, then batches with retries, rate limit,
a failure budget and a progress bar. Every finished call is committed to the cache
before the next one starts, so an interrupted run loses no finished translation."""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from mpn.core import secrets
from mpn.core.errors import UserError
from mpn.translate.base import ErrorKind, NotTranslated, Provider, one_line
from mpn.translate.cache import TranslationCache
from mpn.translate.pacing import RateLimiter, RetryPolicy

log = logging.getLogger(__name__)

NOT_ATTEMPTED = ("not attempted: the provider looked down "
                 "(translate.max_consecutive_failures texts failed in a row)")


@dataclass(frozen=True)
class Failure:
    text: str
    reason: str
    attempts: int


@dataclass
class RunResult:
    """What one provider run produced: translations by source text, and failures."""

    provider: str
    source: str
    target: str
    translations: dict[str, str] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    from_cache: int = 0
    translated: int = 0

    def reasons(self) -> collections.Counter:
        return collections.Counter(f.reason for f in self.failures)

    def summary(self, examples: int = 20) -> dict:
        """Failure counts, reasons and the first `examples` failed texts. Not how many came
        from the cache: the stage's outputs must not depend on what an earlier run did."""
        return {"provider": self.provider, "source": self.source, "target": self.target,
                "failed": len(self.failures), "failure_reasons": dict(self.reasons()),
                "failed_examples": [vars(f) for f in self.failures[:examples]]}

    def describe_failures(self) -> str:
        """'en->pt via libre: 3 x HTTP 500 (...)' for logs and error messages."""
        reasons = "; ".join(f"{n} x {reason}" for reason, n in self.reasons().most_common())
        return f"{self.source}->{self.target} via {self.provider}: {reasons}"


class _BatchFailed(Exception):
    def __init__(self, reason: str, attempts: int):
        super().__init__(reason)
        self.reason, self.attempts = reason, attempts


class TranslationRunner:
    """Translates through providers with one cache and one failure count for a whole stage.

    Every text is attempted (one stubborn text must not block the others), except when
    `max_consecutive_failures` texts fail in a row: the provider looks down, and the rest
    of that run is marked not attempted instead of spending retries on each.
    """

    def __init__(self, cache: TranslationCache, retry: RetryPolicy, batch_size: int = 32,
                 rate_limit: float | None = None, max_failures: int = 0,
                 max_consecutive_failures: int = 10, progress: bool = True):
        self.cache = cache
        self.retry = retry
        self.batch_size = batch_size
        self.rate_limit = rate_limit
        self.max_failures = max_failures
        self.max_consecutive_failures = max_consecutive_failures
        self.progress = progress
        self.failed = 0
        self._streak = 0  # texts failed in a row in the current run
        self._limiters: dict[str, RateLimiter] = {}

    @property
    def over_budget(self) -> bool:
        return self.failed > self.max_failures

    def run(self, provider: Provider, texts: list[str]) -> RunResult:
        unique = list(dict.fromkeys(texts))
        result = RunResult(provider.name, provider.source, provider.target)
        result.translations = self.cache.get_many(
            provider.cache_name, provider.source, provider.target, unique)
        result.from_cache = len(result.translations)
        pending = [t for t in unique if t not in result.translations]
        size = min(self.batch_size, provider.max_batch or self.batch_size)
        self._streak = 0
        with logging_redirect_tqdm(), tqdm(total=len(pending), unit="text", desc=str(provider),
                                           disable=not self.progress or not pending) as bar:
            for start in range(0, len(pending), size):
                batch = pending[start:start + size]
                self._run_batch(provider, batch, result)
                bar.update(len(batch))
        return result

    def _run_batch(self, provider: Provider, batch: list[str], result: RunResult) -> None:
        if self._streak >= self.max_consecutive_failures:
            self._fail(result, [Failure(t, NOT_ATTEMPTED, 0) for t in batch])
            return
        try:
            outputs = self._call_with_retries(provider, batch)
        except _BatchFailed as err:
            if len(batch) > 1:  # find the texts at fault, keep the others
                for text in batch:
                    self._run_batch(provider, [text], result)
                return
            self._fail(result, [Failure(batch[0], err.reason, err.attempts)])
            return
        pairs = list(zip(batch, outputs))
        self.cache.put_many(provider.cache_name, provider.source, provider.target, pairs)
        result.translations.update(pairs)
        result.translated += len(pairs)
        self._streak = 0

    def _fail(self, result: RunResult, failures: list[Failure]) -> None:
        result.failures.extend(failures)
        self.failed += len(failures)
        self._streak += len(failures)

    def _call_with_retries(self, provider: Provider, batch: list[str]) -> list[str]:
        attempts = 0
        while True:
            if provider.online:
                self._limiter(provider).wait()
            attempts += 1
            try:
                return _checked(batch, provider.translate(batch))
            except Exception as exc:  # noqa: BLE001 - the provider decides what it means
                kind = provider.classify(exc)
                reason = secrets.scrub(provider.describe(exc))  # a provider may forget
            if kind is ErrorKind.FATAL:
                raise UserError(f"{provider}: {reason}")
            if kind is ErrorKind.ITEM or attempts >= self.retry.max_attempts:
                raise _BatchFailed(reason if kind is ErrorKind.ITEM
                                   else f"{reason} (gave up after {attempts} attempts)", attempts)
            delay = self.retry.delay(attempts)
            log.warning("%s: %s; retry %d/%d in %.2fs", provider, reason, attempts,
                        self.retry.max_attempts - 1, delay)
            time.sleep(delay)

    def _limiter(self, provider: Provider) -> RateLimiter:
        return self._limiters.setdefault(provider.cache_name, RateLimiter(self.rate_limit))


def _checked(batch: list[str], outputs: list[str]) -> list[str]:
    """A provider answer we can store: one non-empty string per text."""
    if len(outputs) != len(batch):
        raise NotTranslated(f"got {len(outputs)} translations for {len(batch)} texts")
    for text, out in zip(batch, outputs):
        if not isinstance(out, str) or not out.strip():
            raise NotTranslated(f"empty translation for {one_line(text)[:60]!r}")
    return outputs
