"""Transformer-Patcher and MPN for decoder language models: one patch neuron per edit in
one MLP (the last layer's by default, mpn.model.lm), trained teacher-forced on every token
of the edit's new completion; in the last layer on cached MLP inputs (exact: no input of
that MLP depends on the patch), elsewhere in the full model.

An edit is a prompt and its new object (`"The currency of Japan is the"`, `" euro"`); it
succeeds when every target token is the greedy next token after the prompt and the
target tokens before it. With the MPN augmentation (`k_translations` > 0) each step's
batch also holds the target positions of `k` translations (prompt and object in another
language), sampled from the languages not held out for the edit; a held-out language
enters no term of the loss. The loss is the classifiers' (mpn.editing.losses): the
targets' cross-entropy + act_coef * activation loss on the edit positions' gate
pre-activations + mem_coef * memory loss on every position of the memory prompts and on
the positions every earlier edit trained on (as Transformer-Patcher keeps past edits).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from mpn.core.knobs import knob
from mpn.editing.lm_base import ENGINES, Completion, LMEditorBase, LMEditResult, locality
from mpn.editing.gate import largest_right_shift
from mpn.editing.losses import activation_loss, memory_loss
from mpn.model.lm import LMPatches
from mpn.model.lm_portable import merge_patches

__all__ = ["ENGINES", "LMEditResult", "LMEditor", "LMPatcherHParams", "locality"]


@dataclass
class LMPatcherHParams:
    lr: float = knob(5.0e-2, gt=0)          # Adam on the pending patch
    max_steps: int = knob(300, ge=1)
    act_coef: float = knob(1.0, ge=0)       # weight of the activation loss
    act_topk: int = knob(5, ge=1)
    mem_coef: float = knob(1.0, ge=0)       # weight of the memory loss
    mem_topk: int = knob(1000, ge=1)
    mem_margin: float = knob(3.0, ge=0)     # memory gate pre-activations stay this far below the edit's ...
    mem_threshold: float = knob(-3.0, le=0)  # ... and below this
    value_norm_max: float | None = knob(None, gt=0)  # project the value back to this norm after each step
    # once the edit is right: stop when the memory loss has not fallen for this many steps
    patience: int = knob(10, ge=1)
    # then lower the bias until the memory's gate pre-activations are below this, as far as the edit stays right
    silence_below: float | None = knob(None, le=0)
    # then scale the gate key and bias by this and the value by its inverse (null: off): the
    # same unit where the gate fires, GELU's dip where it is silent this many times narrower
    sharpen: float | None = knob(None, ge=1)
    k_translations: int = knob(0, ge=0)     # MPN: translations in each step's batch (0: Transformer-Patcher)
    layer: int = knob(-1)                   # which decoder layer's MLP (negative: from the end); not the last: full engine only
    seed: int = knob(0, ge=0)


class LMEditor(LMEditorBase):
    """Sequential edits of a causal LM, one patch neuron each (`edit`); `patches` holds
    them, hooked into the `layer` knob's MLP."""

    def __init__(self, model, tokenizer, hparams: LMPatcherHParams | None = None,
                 memory: Sequence[str] | Mapping[str, Sequence[str]] = (), engine: str = "cached"):
        self.hparams = hparams or LMPatcherHParams()
        super().__init__(model, tokenizer, engine, self.hparams.layer)
        self.patches = LMPatches(self.site.hidden, self.site.activation, self.site.gated)
        self._attach(self.patches)
        # (memory positions, hidden) and each one's language: an edit masks its held-out ones
        self.memory, self.memory_langs = self.memory_positions(memory)
        self.unrelated, self.unrelated_langs = self.memory, list(self.memory_langs)   # before any edit

    def _memory_for(self, heldout: frozenset[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The memory an edit's loss may see (no position in a held-out language) and
        where its new key is centred: the unrelated memory's mean over those languages (an
        LM's hidden states share a large common part: uncentred, the patch would start out
        firing everywhere). (positions, hidden), (hidden,)"""
        seen = torch.tensor([lang not in heldout for lang in self.memory_langs], dtype=torch.bool)
        unrelated = self.unrelated[torch.tensor([lang not in heldout for lang in self.unrelated_langs],
                                                dtype=torch.bool)]
        center = unrelated.mean(0) if unrelated.shape[0] else torch.zeros(self.site.hidden)
        return self.memory[seen], center

    def edit(self, prompt: str, target: str, translations: dict[str, tuple[str, str]] | None = None,
             heldout: Sequence[str] = ()) -> LMEditResult:
        """One patch neuron (LMEditorBase.edit), trained until right and silent on the memory."""
        start_time = time.perf_counter()
        hp = self.hparams
        english, pool, rng = self._request(prompt, target, translations, heldout, hp.k_translations, hp.seed)
        memory_states, center = self._memory_for(frozenset(heldout))
        # gate and up pre-activations exactly 1 at the first target position and 0 at the centre
        offset = english.h[0] - center
        key = offset / offset.dot(offset)
        patch = self.patches.start(key, key, -float(key @ center), torch.zeros_like(offset))
        optimizer = torch.optim.Adam(patch.parameters(), lr=hp.lr)
        steps, trained, best, stale = 0, set(), float("inf"), 0
        try:
            for steps in range(1, hp.max_steps + 1):
                batch = self._batch(english, pool, rng, hp.k_translations)
                trained.update(batch.langs)
                edit_preact = self.patches.preact(batch.h)[:, -1]                    # (rows,)
                memory_preact = self.patches.preact(memory_states)[:, -1]           # (memory positions,)
                memory = memory_loss(memory_preact, edit_preact, hp.mem_topk, hp.mem_margin, hp.mem_threshold)
                silent = not memory_preact.numel() or memory_preact.max().item() < hp.mem_threshold
                stale = 0 if memory.item() < best else stale + 1
                best = min(best, memory.item())
                if batch.right and (silent or stale >= hp.patience):
                    break   # right, and quiet elsewhere or as quiet as it gets
                loss = (F.cross_entropy(batch.logits, batch.targets) + hp.act_coef * activation_loss(edit_preact, hp.act_topk)
                        + hp.mem_coef * memory)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if hp.value_norm_max is not None:
                    with torch.no_grad():
                        patch["value"].mul_(min(1.0, hp.value_norm_max / max(patch["value"].norm().item(), 1e-12)))
            shift = self._silence(patch, english, memory_states, hp.silence_below) if hp.silence_below is not None else 0.0
            sharpened = self._sharpen(patch, english, hp.sharpen) if hp.sharpen is not None else None
        except BaseException:
            self.patches.discard()  # all or nothing: the model is as before the call
            raise
        self.patches.commit()
        # what this edit trained on joins the memory: a later patch must stay silent there
        learnt = [("en", english)] + [(lang, pool[lang]) for lang in sorted(trained)]
        self.memory = torch.cat([self.memory] + [c.h for _, c in learnt])
        self.memory_langs += [lang for lang, c in learnt for _ in range(c.h.shape[0])]
        self.n_edits += 1
        return LMEditResult(self.completes(prompt, target), steps, time.perf_counter() - start_time, sorted(trained),
                            {"bias_shift": round(shift, 6), "sharpened": sharpened})

    @torch.no_grad()
    def _silence(self, patch: torch.nn.ParameterDict, english: Completion, memory: torch.Tensor,
                 below: float) -> float:
        """Lower the pending patch's bias by the largest shift (at most what puts every
        `memory` position's gate pre-activation below `below`) after which the edit is
        still right, found by bisection: the patience stop can leave the patch firing on
        memory, and a gated MLP's GELU passes a little even at -3. Returns the shift."""
        if not memory.shape[0]:
            return 0.0
        excess = self.patches.preact(memory)[:, -1].max().item() - below
        bias = patch["bias"].item()

        def right(shift: float) -> bool:
            patch["bias"].fill_(bias - shift)
            return self._still_right(english)

        shift = largest_right_shift(excess, right)
        patch["bias"].fill_(bias - shift)
        return shift

    @torch.no_grad()
    def _sharpen(self, patch: torch.nn.ParameterDict, english: Completion, scale: float) -> bool:
        """Scale the pending patch's gate pre-activation by `scale` and its value by the
        inverse (the classifiers' `sharpen`, mpn.editing.methods.patcher): kept only if the
        edit is still right; returns whether."""
        trained = {name: p.clone() for name, p in patch.items()}
        patch["gate_key"].mul_(scale)
        patch["bias"].mul_(scale)
        patch["value"].div_(scale)
        if self._still_right(english):
            return True
        for name, p in patch.items():
            p.copy_(trained[name])
        return False

    def _still_right(self, english: Completion) -> bool:
        """Is every target token of the English completion the greedy next token, with the
        pending patch? The check after `silence_below` and `sharpen`."""
        return bool((self._logits([english], english.h, english.residual).argmax(-1) == english.target).all())

    def merge_into(self, model) -> None:
        """The committed patches into `model` (a copy of this editor's model), a unit each."""
        merge_patches(model, self.patches, self.site.layer)
