"""The stage runner pins every numeric library to one code path per instruction-set
level (mpn/pipeline/cpu.py), whatever environment the stage was started from."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mpn.pipeline.cpu import AVX2, OPT_OUT, PINS, SSE42, has_avx2_and_fma, is_x86_64

# A stage whose main() reports what the libraries read when they loaded. They load
# before run_stage, as in every stage script, so the pins can only take hold by a restart.
STAGE = """
import os, numba.core.config, torch
from mpn.pipeline.stage import run_stage
run_stage(lambda: print(numba.core.config.CPU_NAME, os.environ.get("MKL_CBWR"), flush=True))
"""


def run_stage_in(env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-c", STAGE], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def unpinned_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in PINS and k != OPT_OUT}


@pytest.mark.skipif(not is_x86_64(), reason="the pins are for x86-64 CPUs")
def test_a_stage_started_without_the_pins_runs_pinned_and_once():
    out = run_stage_in(unpinned_environment())
    assert out == f"{PINS['NUMBA_CPU_NAME']} {PINS['MKL_CBWR']}\n"  # once: the restart ran main() alone


def test_the_opt_out_leaves_the_libraries_their_own_choice():
    assert run_stage_in({**unpinned_environment(), OPT_OUT: "1"}) == "None None\n"


def test_the_pin_level_follows_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma bmi2\n")
    assert has_avx2_and_fma(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 avx\n")  # Sandy Bridge: AVX, no AVX2
    assert not has_avx2_and_fma(cpuinfo)
    assert set(AVX2) == set(SSE42)  # either level pins every library
    assert PINS == (AVX2 if has_avx2_and_fma(Path("/proc/cpuinfo")) else SSE42)
