"""Editing methods for causal LMs by name, for the pipeline's completion tasks,
bench/lm_edit.py and `mpn-edit`: each an editor class (one signature: model, tokenizer,
hparams, memory, engine), its typed hyperparameters, and whether it trains on sampled
translations (X+mpn: k_translations); and the resolver from params.yaml's `lm.hparams`
and `presets` to what a pipeline method runs on an LM."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mpn.core.errors import UserError
from mpn.core.knobs import knob, parse
from mpn.editing.lm_base import LMEditorBase
from mpn.editing.lm_ft import LMFineTuneHParams, LMFineTuner
from mpn.editing.lm_grace import GRACE_UNSAVED, LMGrace, LMGraceHParams
from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
from mpn.editing.method_names import read_presets, split


@dataclass(frozen=True)
class LMMethod:
    editor: type[LMEditorBase]
    hparams: type
    translations: bool            # X+mpn: each step also trains on sampled translations
    unsaved: str | None = None    # why its edits cannot be saved as a folder (None: they can)


LM_METHODS = {
    "patcher": LMMethod(LMEditor, LMPatcherHParams, False),
    "mpn": LMMethod(LMEditor, LMPatcherHParams, True),
    "ft": LMMethod(LMFineTuner, LMFineTuneHParams, False),
    "ft+mpn": LMMethod(LMFineTuner, LMFineTuneHParams, True),
    "grace": LMMethod(LMGrace, LMGraceHParams, False, GRACE_UNSAVED),
    "grace+mpn": LMMethod(LMGrace, LMGraceHParams, True, GRACE_UNSAVED),
}
PAIRS = [("mpn", "patcher"), ("ft+mpn", "ft"), ("grace+mpn", "grace")]   # X+mpn is compared to X
DEFAULT_K_TRANSLATIONS = 2   # X+mpn: translations in each step's batch
SECTION = "lm"               # params.yaml: lm.hparams.<X> and lm.hparams.mpn


@dataclass
class LMAugmentHParams:
    """lm.hparams.mpn: what X+mpn adds to X on a causal LM."""
    k_translations: int = knob(DEFAULT_K_TRANSLATIONS, ge=1)


def lm_name(method: str) -> str:
    """The LM_METHODS name of a pipeline method (patcher+mpn -> mpn)."""
    base, augmented = split(method)
    name = "mpn" if (base, augmented) == ("patcher", True) else base + ("+mpn" if augmented else "")
    if name not in LM_METHODS:
        raise UserError(f"method {method!r} has no causal-LM form; allowed: {', '.join(LM_METHODS)}")
    return name


def resolve_lm_method(params: dict[str, Any], name: str) -> dict:
    """What pipeline method `name` (a method or a preset) runs on a causal LM: its
    LM_METHODS name and hyperparameters, layered as the classifiers' are
    (mpn.editing.resolver): the dataclass defaults, lm.hparams.<X>, lm.hparams.mpn for X+mpn,
    then a preset's settings that the LM class has; those it lacks are listed as
    `not_applicable`, so both sides of a like-for-like pair drop the same ones."""
    preset = read_presets(params).get(name)
    method = lm_name(preset.method if preset else name)
    spec = LM_METHODS[method]
    sections = (params.get(SECTION) or {}).get("hparams") or {}
    if not isinstance(sections, dict):
        raise UserError(f"{SECTION}.hparams: expected a mapping from method to hyperparameters, got {sections!r}")
    base = split(method)[0]
    values = dataclasses.asdict(parse(spec.hparams, sections.get(base), f"{SECTION}.hparams.{base}"))
    augment = parse(LMAugmentHParams, sections.get("mpn"), f"{SECTION}.hparams.mpn")
    values["k_translations"] = augment.k_translations if spec.translations else 0
    settings = preset.settings if preset else {}
    own = {f.name for f in dataclasses.fields(spec.hparams)}
    values.update({key: value for key, value in settings.items() if key in own})
    hparams = parse(spec.hparams, values, f"presets.{name}.set" if preset else f"{SECTION}.hparams.{base}")
    return {"method": method, "hparams": dataclasses.asdict(hparams),
            "not_applicable": sorted(set(settings) - own)}


def make_lm_hparams(resolved: dict):
    """The typed hyperparameters of a `resolve_lm_method` result."""
    return parse(LM_METHODS[resolved["method"]].hparams, resolved["hparams"], "lm hyperparameters")
