"""The persistent translation cache: finished translations survive any interruption.

Why sqlite rather than an append-only jsonl: each commit is atomic and durable (rollback
journal, synchronous=FULL), so a kill -9 at any moment leaves every committed translation
readable and never a torn record, with no tolerant-reader logic of our own; lookups by
(provider, language pair, text) are indexed; and it is one file, which DVC keeps as a
`persist: true` output so `dvc repro` never deletes it.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Iterable

from mpn.core.errors import UserError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS translations (
    provider TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    text TEXT NOT NULL,
    translation TEXT NOT NULL,
    PRIMARY KEY (provider, source, target, text)
) WITHOUT ROWID
"""
_LOOKUP_CHUNK = 500  # stays far below sqlite's limit on bound variables


class TranslationCache:
    """Translations keyed by provider, language pair and source text."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path)
        try:
            self._conn.execute("PRAGMA journal_mode=DELETE")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise UserError(f"{self.path} is not a translation cache ({err}); "
                            "move it away to start a new one") from None

    def get_many(self, provider: str, source: str, target: str,
                 texts: Iterable[str]) -> dict[str, str]:
        """The cached translations among `texts` (missing ones are absent)."""
        texts = list(dict.fromkeys(texts))
        found: dict[str, str] = {}
        for start in range(0, len(texts), _LOOKUP_CHUNK):
            chunk = texts[start:start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT text, translation FROM translations WHERE provider=? AND source=? "
                f"AND target=? AND text IN ({marks})", [provider, source, target, *chunk])
            found.update(rows)
        return found

    def put_many(self, provider: str, source: str, target: str,
                 pairs: Iterable[tuple[str, str]]) -> None:
        """Store (text, translation) pairs in one committed transaction."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO translations VALUES (?, ?, ?, ?, ?)",
                [(provider, source, target, text, out) for text, out in pairs])

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM translations").fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "TranslationCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
