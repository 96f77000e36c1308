"""Editing methods by name: one module per method (its typed `HParams` dataclass and its
algorithm, mpn.methods.base.Method), one registry line each.

`X+mpn` is any registered method X with the MPN augmentation: its hyperparameters are
X's plus the `mpn` section's (mpn.methods.base.MPNHParams), and each training step sees
the English input together with sampled translations. `mpn` is `patcher+mpn`.
params.yaml has one section per method; `X+mpn` reads X's section, then `mpn`.
"""
from __future__ import annotations

import dataclasses
import functools

from mpn.config import parse
from mpn.errors import UserError
from mpn.method_names import ALIASES, AUGMENTATION, base_name, split
from mpn.methods.base import EditRequest, Method, MethodHParams, MPNHParams, Outcome
from mpn.methods.ft import FineTune
from mpn.methods.grace import Grace
from mpn.methods.patcher import Patcher, PatcherHParams

REGISTRY: dict[str, type[Method]] = {
    "patcher": Patcher,
    "ft": FineTune,
    "grace": Grace,
}


def resolve(name: str) -> tuple[type[Method], bool]:
    """(method class, augmented?) for a name such as `patcher`, `ft+mpn` or `mpn`."""
    base, augmented = split(name)
    if base not in REGISTRY:
        raise UserError(f"unknown editing method {name!r}; allowed: {', '.join(names())}")
    return REGISTRY[base], augmented


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
    """The method's dataclass with `overrides` (a params.yaml section) applied; any
    unknown key, wrong type or out-of-range value is a one-line UserError."""
    return parse(hparams_class(method), dict(overrides or {}), where or f"{method} hyperparameter")


def method_hparams(params: dict, method: str) -> MethodHParams:
    """From params.yaml: X's section, and for X+mpn the `mpn` section on top."""
    base = base_name(method)
    resolve(method)
    for section in (base, "mpn"):
        if not isinstance(params.get(section) or {}, dict):
            raise UserError(f"{section}: expected a mapping of hyperparameters, got {params[section]!r}")
    make_hparams(base, params.get(base), base)  # each section names itself in errors
    parse(MPNHParams, dict(params.get("mpn") or {}), "mpn")
    overrides = dict(params.get(base) or {})
    if resolve(method)[1]:
        overrides.update(params.get("mpn") or {})
    return make_hparams(method, overrides)


__all__ = ["ALIASES", "EditRequest", "Method", "MethodHParams", "MPNHParams", "Outcome", "PatcherHParams",
           "REGISTRY", "base_name", "hparams_class", "make_hparams", "method_hparams", "names", "resolve"]
