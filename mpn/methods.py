"""Editing methods by name, each with one typed hyperparameter dataclass.

Defaults follow the Transformer-Patcher code (DESIGN.md section 5); params.yaml's
`patcher:` and `mpn:` sections override them field by field.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mpn.errors import UserError


@dataclass
class PatcherHParams:
    lr: float = 1.0e-2
    weight_decay: float = 0.01
    grad_clip: float = 5.0
    max_steps: int = 2000
    n_views: int = 8                # noisy (dropout) copies of the edit input per step; 0 = clean input only
    act_coef: float = 5.0           # weight of the activation loss (the original: 1.0; see params.yaml)
    act_topk: int = 5               # activation loss: mean of the top-k of exp(-a) over the edit batch
    mem_coef: float = 5.0           # weight of the memory loss (5 for FEVER in the original)
    mem_topk: int = 1000            # memory loss: mean of the top-k over memory items
    mem_margin: float = 3.0         # memory pre-activation stays `mem_margin` below the edit's ...
    mem_threshold: float = -3.0     # ... and below `mem_threshold` in absolute terms
    value_scale: float = 10.0       # initial value of the trainable value scale
    value_norm_max: float | None = None  # project the value back to this norm after each step (None: unbounded)
    patience: int = 10              # early stop: held-out memory loss not falling for this many steps ...
    min_delta: float = 0.01         # ... by at least this fraction of its best value
    stop_silent_below: float | None = None  # ... and every held-out pre-activation is below this (None: no such condition)
    lr_patience: int = 20           # reduce-on-plateau patience (steps once the edit is right)
    lr_factor: float = 0.5
    stop_on: str = "batch"          # the edit is right when: "batch" (every row of the step's batch) or "english"
    seed: int = 0

    def __post_init__(self):
        if self.stop_on not in ("batch", "english"):
            raise UserError(f"stop_on {self.stop_on!r}; allowed: batch, english")


@dataclass
class MPNHParams(PatcherHParams):
    """Transformer-Patcher trained on the English input plus sampled translations."""
    k_translations: int = 4         # translations sampled into each step's batch
    pool_languages: list[str] | None = None     # languages MPN may sample; None = all available
    heldout_languages: list[str] = field(default_factory=list)  # never sampled: the honest transfer test
    # Language rotation (drawn by mpn.sequential, the same draw for every method): per
    # edit, this share of the edit's other languages is held out too, seeded by the edit.
    heldout_fraction: float = 0.0
    memory_per_language: int = 200  # memory items in each pool language, beside the English memory

    def samples(self, lang: str) -> bool:
        """May MPN train on (and keep its patches silent in) this language?"""
        return (lang != "en" and lang not in self.heldout_languages
                and (self.pool_languages is None or lang in self.pool_languages))


METHODS: dict[str, type[PatcherHParams]] = {"patcher": PatcherHParams, "mpn": MPNHParams}


def make_hparams(method: str, overrides: dict | None = None) -> PatcherHParams:
    """The method's dataclass with `overrides` (a params.yaml section) applied."""
    if method not in METHODS:
        raise UserError(f"unknown editing method {method!r}; allowed: {', '.join(METHODS)}")
    cls = METHODS[method]
    known = {f.name for f in dataclasses.fields(cls)}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UserError(f"unknown {method} hyperparameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    return cls(**overrides)


def method_hparams(params: dict, method: str) -> PatcherHParams:
    """From params.yaml. patcher: the `patcher` section. mpn: the `patcher` section,
    then `mpn` on top, so a change to a shared knob reaches both methods."""
    if method not in METHODS:
        raise UserError(f"unknown editing method {method!r}; allowed: {', '.join(METHODS)}")
    overrides = dict(params.get("patcher") or {})
    if method == "mpn":
        overrides.update(params.get("mpn") or {})
    return make_hparams(method, overrides)
