"""Editing methods by name: one module per method (its typed `HParams` dataclass and its
algorithm, mpn.editing.methods.base.Method), one registry line each.

`X+mpn` is any registered method X with the MPN augmentation: its hyperparameters are
X's plus the `mpn` section's (mpn.editing.methods.base.MPNHParams), and each training step sees
the English input together with sampled translations. `mpn` is `patcher+mpn`.
params.yaml's `hparams` has one section per method; `X+mpn` reads X's, then `mpn`
(mpn.editing.resolver, which also resolves the presets).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib

from mpn.editing.method_names import ALIASES, AUGMENTATION, base_name, split
from mpn.editing.methods.base import EditRequest, Method, MethodHParams, MPNHParams, Outcome
from mpn.editing.methods.patcher import PatcherHParams
from mpn.core.errors import UserError
from mpn.core.knobs import parse

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
    """The method's dataclass with `overrides` over its defaults; any unknown key, wrong
    type or out-of-range value is a one-line UserError. From params.yaml, presets and
    command lines: mpn.editing.resolver.resolve_method."""
    return parse(hparams_class(method), dict(overrides or {}), where or f"{method} hyperparameter")


__all__ = ["ALIASES", "EditRequest", "Method", "MethodHParams", "MPNHParams", "Outcome", "PatcherHParams",
           "REGISTRY", "base_name", "hparams_class", "make_hparams", "method_class", "names", "resolve"]
