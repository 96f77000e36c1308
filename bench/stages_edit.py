"""Re-export the edit stage's params handling for the benchmarks (stages/ is not a package)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "stages"))

from edit import method_hparams  # noqa: E402,F401
