"""The deep-translator path against a real LibreTranslate-speaking HTTP server.

`LibreServer` answers POST /translate like LibreTranslate (q, source, target, format,
api_key in the query string, a form or a JSON body; {"translatedText": ...}) with
scripted faults per text, and logs every request. The "translation" is "<target>:<q>".
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mpn.core.errors import UserError
from mpn.translate import RetryPolicy, TranslationCache, TranslationRunner, make_provider
from libre import CLAIMS, LibreServer, make_fever_project
from stage_argv import stage_argv

REPO = Path(__file__).resolve().parents[1]


def libre(server, target="pt", timeout_s=5.0):
    return make_provider("libre", "en", target, {"url": server.url}, timeout_s)


def runner_for(tmp_path, max_attempts=3, max_failures=0):
    cache = TranslationCache(tmp_path / "cache.sqlite")
    return TranslationRunner(cache, RetryPolicy(max_attempts, backoff_s=0.01, backoff_max_s=0.05),
                             rate_limit=None, max_failures=max_failures, progress=False)


def test_libre_sends_what_libretranslate_expects(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", "secret-key")
    result = runner_for(tmp_path).run(libre(server), ["Tilda Swinton is a vegan."])
    assert result.translations == {"Tilda Swinton is a vegan.": "pt:Tilda Swinton is a vegan."}
    assert server.log == [{"q": "Tilda Swinton is a vegan.", "source": "en", "target": "pt",
                           "format": "text", "api_key": "secret-key", "outcome": 200}]


def test_429_is_retried_then_succeeds(server, tmp_path, caplog):
    server.faults = {"b": [429]}
    runner = runner_for(tmp_path)
    result = runner.run(libre(server), ["a", "b", "c"])
    assert result.translations == {"a": "pt:a", "b": "pt:b", "c": "pt:c"}
    assert server.outcomes("b") == [429, 200]
    assert result.failures == [] and runner.failed == 0
    assert "HTTP 429" in caplog.text and "retry 1/2" in caplog.text


def test_5xx_variants_are_all_transient(server, tmp_path):
    server.faults = {"a": [500], "b": [502], "c": [503]}
    result = runner_for(tmp_path).run(libre(server), ["a", "b", "c"])
    assert result.failures == []
    assert [server.outcomes(t) for t in "abc"] == [[500, 200], [502, 200], [503, 200]]


def test_repeated_500_ends_as_counted_failure(server, tmp_path):
    server.faults = {"bad": [500] * 10}
    runner = runner_for(tmp_path, max_attempts=3)
    result = runner.run(libre(server), ["ok1", "bad", "ok2"])
    assert server.outcomes("bad") == [500, 500, 500]
    assert sorted(result.translations) == ["ok1", "ok2"]
    [failure] = result.failures
    assert failure.text == "bad" and failure.attempts == 3
    assert "HTTP 500" in failure.reason and "gave up after 3 attempts" in failure.reason
    assert runner.failed == 1 and runner.over_budget  # max_failures=0


def test_timeout_is_retried(server, tmp_path):
    server.faults = {"slow": [("sleep", 1.5)]}
    result = runner_for(tmp_path).run(libre(server, timeout_s=0.3), ["slow"])
    assert result.translations == {"slow": "pt:slow"}
    assert server.outcomes("slow") == ["slow", 200]


def test_timeouts_until_gave_up(server, tmp_path):
    server.faults = {"slow": [("sleep", 1.0)] * 2}
    result = runner_for(tmp_path, max_attempts=2, max_failures=5).run(
        libre(server, timeout_s=0.2), ["slow"])
    [failure] = result.failures
    assert "timeout" in failure.reason and failure.attempts == 2


def test_refused_connection_is_transient_then_failure(tmp_path):
    srv = LibreServer()  # bound but never serving: close it to free the port
    url = srv.url
    srv._httpd.server_close()
    provider = make_provider("libre", "en", "pt", {"url": url}, 1.0)
    result = runner_for(tmp_path, max_attempts=2, max_failures=5).run(provider, ["x"])
    [failure] = result.failures
    assert failure.attempts == 2 and "ConnectionError" in failure.reason


def test_rejected_key_stops_the_run(server, tmp_path):
    server.faults = {"a": [403]}
    with pytest.raises(UserError, match="HTTP 403"):
        runner_for(tmp_path).run(libre(server), ["a", "b"])
    assert server.outcomes("a") == [403] and server.outcomes("b") == []


def test_cache_answers_second_run_without_requests(server, tmp_path):
    runner_for(tmp_path).run(libre(server), ["a", "b"])
    again = runner_for(tmp_path).run(libre(server), ["a", "b", "c"])
    assert again.from_cache == 2 and again.translated == 1
    assert server.served() == ["a", "b", "c"]


# --- the stage as a subprocess -------------------------------------------------------

def run_stage(root: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *stage_argv("translate.py", "fever")], cwd=root,
                          capture_output=True, text=True, timeout=120, **kwargs)


def output_rows(root: Path, lang: str = "pt") -> list[dict]:
    path = root / "data" / "translated" / "fever" / f"{lang}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_stage_fails_over_max_failures_and_keeps_the_cache(server, tmp_path):
    make_fever_project(tmp_path, server.url)
    server.faults = {CLAIMS[3]: [500] * 2, CLAIMS[7]: [500] * 2}
    proc = run_stage(tmp_path)
    assert proc.returncode == 2
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert "2 texts stay untranslated, more than translate.max_failures=0" in error
    assert "HTTP 500" in error and "data/cache/translations/fever.sqlite" in error
    assert not (tmp_path / "data" / "translated" / "fever").exists()  # nothing half-written
    with TranslationCache(tmp_path / "data/cache/translations/fever.sqlite") as cache:
        assert len(cache) == 10
    proc = run_stage(tmp_path)  # the server is healthy now: only the 2 failed are asked
    assert proc.returncode == 0, proc.stderr
    assert sorted(server.served()) == sorted(CLAIMS)
    rows = output_rows(tmp_path)
    assert [r["claim"] for r in rows] == [f"pt:{c}" for c in CLAIMS]
    assert rows[3] == {"id": "c3/pt", "group": "c3", "lang": "pt", "variant": "original",
                       "split": "test", "label": "SUPPORTS", "claim": f"pt:{CLAIMS[3]}"}


def test_stage_tolerates_failures_up_to_max_failures(server, tmp_path):
    make_fever_project(tmp_path, server.url, max_failures=1)
    server.faults = {CLAIMS[5]: [503] * 2}
    proc = run_stage(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "1 texts failed" in proc.stderr and "HTTP 503" in proc.stderr
    assert len(output_rows(tmp_path)) == 11
    summary = json.loads((tmp_path / "data/translated/fever/summary.json").read_text())
    assert summary["languages"]["pt"]["failed"] == 1


def test_kill_9_mid_run_loses_nothing_and_asks_nothing_twice(server, tmp_path):
    make_fever_project(tmp_path, server.url)
    server.hang_after = 5  # the 6th request is held: the client is mid-run, waiting
    proc = subprocess.Popen([sys.executable, *stage_argv("translate.py", "fever")], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert server.hanging.wait(60), "the stage never reached the 6th request"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    server.hang_after = None
    server.release()
    assert len(server.served()) == 5
    proc = run_stage(tmp_path)
    assert proc.returncode == 0, proc.stderr
    served = server.served()
    assert len(served) == len(set(served)) == len(CLAIMS)  # none requested twice
    assert [r["claim"] for r in output_rows(tmp_path)] == [f"pt:{c}" for c in CLAIMS]
    fresh = tmp_path / "fresh"  # an uninterrupted run writes the very same files
    fresh.mkdir()
    make_fever_project(fresh, server.url)
    assert run_stage(fresh).returncode == 0
    for name in ("pt.jsonl", "summary.json"):
        assert ((fresh / "data/translated/fever" / name).read_bytes()
                == (tmp_path / "data/translated/fever" / name).read_bytes())
