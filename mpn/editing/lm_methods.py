"""Editing methods for causal LMs by name, for bench/lm_edit.py and `mpn-edit edit`: each
an editor class (one signature: model, tokenizer, hparams, memory, engine), its typed
hyperparameters, and whether it trains on sampled translations (X+mpn: k_translations)."""
from __future__ import annotations

from dataclasses import dataclass

from mpn.editing.lm_base import LMEditorBase
from mpn.editing.lm_ft import LMFineTuneHParams, LMFineTuner
from mpn.editing.lm_grace import GRACE_UNSAVED, LMGrace, LMGraceHParams
from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams


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
