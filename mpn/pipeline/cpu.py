"""One arithmetic on every x86-64 CPU, so a stage writes the same bytes on any machine.

torch, MKL, oneDNN, NumPy, OpenBLAS and numba each pick their kernels by the instruction
set the CPU has (SSE4.2, AVX2, AVX-512) and each set rounds differently, so the same
params gave fine-tuned weights that differ in the last bits on another machine, and
every stage after them reran. The pins below choose one code path in each library: the
AVX2 one on every CPU that has AVX2 and FMA (Intel since 2013, AMD since 2017; an
AVX-512 CPU then runs AVX2 code too), else the SSE4.2 one. The libraries read them when
they load, so the stage runner (mpn.pipeline.stage.run_stage) restarts the process with them before
a stage does any work. What they cost and what they fix: docs/benchmarks.md,
"Byte-identical across CPUs". MPN_UNPINNED=1 in the environment leaves each library its
own choice (the outputs then depend on the CPU).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

AVX2 = {
    "ATEN_CPU_CAPABILITY": "avx2",           # torch's own kernels (else AVX-512 where the CPU has it)
    "MKL_CBWR": "AVX2,STRICT",               # torch's BLAS: MKL's reproducible mode, any thread count
    "DNNL_MAX_CPU_ISA": "AVX2",              # oneDNN, torch's other kernel library
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy: its AVX2 loops at most
    "OPENBLAS_CORETYPE": "Haswell",          # NumPy's and SciPy's BLAS
    # numba compiles for this CPU, not the host: with fastmath the vector width decides
    # the order of a sum. The features must be named too, or numba takes the host's.
    "NUMBA_CPU_NAME": "haswell",
    "NUMBA_CPU_FEATURES": "+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,"
                          "+popcnt,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,-avx512f",
}
SSE42 = {  # CPUs without AVX2 or FMA: their own results, the same on every such CPU
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "SSE4_2,STRICT",
    "DNNL_MAX_CPU_ISA": "SSE41",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Nehalem",
    "NUMBA_CPU_NAME": "generic",
    "NUMBA_CPU_FEATURES": "",
}
OPT_OUT = "MPN_UNPINNED"


def has_avx2_and_fma(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """From the kernel's CPU flags; where there are none to read (macOS, Windows), an
    x86-64 CPU of the last ten years is assumed."""
    if not cpuinfo.exists():
        return True
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("flags")), [])
    return {"avx2", "fma"} <= set(flags)


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


PINS = AVX2 if has_avx2_and_fma() else SSE42


def is_pinned() -> bool:
    return all(os.environ.get(name) == value for name, value in PINS.items())


def pin_arithmetic() -> None:
    """Restart this process with PINS set, unless they already are, the CPU is not x86-64
    or the user opted out (then return at once). A restart, not a setenv: torch and
    NumPy read them when they load, and a stage script has imported them by now."""
    if is_pinned() or os.environ.get(OPT_OUT) == "1" or not is_x86_64():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, **PINS})
