"""Each stage's code deps in dvc.yaml cover every module of ours its script imports,
directly or through other modules: a change to any of them makes `dvc status` report the
stage, instead of "up to date" beside results the code would no longer give."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)


def imported_names(path: Path) -> set[str]:
    """Every module name an import in `path` may load (a `from a import b` may load a.b)."""
    package = path.relative_to(REPO).parent.parts
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], node.module or ""] if node.level
                            else [node.module or ""]).strip(".")
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def our_modules(script: Path) -> set[str]:
    """The files of `mpn` a script loads: its imports, theirs, and each package's __init__."""
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path):
            parts = name.split(".")
            if parts[0] == "mpn":
                todo += [p for i in range(1, len(parts) + 1) if (p := module_file(".".join(parts[:i])))]
    return {p.relative_to(REPO).as_posix() for p in seen}


def dep_paths(stage: dict) -> list[str]:
    return [next(iter(d)) if isinstance(d, dict) else d for d in stage["deps"]]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_cover_every_module_its_script_imports(name):
    stage = STAGES[name]
    script = REPO / stage["cmd"].split()[1]
    deps = dep_paths(stage)
    missing = sorted(f for f in our_modules(script)
                     if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps))
    assert not missing, f"dvc.yaml stage {name}: add to deps {missing}"


def test_the_closure_follows_imports_through_modules():
    # stages/aggregate.py imports mpn.report.aggregate, which imports mpn.report.paired,
    # which imports mpn.metrics: the chain is followed, not just the script's own lines
    assert "mpn/metrics.py" in our_modules(REPO / "stages" / "aggregate.py")
