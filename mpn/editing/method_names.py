"""Method names, without loading any method: `X+mpn` is method X with the MPN
augmentation, `mpn` is short for `patcher+mpn`, and a preset (params.yaml's `presets`:
`patcher-tuned`, `mpn-tuned`) is a name for a method with named settings. The reports
read these too."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mpn.core.errors import UserError

AUGMENTATION = "+mpn"
ALIASES = {"mpn": "patcher+mpn"}
PRESETS_SECTION = "presets"  # params.yaml: every preset under one key, visible to `dvc params diff`


@dataclass(frozen=True)
class Preset:
    """A named setting of a method (params.yaml `presets.<name>`)."""
    method: str                  # what it runs, e.g. patcher+mpn
    settings: dict               # exactly the knobs it changes (`set:`), over the method's sections
    baseline: str | None = None  # a preset of X+mpn: its like-for-like preset of X


def read_presets(params: dict[str, Any]) -> dict[str, Preset]:
    """params.yaml's `presets`, checked for shape (mpn.editing.resolver checks the values)."""
    section = params.get(PRESETS_SECTION) or {}
    if not isinstance(section, dict):
        raise UserError(f"{PRESETS_SECTION}: expected a mapping from preset name to its settings, got {section!r}")
    presets = {}
    for name, entry in section.items():
        where = f"{PRESETS_SECTION}.{name}"
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected a mapping with method, set and (optional) baseline, got {entry!r}")
        unknown = sorted(set(entry) - {"method", "set", "baseline"})
        if unknown:
            raise UserError(f"{where}.{unknown[0]}: unknown key; allowed: baseline, method, set")
        if not isinstance(entry.get("method"), str):
            raise UserError(f"{where}.method = {entry.get('method')!r}; allowed: a method name, e.g. patcher+mpn")
        if not isinstance(entry.get("set") or {}, dict):
            raise UserError(f"{where}.set = {entry['set']!r}; allowed: a mapping of hyperparameters")
        if not isinstance(entry.get("baseline"), (str, type(None))):
            raise UserError(f"{where}.baseline = {entry['baseline']!r}; allowed: the name of another preset")
        presets[name] = Preset(entry["method"], dict(entry.get("set") or {}), entry.get("baseline"))
    return presets


def split(name: str, presets: dict[str, Preset] | None = None) -> tuple[str, bool]:
    """(base method name, augmented?); a preset is its method's."""
    if presets and name in presets:
        name = presets[name].method
    full = ALIASES.get(name, name)
    return (full[:-len(AUGMENTATION)], True) if full.endswith(AUGMENTATION) else (full, False)


def base_name(name: str, presets: dict[str, Preset] | None = None) -> str:
    return split(name, presets)[0]


def like_for_like(name: str, presets: dict[str, Preset] | None = None) -> str:
    """What an augmented method is compared with: X for X+mpn (and `mpn`), a preset's
    `baseline` for a preset; a plain method's base for a plain one."""
    preset = (presets or {}).get(name)
    if preset and preset.baseline:
        return preset.baseline
    return base_name(name, presets)
