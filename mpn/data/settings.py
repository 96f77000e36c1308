"""Reading the `data` params section: shared knobs and strict per-task sections."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from mpn.data.registry import task_names
from mpn.core.errors import UserError
from mpn.core.knobs import knob, parse
from mpn.core.schema import SPLITS


@dataclass(frozen=True)
class DataConfig:
    """The `data` keys shared by every task (each task's own `data.<task>` section is
    read by its module, mpn.data.registry)."""
    SECTION: ClassVar[str] = "data"  # its key in params.yaml
    seed: int = knob(0, ge=0)
    mirror_dir: str = knob("../shared/mirror")
    download_dir: str = knob(".cache/downloads")
    split_ratios: dict = knob({"train": 0.4, "val": 0.08, "edit": 0.37, "test": 0.15})

    @classmethod
    def from_params(cls, data: Any) -> "DataConfig":
        if data is not None and not isinstance(data, dict):
            raise UserError(f"data: expected a mapping, got {data!r}")
        shared = {k: v for k, v in (data or {}).items() if k not in task_names()}
        config = parse(cls, shared, "data")
        return replace(config, split_ratios=split_ratios(config.split_ratios))

    @property
    def mirror(self) -> Path:
        return Path(self.mirror_dir)

    @property
    def downloads(self) -> Path:
        return Path(self.download_dir)


def split_ratios(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict) or set(raw) != set(SPLITS):
        raise UserError(f"data.split_ratios: {raw!r} must map exactly {', '.join(SPLITS)} "
                        "to ratios")
    for split, ratio in raw.items():
        if not isinstance(ratio, (int, float)) or ratio <= 0:
            raise UserError(f"data.split_ratios.{split}: {ratio!r} must be a number > 0")
    total = sum(raw.values())
    if abs(total - 1) > 1e-6:
        raise UserError(f"data.split_ratios: {raw!r} sums to {total:g}; the ratios must sum to 1")
    return {s: float(raw[s]) for s in SPLITS}


def task_section(data: dict[str, Any], task: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """`data.<task>` merged over `defaults`; an unknown key is an error (catches typos)."""
    given = data.get(task) or {}
    if not isinstance(given, dict):
        raise UserError(f"data.{task}: expected a mapping, got {given!r}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise UserError(f"data.{task}: unknown key {unknown[0]!r}; allowed: "
                        f"{', '.join(sorted(defaults))}")
    return {**defaults, **given}


def choice(value: Any, allowed: tuple[str, ...] | list[str], where: str) -> str:
    if value not in allowed:
        raise UserError(f"{where}: unknown value {value!r}; allowed: {', '.join(allowed)}")
    return value


def languages(value: Any, allowed: tuple[str, ...] | list[str] | None, where: str) -> list[str]:
    """A non-empty list of distinct language codes that includes English (edits are
    made in English); with `allowed`, each must be one of them."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where}: {value!r} must be a non-empty list of language codes")
    if len(set(value)) != len(value):
        raise UserError(f"{where}: {value!r} lists a language twice")
    for lang in value:
        if allowed is not None and lang not in allowed:
            raise UserError(f"{where}: unknown language {lang!r}; allowed: {', '.join(allowed)}")
    if "en" not in value:
        raise UserError(f"{where}: {value!r} must include 'en' (edits are made in English)")
    return list(value)
