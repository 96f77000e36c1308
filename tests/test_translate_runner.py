"""The runner with small in-test providers: batching, retries, failure streaks, budget."""
from __future__ import annotations

import pytest

from mpn.core.errors import UserError
from mpn.translate import RateLimiter, RetryPolicy, TranslationCache, TranslationRunner
from mpn.translate.base import ErrorKind, NotTranslated, Provider
from mpn.translate.runner import NOT_ATTEMPTED


class Busy(Exception):
    """Stands for a 429 from a service."""


class Upper(Provider):
    """Uppercases; texts in `bad` fail as items, texts in `busy` fail transiently
    `busy[text]` times; every call is logged."""

    name = "upper"

    def __init__(self, max_batch=None, bad=(), busy=None, fatal=()):
        super().__init__("en", "xx")
        self.max_batch = max_batch
        self.bad, self.busy, self.fatal = set(bad), dict(busy or {}), set(fatal)
        self.calls: list[list[str]] = []

    def translate(self, texts):
        self.calls.append(list(texts))
        for text in texts:
            if text in self.fatal:
                raise PermissionError("key rejected")
            if self.busy.get(text, 0) > 0:
                self.busy[text] -= 1
                raise Busy()
            if text in self.bad:
                raise NotTranslated(f"cannot do {text}")
        return [t.upper() for t in texts]

    def classify(self, exc):
        if isinstance(exc, Busy):
            return ErrorKind.TRANSIENT
        if isinstance(exc, PermissionError):
            return ErrorKind.FATAL
        return ErrorKind.ITEM


@pytest.fixture
def cache(tmp_path):
    with TranslationCache(tmp_path / "c.sqlite") as c:
        yield c


def make_runner(cache, **kwargs):
    kwargs.setdefault("batch_size", 3)
    return TranslationRunner(cache, RetryPolicy(3, 0.0, 0.0), progress=False, **kwargs)


def test_batches_of_batch_size_and_duplicates_once(cache):
    provider = Upper()
    result = make_runner(cache).run(provider, ["a", "b", "a", "c", "d", "e", "f", "g"])
    assert provider.calls == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert result.translations["g"] == "G" and result.translated == 7


def test_provider_max_batch_wins_over_batch_size(cache):
    provider = Upper(max_batch=1)
    make_runner(cache).run(provider, ["a", "b"])
    assert provider.calls == [["a"], ["b"]]


def test_item_failure_in_a_batch_keeps_the_others(cache):
    provider = Upper(bad={"b"})
    runner = make_runner(cache, max_failures=5)
    result = runner.run(provider, ["a", "b", "c"])
    assert provider.calls == [["a", "b", "c"], ["a"], ["b"], ["c"]]  # bad one isolated
    assert result.translations == {"a": "A", "c": "C"}
    assert [(f.text, f.attempts) for f in result.failures] == [("b", 1)]  # items: no retry
    assert runner.failed == 1 and not runner.over_budget


def test_transient_errors_are_retried(cache):
    provider = Upper(busy={"a": 2})
    result = make_runner(cache).run(provider, ["a"])
    assert result.translations == {"a": "A"} and len(provider.calls) == 3


def test_transient_errors_give_up_after_max_attempts(cache):
    provider = Upper(max_batch=1, busy={"a": 99})
    runner = make_runner(cache)
    result = runner.run(provider, ["a", "b"])
    assert [f.attempts for f in result.failures] == [3]
    assert "gave up after 3 attempts" in result.failures[0].reason
    assert result.translations == {"b": "B"} and runner.over_budget


def test_a_streak_of_failures_stops_the_run(cache):
    provider = Upper(max_batch=1, bad={"a", "b", "c", "d"})
    runner = make_runner(cache, max_failures=100, max_consecutive_failures=2)
    result = runner.run(provider, ["ok", "a", "b", "c", "d"])
    assert provider.calls == [["ok"], ["a"], ["b"]]
    assert [f.reason for f in result.failures][2:] == [NOT_ATTEMPTED] * 2
    assert runner.failed == 4


def test_a_success_resets_the_streak(cache):
    provider = Upper(max_batch=1, bad={"a", "c"})
    result = make_runner(cache, max_failures=9, max_consecutive_failures=2).run(
        provider, ["a", "b", "c", "d"])
    assert sorted(result.translations) == ["b", "d"] and len(provider.calls) == 4


def test_fatal_error_stops_with_user_error(cache):
    with pytest.raises(UserError, match="upper en->xx: PermissionError: key rejected"):
        make_runner(cache).run(Upper(fatal={"b"}), ["a", "b"])


def test_finished_batches_are_cached_before_a_fatal_error(cache):
    with pytest.raises(UserError):
        make_runner(cache, batch_size=1).run(Upper(fatal={"c"}), ["a", "b", "c"])
    assert cache.get_many("upper", "en", "xx", ["a", "b", "c"]) == {"a": "A", "b": "B"}


def test_empty_answers_are_failures(cache):
    class Blank(Upper):
        def translate(self, texts):
            return ["" for _ in texts]

    result = make_runner(cache, max_failures=9).run(Blank(max_batch=1), ["a"])
    assert "empty translation" in result.failures[0].reason


def test_summary_and_failure_description(cache):
    result = make_runner(cache, max_failures=9).run(Upper(max_batch=1, bad={"a", "b"}),
                                                    ["a", "b", "c"])
    summary = result.summary(examples=1)
    assert summary["failed"] == 2 and len(summary["failed_examples"]) == 1
    assert result.describe_failures().startswith("en->xx via upper: 1 x NotTranslated")


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(max_attempts=6, backoff_s=0.5, backoff_max_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_rate_limiter_interval():
    assert RateLimiter(4.0).interval == 0.25
    assert RateLimiter(None).interval == 0.0
