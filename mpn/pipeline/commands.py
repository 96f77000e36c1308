"""The stages' commands as dvc.yaml writes them, so that whatever runs a stage outside
DVC (tests, bench/) or reads its outputs finds every path where the pipeline puts it:
dvc.yaml's `cmd` is the one place a location is written."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from mpn.core.errors import UserError

ITEM = re.compile(r"\$\{item\.(\w+)\}")


def stage_command(stage: str, item: dict[str, str] | None = None,
                  dvc_yaml: str | Path = "dvc.yaml") -> list[str]:
    """`stage`'s cmd with ${item.<key>} filled from `item`, split as a shell would:
    e.g. ["python", "stages/edit.py", "xfacts", "mpn", "--model", "models/xfacts", ...]."""
    stages = yaml.safe_load(Path(dvc_yaml).read_text(encoding="utf-8"))["stages"]
    if stage not in stages:
        raise UserError(f"{dvc_yaml}: no stage {stage!r}; allowed: {', '.join(stages)}")
    item = item or {}
    missing = sorted(set(ITEM.findall(stages[stage]["cmd"])) - set(item))
    if missing:
        raise UserError(f"{dvc_yaml}: stage {stage!r} needs {', '.join(missing)} (its matrix keys)")
    return shlex.split(ITEM.sub(lambda m: str(item[m.group(1)]), stages[stage]["cmd"]))


def stage_paths(stage: str, item: dict[str, str] | None = None,
                dvc_yaml: str | Path = "dvc.yaml") -> dict[str, Path]:
    """The command's `--name path` options: {"model": Path("models/xfacts"), ...}."""
    argv = stage_command(stage, item, dvc_yaml)
    return {flag[2:]: Path(value) for flag, value in zip(argv, argv[1:]) if flag.startswith("--")}
