"""The architecture, checked: the layers of mpn/ import only the layers below them, no
module imports another inside a function or in a cycle, and each stage's code deps in
dvc.yaml cover every module of ours its script imports, directly or through other
modules (a change to any of them makes `dvc status` report the stage, instead of "up to
date" beside results the code would no longer give)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from mpn.pipeline.commands import stage_paths

REPO = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    base = REPO.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)


# layer -> the layers it may import (each package's __init__ docstring says the same);
# `mpn` itself (the version) may be imported by any
LAYERS = {
    "core": set(),
    "pipeline": {"core"},
    "data": {"core"},
    "translate": {"core", "data"},
    "model": {"core"},
    "editing": {"core", "model"},
    "experiment": {"core", "data", "model", "editing"},
    "report": {"core", "pipeline", "data", "editing", "experiment"},
    "cli": {"core", "pipeline", "data", "translate", "model", "editing", "experiment"},  # mpn/cli/, the mpn-edit command
}


def import_nodes(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in `path`, but those under `if TYPE_CHECKING:` (never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skipped]


def imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, None) for each `import module`, (base, name) for each `from base import name`."""
    pairs = []
    for node in import_nodes(path):
        if isinstance(node, ast.Import):
            pairs += [(alias.name, None) for alias in node.names]
        else:
            pairs += [(_from_base(path, node), alias.name) for alias in node.names]
    return pairs


def imported_names(path: Path) -> set[str]:
    """Every module name an import in `path` may load (a `from a import b` may load a.b)."""
    return {name for base, alias in imports(path) for name in (base, *([f"{base}.{alias}"] if alias else []))}


def _from_base(path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = path.relative_to(REPO).parent.parts
    return ".".join([*package[:len(package) - node.level + 1], node.module or ""]).strip(".")


def direct_imports(path: Path) -> set[str]:
    """The modules of ours `path` names: `from a import b` is a.b when that is a module,
    else a (a package's __init__ runs before any of its modules: not an edge)."""
    out = {f"{base}.{alias}" if alias and module_file(f"{base}.{alias}") else base for base, alias in imports(path)}
    return {name for name in out if name.split(".")[0] == "mpn" and module_file(name)}


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


UNTRACKED_OPTIONS = {"timings", "checkpoints"}  # the edit stage's machine-local files: no dep, no out


def out_paths(stage: dict) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o
            for key in ("outs", "metrics", "plots") for o in stage.get(key, [])]


def covers(folder: str, path: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stage_command_names_every_path_it_reads_or_writes(name):
    """The script takes its locations from its cmd (no folder written in the code), so the
    cmd's paths and DVC's deps and outs must agree: every path option is a declared dep or
    out (or a folder holding them), and every out lies under one of the options."""
    stage = STAGES[name]
    item = {key: f"${{item.{key}}}" for key in stage.get("matrix", {})}
    options = {k: p.as_posix() for k, p in stage_paths(name, item, REPO / "dvc.yaml").items()
               if k not in UNTRACKED_OPTIONS}
    declared = dep_paths(stage) + out_paths(stage)
    stray = {k: p for k, p in options.items() if not any(covers(p, d) or covers(d, p) for d in declared)}
    assert not stray, f"dvc.yaml stage {name}: its cmd names paths no dep or out declares: {stray}"
    hidden = [o for o in out_paths(stage) if not any(covers(p, o) for p in options.values())]
    assert not hidden, f"dvc.yaml stage {name}: outs its cmd does not name: {hidden}"


def test_the_closure_follows_imports_through_modules():
    # stages/aggregate.py imports mpn.report.aggregate, which imports mpn.report.paired,
    # which imports mpn.experiment.metrics: the chain is followed, not just the script's own lines
    assert "mpn/experiment/metrics.py" in our_modules(REPO / "stages" / "aggregate.py")


def layer_of(name: str) -> str | None:
    """mpn.editing.engines -> editing; mpn.cli -> cli; mpn -> None (any layer may)."""
    parts = name.split(".")
    return parts[1] if parts[0] == "mpn" and len(parts) > 1 else None


MODULES = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
           for p in sorted((REPO / "mpn").rglob("*.py")) if "vendor" not in p.parts}


def upward_imports(modules: dict[str, Path]) -> list[str]:
    bad = []
    for name, path in modules.items():
        layer = layer_of(name)
        for target in direct_imports(path):
            other = layer_of(target)
            if layer and other and other != layer and other not in LAYERS[layer]:
                bad.append(f"{name} ({layer}) imports {target} ({other})")
    return sorted(bad)


def test_every_layer_is_known():
    assert {layer_of(name) for name in MODULES} - {None} == set(LAYERS)


def test_no_layer_imports_a_layer_above_it():
    assert upward_imports(MODULES) == []


def test_the_layer_check_finds_an_upward_import(tmp_path):
    # the model layer reaching up into the editing layer is reported
    bad = tmp_path / "mpn" / "model" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from mpn.editing.editor import Editor\n")
    assert upward_imports({"mpn.model.bad": bad}) == ["mpn.model.bad (model) imports mpn.editing.editor (editing)"]


def test_no_import_of_ours_inside_a_function():
    inner = [f"{name}:{node.lineno}" for name, path in MODULES.items() for node in import_nodes(path)
             if node.col_offset and any(a.startswith("mpn") for a in _modules_of(node))]
    assert inner == []


def _modules_of(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]


def test_no_import_cycles():
    graph = {name: {t for t in direct_imports(path) if t in MODULES and t != name} for name, path in MODULES.items()}
    assert find_cycle(graph) is None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the import graph, as a path, or None (depth-first, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if not state.get(nxt) and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    return next((c for node in sorted(graph) if not state.get(node) and (c := visit(node))), None)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
