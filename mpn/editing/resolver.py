"""The one resolver from params.yaml to the hyperparameters a method runs with.

Every route to a knob ends here: params.yaml's `hparams` sections and `presets` (stage
hparams@<method>; `dvc exp run -S` writes params.yaml), `--set` on mpn-edit's command
line, a bench's variant string (`mpn-tuned:act_coef=50`). Layers, each over the one before:

    the method's dataclass defaults  (mpn/editing/methods/<name>.py; equal to params.yaml's,
                                      tests/test_params.py)
    hparams.<X>                      the method's own section
    hparams.mpn                      for X+mpn
    presets.<name>.set               for a preset: exactly what it changes
    overrides                        --set items, a variant's key=value items

Each layer is checked on its own (mpn.core.knobs: unknown key, type, bounds), so a
bad value is one line that names the key where it was written, whatever the route.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpn.editing.method_names import PRESETS_SECTION, Preset, base_name, read_presets, split
from mpn.editing.methods import MethodHParams, MPNHParams, hparams_class, make_hparams, names, resolve
from mpn.core.errors import UserError
from mpn.core.io import read_json
from mpn.core.knobs import parse

SECTION = "hparams"  # params.yaml: every method's section under one key, so a new method needs no dvc.yaml line


@dataclass(frozen=True)
class ResolvedMethod:
    name: str                 # as written: a method (mpn, ft+mpn) or a preset (mpn-tuned)
    method: str               # what runs: mpn-tuned -> patcher+mpn
    hparams: MethodHParams

    def as_dict(self) -> dict:
        return {"name": self.name, "method": self.method, "hparams": dataclasses.asdict(self.hparams)}


def read_resolved(path: Path, name: str) -> dict:
    """A file stage hparams@<name> writes: data/hparams/<name>.json ({name, method, hparams})
    or data/feature_needs/<name>.json."""
    if not path.exists():
        raise UserError(f"no {path}: run `dvc repro hparams@{name}` (or the whole pipeline) first")
    return read_json(path)


def resolve_method(params: dict[str, Any], name: str, overrides: dict | None = None,
                   where: str = "overrides") -> ResolvedMethod:
    """`name`'s hyperparameters from params.yaml's `hparams` and `presets`, then `overrides`
    (`where` names them in errors: "--set", "variant 'mpn:lr=2'")."""
    presets = checked_presets(params)
    preset = presets.get(name)
    if preset is None and name not in names():
        raise UserError(f"unknown editing method {name!r}; allowed: {', '.join(names())}, or a preset of "
                        f"params.yaml's `{PRESETS_SECTION}`: {', '.join(presets) or 'none given'}")
    method = preset.method if preset else name
    values = {}
    for layer in method_layers(params, method) + ([preset.settings] if preset else []):
        values.update(layer)  # each checked where it is read, so its bad value names its own key
    parse(hparams_class(method), overrides, where)
    values.update(overrides or {})
    return ResolvedMethod(name, method, make_hparams(method, values))


def method_layers(params: dict[str, Any], method: str) -> list[dict]:
    """A method's params.yaml sections, each checked alone: hparams.<X>, then hparams.mpn
    for X+mpn (hparams.mpn is checked for every method, so a bad one fails early)."""
    method_class, augmented = resolve(method)
    base = base_name(method)
    sections = params.get(SECTION) or {}
    if not isinstance(sections, dict):
        raise UserError(f"{SECTION}: expected a mapping from method to hyperparameters, got {sections!r}")
    parse(method_class.HParams, sections.get(base), f"{SECTION}.{base}")
    parse(MPNHParams, sections.get("mpn"), f"{SECTION}.mpn")
    return [sections.get(base) or {}] + ([sections.get("mpn") or {}] if augmented else [])


def checked_presets(params: dict[str, Any]) -> dict[str, Preset]:
    """params.yaml's presets, each checked: a method it runs, settings that method has
    (in range), and for a preset of X+mpn a `baseline` that is exactly its X knobs on X."""
    presets = read_presets(params)
    for name, preset in presets.items():
        where = f"{PRESETS_SECTION}.{name}"
        if name in names():
            raise UserError(f"{where}: {name!r} is a method's name; a preset needs its own")
        if preset.method not in names():
            raise UserError(f"{where}.method = {preset.method!r}; allowed: {', '.join(names())}")
        parse(hparams_class(preset.method), preset.settings, f"{where}.set")
        if preset.baseline is not None:
            check_baseline(name, preset, presets)
    return presets


def check_baseline(name: str, preset: Preset, presets: dict[str, Preset]) -> None:
    """A like-for-like baseline: X, every setting of the preset that X has, nothing else."""
    where = f"{PRESETS_SECTION}.{name}.baseline"
    base = base_name(preset.method)
    baseline = presets.get(preset.baseline)
    if baseline is None or split(baseline.method) != (base, False):
        raise UserError(f"{where} = {preset.baseline!r}; allowed: a preset whose method is {base}")
    own = {f.name for f in dataclasses.fields(hparams_class(base))}
    expected = {k: v for k, v in preset.settings.items() if k in own}
    if baseline.settings != expected:
        raise UserError(f"{where} = {preset.baseline!r}: its set is {baseline.settings!r}; a like-for-like "
                        f"baseline sets exactly the preset's {base} knobs: {expected!r}")
