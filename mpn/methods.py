"""Editing methods by name, each with one typed hyperparameter dataclass.

Defaults follow the Transformer-Patcher code (DESIGN.md section 5); params.yaml's
`patcher:` and `mpn:` sections override them field by field.
"""
from __future__ import annotations

from dataclasses import dataclass

from mpn.config import knob, parse
from mpn.errors import UserError


@dataclass
class PatcherHParams:
    lr: float = knob(1.0e-2, ge=0)
    weight_decay: float = knob(0.01, ge=0)
    grad_clip: float = knob(5.0, gt=0)
    max_steps: int = knob(2000, ge=1)
    n_views: int = knob(8, ge=0)    # noisy (dropout) copies of the edit input per step; 0 = clean input only
    act_coef: float = knob(5.0, ge=0)  # weight of the activation loss (the original: 1.0; see params.yaml)
    act_topk: int = knob(5, ge=1)   # activation loss: mean of the top-k of exp(-a) over the edit batch
    mem_coef: float = knob(5.0, ge=0)  # weight of the memory loss (5 for FEVER in the original)
    mem_topk: int = knob(1000, ge=1)   # memory loss: mean of the top-k over memory items
    mem_margin: float = knob(3.0, ge=0)  # memory pre-activation stays `mem_margin` below the edit's ...
    mem_threshold: float = knob(-3.0, le=0)  # ... and below `mem_threshold` in absolute terms
    value_scale: float = knob(10.0, gt=0)  # initial value of the trainable value scale
    value_norm_max: float | None = knob(None, gt=0)  # project the value back to this norm after each step (None: unbounded)
    patience: int = knob(10, ge=1)  # early stop: held-out memory loss not falling for this many steps ...
    min_delta: float = knob(0.01, ge=0, le=1)  # ... by at least this fraction of its best value
    stop_silent_below: float | None = knob(None)  # ... and every held-out pre-activation is below this (None: no such condition)
    lr_patience: int = knob(20, ge=0)  # reduce-on-plateau patience (steps once the edit is right)
    lr_factor: float = knob(0.5, gt=0, le=1)
    stop_on: str = knob("batch", choices=("batch", "english"))  # the edit is right when: every row of the step's batch, or the English rows
    seed: int = knob(0, ge=0)


@dataclass
class MPNHParams(PatcherHParams):
    """Transformer-Patcher trained on the English input plus sampled translations."""
    k_translations: int = knob(4, ge=0)  # translations sampled into each step's batch
    pool_languages: list[str] | None = knob(None)  # languages MPN may sample; None = all available
    heldout_languages: list[str] = knob([])  # never sampled: the honest transfer test
    # Language rotation (drawn by mpn.sequential, the same draw for every method): per
    # edit, this share of the edit's other languages is held out too, seeded by the edit.
    heldout_fraction: float = knob(0.0, ge=0, le=1)
    memory_per_language: int = knob(200, ge=0)  # memory items in each pool language, beside the English memory

    def samples(self, lang: str) -> bool:
        """May MPN train on (and keep its patches silent in) this language?"""
        return (lang != "en" and lang not in self.heldout_languages
                and (self.pool_languages is None or lang in self.pool_languages))


METHODS: dict[str, type[PatcherHParams]] = {"patcher": PatcherHParams, "mpn": MPNHParams}


def make_hparams(method: str, overrides: dict | None = None, where: str | None = None) -> PatcherHParams:
    """The method's dataclass with `overrides` (a params.yaml section) applied; any
    unknown key, wrong type or out-of-range value is a one-line UserError."""
    if method not in METHODS:
        raise UserError(f"unknown editing method {method!r}; allowed: {', '.join(METHODS)}")
    return parse(METHODS[method], dict(overrides or {}), where or f"{method} hyperparameter")


def method_hparams(params: dict, method: str) -> PatcherHParams:
    """From params.yaml. patcher: the `patcher` section. mpn: the `patcher` section,
    then `mpn` on top, so a change to a shared knob reaches both methods."""
    if method not in METHODS:
        raise UserError(f"unknown editing method {method!r}; allowed: {', '.join(METHODS)}")
    for section in ("patcher", "mpn"):
        if not isinstance(params.get(section) or {}, dict):
            raise UserError(f"{section}: expected a mapping of hyperparameters, got {params[section]!r}")
    make_hparams("patcher", params.get("patcher"), "patcher")  # each section names itself in errors
    make_hparams("mpn", params.get("mpn"), "mpn")
    overrides = dict(params.get("patcher") or {})
    if method == "mpn":
        overrides.update(params.get("mpn") or {})
    return make_hparams(method, overrides)
