"""Editing methods by name: one module per method (its typed `HParams` dataclass and its
algorithm, mpn.editing.methods.base.Method), one registry line each.

`X+mpn` is any registered method X with the MPN augmentation: its hyperparameters are
X's plus the `mpn` section's (mpn.editing.methods.base.MPNHParams), and each training step sees
the English input together with sampled translations. `mpn` is `patcher+mpn`.
params.yaml's `hparams` has one section per method; `X+mpn` reads X's, then `mpn`.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib

from mpn.editing.method_names import ALIASES, AUGMENTATION, PRESETS, base_name, split
from mpn.editing.methods.base import EditRequest, Method, MethodHParams, MPNHParams, Outcome
from mpn.editing.methods.patcher import PatcherHParams
from mpn.pipeline.errors import UserError
from mpn.pipeline.knobs import parse

# name -> "module:class": one line per method, imported when first used
REGISTRY: dict[str, str] = {
    "patcher": "mpn.editing.methods.patcher:Patcher",
    "ft": "mpn.editing.methods.ft:FineTune",
    "grace": "mpn.editing.methods.grace:Grace",
}


def resolve(name: str) -> tuple[type[Method], bool]:
    """(method class, augmented?) for a name such as `patcher`, `ft+mpn` or `mpn`."""
    base, augmented = split(name)
    if base not in REGISTRY:
        raise UserError(f"unknown editing method {name!r}; allowed: {', '.join(names())}")
    return method_class(base), augmented


@functools.cache
def method_class(base: str) -> type[Method]:
    module, _, cls = REGISTRY[base].partition(":")
    return getattr(importlib.import_module(module), cls)


def names() -> list[str]:
    """Every method name the registry accepts."""
    return [n for base in REGISTRY for n in (base, base + AUGMENTATION)] + list(ALIASES)


@functools.cache
def hparams_class(name: str) -> type[MethodHParams]:
    """X's HParams, or for X+mpn a dataclass with X's fields and the augmentation's."""
    method, augmented = resolve(name)
    if not augmented:
        return method.HParams
    return dataclasses.make_dataclass(f"{method.HParams.__name__[:-len('HParams')]}MPNHParams", [],
                                      bases=(MPNHParams, method.HParams))


def make_hparams(method: str, overrides: dict | None = None, where: str | None = None) -> MethodHParams:
    """The method's dataclass with its preset (mpn-tuned's settings) and `overrides` (a
    params.yaml section) applied; any unknown key, wrong type or out-of-range value is a
    one-line UserError."""
    return parse(hparams_class(method), {**PRESETS.get(method, {}), **(overrides or {})},
                 where or f"{method} hyperparameter")


SECTION = "hparams"  # params.yaml: every method's section under one key, so the edit stage
                     # depends on one key and a new method needs no dvc.yaml line


def method_hparams(params: dict, method: str) -> MethodHParams:
    """From params.yaml: `hparams.X`, for X+mpn `hparams.mpn` on top, then a preset's
    settings and its own section (`hparams.mpn-tuned`), if any."""
    base = base_name(method)
    augmented = resolve(method)[1]
    sections = params.get(SECTION) or {}
    if not isinstance(sections, dict):
        raise UserError(f"{SECTION}: expected a mapping from method to hyperparameters, got {sections!r}")
    for name in (base, "mpn"):
        if not isinstance(sections.get(name) or {}, dict):
            raise UserError(f"{SECTION}.{name}: expected a mapping of hyperparameters, got {sections[name]!r}")
    make_hparams(base, sections.get(base), f"{SECTION}.{base}")  # each section names itself in errors
    parse(MPNHParams, dict(sections.get("mpn") or {}), f"{SECTION}.mpn")
    overrides = dict(sections.get(base) or {})
    if augmented:
        overrides.update(sections.get("mpn") or {})
    if method in PRESETS:
        overrides.update(PRESETS[method])
        overrides.update(sections.get(method) or {})
    return make_hparams(method, overrides)


__all__ = ["ALIASES", "EditRequest", "Method", "MethodHParams", "MPNHParams", "Outcome", "PatcherHParams",
           "PRESETS", "REGISTRY", "SECTION", "base_name", "hparams_class", "make_hparams", "method_class", "method_hparams",
           "names", "resolve"]
