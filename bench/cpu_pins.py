"""What the CPU pins (mpn/pipeline/cpu.py) cost and what they fix, one stage at a time.

    python bench/cpu_pins.py --stage finetune xfacts --outs models/xfacts reports/tasks/xfacts/base.json

Runs one stage script several times on the same inputs, each under one configuration,
and prints one JSON line per run: its seconds and a SHA-256 per output. Run it in a
scratch clone whose upstream outputs are in place (`dvc checkout`): each run overwrites
the stage's own outputs, and nothing upstream changes between runs.

The configurations stand in for other CPUs, since one machine has one instruction set:
`unpinned` is this CPU's fastest kernels; `unpinned-sse4` caps every library at SSE4.2
(what an older CPU runs); `pinned` is the stage runner's pins; `pinned-sse4` adds MKL's
own instruction cap on top; `pinned-1thread` runs torch on one thread where a stage
takes the core count. The pins work if the pinned runs give equal bytes while the two
unpinned ones differ. A CPU with AVX-512 is not tried here: say so with the figures.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mpn.pipeline.cpu import PINS  # noqa: E402

CAPS = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "DNNL_MAX_CPU_ISA": "SSE41",
        "NPY_DISABLE_CPU_FEATURES": PINS["NPY_DISABLE_CPU_FEATURES"], "OPENBLAS_CORETYPE": "Nehalem",
        "NUMBA_CPU_NAME": "generic"}
NO_PINS = {"MPN_UNPINNED": "1"}  # mpn.pipeline.cpu: leave the libraries' own choice (this bench only)
CONFIGS = {"unpinned": NO_PINS, "unpinned-sse4": {**NO_PINS, **CAPS},
           "pinned": {}, "pinned-sse4": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
           "pinned-1thread": {"OMP_NUM_THREADS": "1"}}  # torch's default threads: the core count
CHECKPOINTS = Path("data/checkpoints")  # the only folders --fresh may delete


def digest(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (names and bytes, sorted)."""
    h = hashlib.sha256()
    for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        h.update(file.relative_to(path.parent).as_posix().encode())
        h.update(file.read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", nargs="+", required=True, help="script name and its arguments")
    parser.add_argument("--outs", nargs="+", type=Path, required=True)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--fresh", type=Path, help="a folder deleted before each run (the edit stage's "
                        "checkpoints, which a rerun would load instead of editing)")
    args = parser.parse_args()
    if args.fresh and not args.fresh.resolve().is_relative_to(CHECKPOINTS.resolve()):
        parser.error(f"--fresh {args.fresh}: is deleted before each run; allowed: a folder under {CHECKPOINTS}/")
    script, *stage_args = args.stage
    for name in args.configs:
        if args.fresh:
            shutil.rmtree(args.fresh, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if k not in PINS}
        env.update(CONFIGS[name])
        start = time.perf_counter()
        subprocess.run([sys.executable, f"stages/{script}.py", *stage_args], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        print(json.dumps({"stage": " ".join(args.stage), "config": name, "seconds": round(seconds, 1),
                          "outs": {str(p): digest(p) for p in args.outs}}), flush=True)


if __name__ == "__main__":
    main()
