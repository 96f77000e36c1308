"""The persistent cache: keyed by provider, language pair and text; survives kill -9."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from mpn.core.errors import UserError
from mpn.translate import TranslationCache


def test_keys_are_provider_pair_and_text(tmp_path):
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("google", "en", "pt", [("cat", "gato"), ("dog", "cão")])
        cache.put_many("google", "en", "es", [("cat", "gato (es)")])
        cache.put_many("libre@http://x/", "en", "pt", [("cat", "gata")])
        assert cache.get_many("google", "en", "pt", ["cat", "dog", "cow"]) == {
            "cat": "gato", "dog": "cão"}
        assert cache.get_many("google", "en", "es", ["cat", "dog"]) == {"cat": "gato (es)"}
        assert cache.get_many("libre@http://x/", "en", "pt", ["cat"]) == {"cat": "gata"}
        assert cache.get_many("google", "pt", "en", ["cat"]) == {}
        assert len(cache) == 4


def test_survives_reopening_and_large_lookups(tmp_path):
    texts = [f"text {i} ünïcødé" for i in range(1200)]  # more than one lookup chunk
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("p", "en", "pt", [(t, t[::-1]) for t in texts])
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        found = cache.get_many("p", "en", "pt", texts + ["absent"])
    assert found == {t: t[::-1] for t in texts}


def test_not_a_database_is_a_user_error(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_text("this is not sqlite, just a file that happens to be here\n" * 20)
    with pytest.raises(UserError, match=f"{path} is not a translation cache"):
        TranslationCache(path)


WRITER = """
import sys
from mpn.translate import TranslationCache
cache = TranslationCache(sys.argv[1])
for i in range(100000):
    cache.put_many("p", "en", "pt", [(f"t{i}", f"x{i}")])
    print(i, flush=True)  # committed: the parent may kill us any time after this line
"""


def test_kill_9_keeps_every_committed_translation(tmp_path):
    path = tmp_path / "c.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    reported = -1
    while reported < 200:
        reported = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    with TranslationCache(path) as cache:  # a hot journal, if any, is rolled back here
        n = len(cache)
        assert n > reported  # every commit the writer reported is there
        found = cache.get_many("p", "en", "pt", [f"t{i}" for i in range(n)])
        assert found == {f"t{i}": f"x{i}" for i in range(n)}  # no gaps, no torn rows
        cache.put_many("p", "en", "pt", [("after", "kill")])  # still writable
        assert len(cache) == n + 1
