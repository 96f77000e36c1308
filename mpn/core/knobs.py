"""One strict layer from a params.yaml section to a typed dataclass.

`parse(cls, section, "patcher")` checks every key against the dataclass: unknown keys,
wrong types and out-of-range values are one-line UserErrors naming the key, the bad
value and what is allowed. Bounds live beside each field:

    lr: float = knob(1e-2, gt=0)
    stop_on: str = knob("batch", choices=("batch", "english"))
"""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import yaml

from mpn.core.errors import UserError


def bounds(gt: float | None = None, ge: float | None = None, le: float | None = None,
           choices: tuple | None = None) -> dict:
    """A field's allowed values: > gt, >= ge, <= le, or one of `choices`."""
    return {"bounds": {"gt": gt, "ge": ge, "le": le, "choices": choices}}


def knob(default, **limits):
    """A dataclass field with its default and allowed values (see `bounds`); a list or
    dict default is copied for each instance."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=bounds(**limits))
    return dataclasses.field(default=default, metadata=bounds(**limits))


def parse(cls, section: Any, where: str):
    """`section` (a mapping, or None for all defaults) as an instance of dataclass `cls`."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise UserError(f"{where}: expected a mapping of keys to values, got {section!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise UserError(f"{key_of(where, unknown[0])}: unknown key; allowed: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    for name, value in section.items():
        check(key_of(where, name), value, hints[name], fields[name].metadata.get("bounds"))
    return cls(**section)


def key_of(where: str, name: str) -> str:
    """A key's name in errors: `hparams.patcher` + `lr` -> hparams.patcher.lr; a route
    that is not a section ends in a colon: `--set:` + `lr` -> `--set: lr`."""
    return f"{where} {name}" if where.endswith(":") else f"{where}.{name}"


def check(key: str, value: Any, kind, limits: dict | None) -> None:
    """UserError unless `value` is of type `kind` and within `limits`."""
    allowed = describe(kind, limits)
    if not is_instance(value, kind):
        raise UserError(f"{key} = {value!r}; allowed: {allowed}")
    if value is None or not limits:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if limits["choices"] is not None and item not in limits["choices"]:
            raise UserError(f"{key} = {value!r}; allowed: {allowed}")
        if isinstance(item, (int, float)) and not isinstance(item, bool) and not (
                (limits["gt"] is None or item > limits["gt"])
                and (limits["ge"] is None or item >= limits["ge"])
                and (limits["le"] is None or item <= limits["le"])):
            raise UserError(f"{key} = {value!r}; allowed: {allowed}")


def is_instance(value: Any, kind) -> bool:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(is_instance(value, a) for a in args)
    if kind is type(None):
        return value is None
    if origin is list:
        return isinstance(value, list) and all(is_instance(v, args[0]) for v in value)
    if kind is float:  # YAML writes 5 for 5.0
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def describe(kind, limits: dict | None) -> str:
    """What a field allows, in words: 'a number > 0', 'null or a number >= 0', ..."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe(a, limits) for a in args)
    if origin is list:
        return f"a list of {describe(args[0], limits).removeprefix('a ').removeprefix('an ')}s"
    if limits and limits["choices"] is not None:
        return "one of " + ", ".join(map(str, limits["choices"]))
    name = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(kind, str(kind))
    parts = [f"{op} {limits[key]}" for key, op in (("gt", ">"), ("ge", ">="), ("le", "<="))
             if limits and limits[key] is not None]
    return name + (" " + " and ".join(parts) if parts else "")


def assignments(items: list[str], flag: str = "--set") -> dict[str, Any]:
    """`NAME=VALUE` command-line items as {name: value}, each value read as YAML."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} {item!r}: expected NAME=VALUE, e.g. {flag} max_steps=500")
        values[key] = yaml.safe_load(value)
    return values

