"""FT-L for decoder language models (Zhu et al. 2020; EasyEdit's FT-L), with the MPN
augmentation as `k_translations`: one MLP's output projection (the last layer's by
default) fine-tuned on the edit's target tokens (teacher-forced), every weight's change
per edit bounded in L-infinity, as the classifiers' FT-L (mpn.editing.methods.ft).

The change is an addition to the MLP's output, `units(h) @ delta.T` (mpn.model.lm's
`LMSite.inner`), so the cached engine is exact here too, and the editor shares the
patch editor's rates and engines (mpn.editing.lm_base). Unlike a patch neuron, the
change reaches every input of the layer: FT-L has no memory and no locality term.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mpn.core.knobs import knob
from mpn.editing.lm_base import LMEditorBase, LMEditResult
from mpn.model.lm import LMSite
from mpn.model.lm_portable import merge_output_change


@dataclass
class LMFineTuneHParams:
    lr: float = knob(1.0e-3, gt=0)          # Adam on the edit's change to the output projection
    max_steps: int = knob(100, ge=1)        # stops earlier once every completion of the step's batch is right
    norm_bound: float = knob(5.0e-3, gt=0)  # L-infinity bound on each weight's change per edit
    k_translations: int = knob(0, ge=0)     # +mpn: translations in each step's batch (0: FT-L)
    layer: int = knob(-1)                   # which decoder layer's MLP (negative: from the end); not the last: full engine only
    seed: int = knob(0, ge=0)


class OutputDelta(nn.Module):
    """The edits' change to the site MLP's output projection, (hidden, units): the sum of
    the finished edits' and at most one pending, trainable one."""

    def __init__(self, site: LMSite):
        super().__init__()
        self.site = site
        units = site.inner(torch.zeros(1, site.hidden)).shape[-1]
        self.delta = nn.Parameter(torch.zeros(site.hidden, units), requires_grad=False)   # (hidden, units)
        self.pending: nn.Parameter | None = None
        self.edits = 0

    @property
    def count(self) -> int:
        return self.edits + (self.pending is not None)

    def start(self) -> nn.Parameter:
        self.pending = nn.Parameter(torch.zeros_like(self.delta))
        return self.pending

    def commit(self) -> None:
        self.delta.data += self.pending.detach()
        self.pending, self.edits = None, self.edits + 1

    def discard(self) -> None:
        self.pending = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """What the change adds to the MLP's output. (..., hidden) -> (..., hidden)"""
        delta = self.delta if self.pending is None else self.delta + self.pending
        return self.site.inner(h) @ delta.T


class LMFineTuner(LMEditorBase):
    """Sequential FT-L edits of a causal LM (`edit`); `delta` holds their change."""

    def __init__(self, model, tokenizer, hparams: LMFineTuneHParams | None = None,
                 memory: Sequence[str] | Mapping[str, Sequence[str]] = (),
                 engine: str = "cached"):
        """`memory` is taken for the editors' one signature and not used: FT-L keeps none."""
        self.hparams = hparams or LMFineTuneHParams()
        super().__init__(model, tokenizer, engine, self.hparams.layer)
        self.delta = OutputDelta(self.site)
        self._attach(self.delta)

    def edit(self, prompt: str, target: str, translations: dict[str, tuple[str, str]] | None = None,
             heldout: Sequence[str] = ()) -> LMEditResult:
        """One FT-L edit (LMEditorBase.edit): a bounded change of the output projection."""
        start_time = time.perf_counter()
        hp = self.hparams
        english, pool, rng = self._request(prompt, target, translations, heldout, hp.k_translations, hp.seed)
        pending = self.delta.start()
        optimizer = torch.optim.Adam([pending], lr=hp.lr)
        steps, trained = 0, set()
        try:
            for steps in range(1, hp.max_steps + 1):
                batch = self._batch(english, pool, rng, hp.k_translations)
                trained.update(batch.langs)
                if batch.right:
                    break
                loss = F.cross_entropy(batch.logits, batch.targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    pending.clamp_(-hp.norm_bound, hp.norm_bound)
        except BaseException:
            self.delta.discard()  # all or nothing: the model is as before the call
            raise
        self.delta.commit()
        self.n_edits += 1
        return LMEditResult(self.completes(prompt, target), steps, time.perf_counter() - start_time, sorted(trained))

    def merge_into(self, model) -> None:
        """The change into `model`'s output projection (a copy of this editor's model)."""
        merge_output_change(model, self.delta.delta, self.site.layer)
