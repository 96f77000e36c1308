"""Stage commands for tests that run a script outside DVC: exactly as dvc.yaml writes them."""
from __future__ import annotations

from pathlib import Path

import yaml

from mpn.pipeline.commands import stage_command

REPO = Path(__file__).resolve().parents[1]


def stage_argv(script: str, *items: str, root: Path = REPO) -> list[str]:
    """("edit.py", "xfacts", "mpn") -> [<root>/stages/edit.py, xfacts, mpn, --model, models/xfacts, ...]:
    `items` fill the stage's matrix keys in dvc.yaml's order; paths stay relative to the cwd."""
    stage = script.removesuffix(".py")
    spec = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]
    argv = stage_command(stage, dict(zip(spec.get("matrix", {}), items)), REPO / "dvc.yaml")
    assert argv[:2] == ["python", f"stages/{script}"], argv
    return [str(root / "stages" / script), *argv[2:]]
