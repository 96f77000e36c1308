"""Transformer-Patcher (Huang et al. 2023): one trained patch neuron per edit in the last
FFN (mpn.model.patch), trained with loss = edit CE + act_coef * activation + mem_coef * memory
(mpn.editing.losses). Defaults follow the Transformer-Patcher code (docs/design.md section 4).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from mpn.editing.closed_form import memory_loss_value
from mpn.editing.gate import largest_right_shift
from mpn.editing.losses import Objective
from mpn.editing.memory import Memory
from mpn.editing.methods.base import EditRequest, Method, MethodHParams, Outcome, threads
from mpn.core.knobs import knob
from mpn.core.schema import ENGLISH


@dataclass
class PatcherHParams(MethodHParams):
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
    min_steps: int = knob(0, ge=0)  # no early stop before this step (0: none; a step-matched control)
    patience: int = knob(10, ge=1)  # early stop: held-out memory loss not falling for this many steps ...
    min_delta: float = knob(0.01, ge=0, le=1)  # ... by at least this fraction of its best value
    stop_silent_below: float | None = knob(None)  # ... and every held-out pre-activation is below this (None: no such condition)
    lr_patience: int = knob(20, ge=0)  # reduce-on-plateau patience (steps once the edit is right)
    lr_factor: float = knob(0.5, gt=0, le=1)
    stop_on: str = knob("batch", choices=("batch", "english"))  # the edit is right when: every row of the step's batch, or the English rows
    # the key's starting point: the English input's FFN input (the paper), the mean of the
    # English and its pool translations' FFN inputs, or either of those centred on the memory's mean
    key_init: str = knob("input", choices=("input", "mean", "centered", "mean_centered"))
    # memory rows in each other language beside the English memory (0: English only, the
    # paper); a control for MPN's multilingual memory (X+mpn's default comes from `mpn`)
    memory_per_language: int = knob(0, ge=0)
    # after training, lower the bias until every memory row's pre-activation (past edits'
    # included, held-out languages not) is below this, as far as the edit stays right
    # (null: off): a gate set from data, not a loss (docs/benchmarks.md, "A calibrated gate")
    silence_below: float | None = knob(None, le=0)
    # then scale the key and bias by this and the value by its inverse: the same unit where
    # it fires, GELU's dip where it is silent this many times narrower and shallower (null:
    # off; docs/benchmarks.md, "A sharper patch")
    sharpen: float | None = knob(None, ge=1)


@torch.no_grad()
def _bound_value(patch, max_norm: float) -> None:
    """Project the patch value back onto the ball of radius `max_norm`. Long streams lose
    locality partly through GELU's dip: every silent patch still adds up to -0.17 times
    its value, and unbounded values grow 3-4x while training."""
    norm = patch.value().norm().item()
    if norm > max_norm:
        patch.value_direction.mul_(max_norm / norm)


def right_rows(logits, target: int, n_translations: int, stop_on: str) -> bool:
    """Is the edit right? Rows of `logits` (a tensor or a NumPy array) are [clean English,
    translations..., English views...]; `stop_on` says whether the translations must be
    right too."""
    right = logits.argmax(-1) == target
    if stop_on == "english":
        return bool(right[0]) and bool(right[1 + n_translations:].all())
    return bool(right.all())


class Patcher(Method):
    HParams = PatcherHParams

    def __init__(self, engine, hparams, memory, val_memory):
        super().__init__(engine, hparams, memory, val_memory)
        self.edit_memory: list[Memory] = []   # FFN inputs of past edits: later patches stay silent on them

    def edit(self, request: EditRequest) -> Outcome:
        hp, patches = self.hparams, self.engine.patches
        try:
            prepared = self.engine.prepare(request.text, request.translations, hp.n_views)
            with threads(self.engine.train_threads):
                steps, loss, final_lr = self._train(prepared, request)
                shift = self._silence(prepared, request) if hp.silence_below is not None else 0.0
                sharpened = self._sharpen(prepared, request) if hp.sharpen is not None else None
            remembered = Memory(self.engine.features(request.texts()), (ENGLISH, *sorted(request.translations)))
        except BaseException:
            patches.discard()
            raise
        patches.commit()
        self.edit_memory.append(remembered)  # the English input and its pool translations
        return Outcome(steps, loss, {"final_lr": final_lr, "bias_shift": round(shift, 6),
                                     "sharpened": sharpened})

    def reset(self) -> None:
        self.engine.patches.reset()
        self.edit_memory = []

    def extras(self) -> dict:
        return {"patches": self.engine.patches.count}

    def state(self) -> dict[str, torch.Tensor]:
        patches = self.engine.patches
        return {"keys": patches.keys.detach().clone(), "biases": patches.biases.detach().clone(),
                "values": patches.values.detach().clone(), **self._past_edits().tensors("edit_memory")}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.reset()
        self.engine.patches.load(tensors["keys"], tensors["biases"], tensors["values"])
        self.edit_memory.append(Memory.from_tensors(tensors, "edit_memory"))

    def _past_edits(self) -> Memory:
        hidden = self.memory.features.shape[1]
        return Memory.cat([Memory.empty(hidden, self.memory.features.device), *self.edit_memory])

    # --- training ---------------------------------------------------------------
    def _train(self, prepared, request: EditRequest) -> tuple[int, float, float]:
        hp, seed = self.hparams, request.seed
        generator = torch.Generator().manual_seed(seed)
        key_input, center = self._key_start(request)
        patch = self.engine.patches.start(key_input, hp.value_scale, generator, center)
        self._orient_value(patch, prepared, request.target)
        # fused: one kernel for the whole update (mpn.editing.optim); per-step overhead is most of the cost
        optimizer = torch.optim.Adam(patch.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, fused=True)
        update = self.engine.updater(optimizer, hp.grad_clip)   # clip, then Adam
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=hp.lr_factor,
                                                               patience=hp.lr_patience)
        sampler = random.Random(seed)
        # training memory and held-out memory in one matrix: one product a step serves
        # the memory loss and the early-stop check (only the first n_train rows train);
        # no row in a language held out for this edit, in any of the three (mpn.editing.memory)
        heldout = request.heldout
        val_memory = self.val_memory.without(heldout)                            # (val, hidden)
        memory = torch.cat([self.memory.without(heldout), self._past_edits().without(heldout),
                            val_memory])                                          # (memory + val, hidden)
        n_train = memory.shape[0] - val_memory.shape[0]
        objective = Objective.for_edit(hp, request.target)
        state, step, loss = {"best": float("inf"), "stale": 0}, 0, float("nan")
        for step in range(1, hp.max_steps + 1):
            langs = request.sample(sampler)
            out = self.engine.step(prepared, langs, memory, n_train, objective)  # sets patch.flat.grad
            loss = out.loss
            right = right_rows(out.logits, request.target, len(langs), hp.stop_on)
            settled = right and self._settled(out.memory_preact[n_train:], out.edit_preact, objective, state)
            if settled and step >= hp.min_steps:
                break
            update()
            if hp.value_norm_max is not None:
                _bound_value(patch, hp.value_norm_max)
            if right:
                # Reduce-on-plateau only once the edit is right, to settle the memory
                # terms: before that a plateau means the patch is still searching, and
                # shrinking the step there can freeze it (docs/benchmarks.md, Measurements
                # behind the code).
                scheduler.step(loss)
        return step, loss, optimizer.param_groups[0]["lr"]

    @torch.no_grad()
    def _silence(self, prepared, request: EditRequest) -> float:
        """Lower the trained patch's bias by the largest shift, at most what puts every row
        of its memory (training memory and past edits, no held-out language) below
        `silence_below`, after which the edit is still right on every row it trained on
        (bisection, 12 halvings); returns the shift. The memory loss only pushes rows
        below `mem_threshold` on average over its top-k; this sets the gate from the rows."""
        patch, heldout = self.engine.patches.pending, request.heldout
        memory = torch.cat([self.memory.without(heldout), self._past_edits().without(heldout)])   # (rows, hidden)
        if not memory.shape[0]:
            return 0.0
        excess = patch.preact(memory).max().item() - self.hparams.silence_below
        bias = patch.bias.item()

        def right(shift: float) -> bool:
            patch.flat.data[patch.hidden] = bias - shift
            return self._still_right(prepared, request)

        shift = largest_right_shift(excess, right)
        patch.flat.data[patch.hidden] = bias - shift
        return shift

    @torch.no_grad()
    def _sharpen(self, prepared, request: EditRequest) -> bool:
        """Scale the trained patch's pre-activation by `sharpen` (key and bias) and its value
        by the inverse: GELU(s a) / s is a where the patch fires well above 0 and near 0
        where it is silent, where GELU(a) dips to -0.17 (between a = -3 and 0): most of a
        silent patch's effect on unrelated inputs (docs/benchmarks.md, "A sharper patch").
        Kept only if the edit is still right on every row it trained on; returns whether."""
        patch, scale = self.engine.patches.pending, self.hparams.sharpen
        trained = patch.flat.data.clone()
        patch.flat.data[:patch.hidden + 1] *= scale     # key, bias
        patch.flat.data[-1] /= scale                     # value scale
        if self._still_right(prepared, request):
            return True
        patch.flat.data.copy_(trained)
        return False

    def _still_right(self, prepared, request: EditRequest) -> bool:
        """Is the pending patch's edit right on every row it trained on (the English input,
        its views and every pool translation)? The check after `silence_below` and `sharpen`."""
        langs = sorted(request.translations)
        return right_rows(self.engine.forward(prepared, langs)[0], request.target, len(langs), self.hparams.stop_on)

    def _key_start(self, request: EditRequest) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The FFN input the key starts at, and the point where it starts silent (None: 0)."""
        key_init = self.hparams.key_init
        texts = request.texts() if key_init.startswith("mean") else [request.text]
        key_input = self.engine.features(texts).mean(0)                        # (hidden,)
        memory = self.memory.without(request.heldout)                          # (memory, hidden)
        if not key_init.endswith("centered") or not memory.shape[0]:
            return key_input, None
        return key_input, memory.mean(0)                                       # (hidden,)

    def _orient_value(self, patch, prepared, target: int) -> None:
        """Pick the sign of the random value that moves the clean input toward the target.

        With the wrong sign, the edit loss first drives the key's pre-activation below
        zero, and the patch then "fires" through the negative dip of GELU: it flips the
        English input, but a translation with a positive pre-activation is pushed the
        other way. Starting on the right side keeps the patch firing positively.
        """
        with torch.no_grad():
            margins = []
            for sign in (1.0, -1.0):
                patch.value_direction.mul_(sign)
                logits = self.engine.forward(prepared, [])[0][0]
                margins.append((logits[target] - logits.max()).item())
                patch.value_direction.mul_(sign)
            if margins[1] > margins[0]:
                patch.value_direction.neg_()

    def _settled(self, val_preact: np.ndarray, edit_preact: np.ndarray, objective: Objective,
                 state: dict) -> bool:
        """Early stop, checked once the edit is right: the patch is already silent on the
        held-out memory (every pre-activation `val_preact` below `mem_threshold`), or the
        held-out memory loss has stopped falling (not `min_delta` below its best for
        `patience` checks) and, if `stop_silent_below` is set, no held-out pre-activation
        is at or above it."""
        hp = self.hparams
        top = float(val_preact.max()) if val_preact.size else float("-inf")
        if top < hp.mem_threshold:
            return True
        # against the clean English row only: sampled translations would make it jitter
        val = memory_loss_value(val_preact, float(edit_preact[0]), objective)
        if val < state["best"] * (1 - hp.min_delta):
            state["best"], state["stale"] = val, 0
        else:
            state["stale"] += 1
        firing = hp.stop_silent_below is not None and top >= hp.stop_silent_below
        return state["stale"] >= hp.patience and not firing
