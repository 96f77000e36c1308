"""Transformer-Patcher and MPN for decoder language models: one patch neuron per edit in
the last MLP (mpn.model.lm), trained teacher-forced on every token of the edit's new
completion, on cached MLP inputs (exact: with the patch in the last layer, no input of
that MLP depends on it).

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

import random
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from mpn.core.errors import UserError
from mpn.core.knobs import knob
from mpn.editing.losses import activation_loss, memory_loss
from mpn.model.lm import LMPatches, find_lm_site


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
    patience: int = knob(10, ge=1)          # once the edit is right: stop when the memory loss has not fallen for this many steps
    k_translations: int = knob(0, ge=0)     # MPN: translations in each step's batch (0: Transformer-Patcher)
    seed: int = knob(0, ge=0)


@dataclass
class Completion:
    """One prompt and its object, as the model sees them: the MLP inputs and residuals at
    the positions that predict each target token, and those tokens."""
    h: torch.Tensor          # (targets, hidden)
    residual: torch.Tensor   # (targets, hidden)
    target: torch.Tensor     # (targets,) token ids
    ids: torch.Tensor        # (1, prompt + targets - 1): what the full engine runs
    start: int               # the position that predicts the first target token


@dataclass
class LMEditResult:
    success: bool             # every English target token is the greedy next token
    steps: int
    seconds: float
    languages: list[str] = field(default_factory=list)  # translations it trained on


ENGINES = ("cached", "full")


class LMEditor:
    """Sequential edits of a causal LM, one patch neuron each (`edit`). The cached engine
    computes each step's logits from the stored MLP inputs (mpn.model.lm); the full one,
    the reference, runs the whole model with the patches hooked in."""

    def __init__(self, model, tokenizer, hparams: LMPatcherHParams | None = None, memory: Sequence[str] = (),
                 engine: str = "cached"):
        if engine not in ENGINES:
            raise UserError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
        self.engine = engine
        self.model, self.tokenizer = model.eval(), tokenizer
        for p in model.parameters():
            p.requires_grad_(False)
        self.hparams = hparams or LMPatcherHParams()
        self.site = find_lm_site(model)
        self.patches = LMPatches(self.site.hidden, self.site.activation, self.site.gated)
        self.hook = self.site.install(self.patches)   # removed and restored by mpn.model.lm_portable.merged
        self.memory = self._positions(list(memory))          # (memory positions, hidden)
        # where new keys are centred: the unrelated memory's mean, fixed before any edit
        self.center = self.memory.mean(0) if self.memory.shape[0] else torch.zeros(self.site.hidden)
        self.n_edits = 0

    def _ids(self, prompt: str, target: str = "") -> tuple[list[int], list[int]]:
        """The prompt's tokens after the tokenizer's BOS where it has one (Gemma is lost
        without it; no other special token), and the target's tokens."""
        bos = [] if self.tokenizer.bos_token_id is None else [self.tokenizer.bos_token_id]
        return (bos + self.tokenizer(prompt, add_special_tokens=False)["input_ids"],
                self.tokenizer(target, add_special_tokens=False)["input_ids"] if target else [])

    def prompt_ids(self, prompt: str) -> list[int]:
        """The token ids the model reads `prompt` as (BOS first where the tokenizer has one)."""
        return self._ids(prompt)[0]

    def completion(self, prompt: str, target: str) -> Completion:
        """The MLP inputs predicting each target token (teacher forcing), unpatched."""
        prompt_ids, target_ids = self._ids(prompt, target)
        if not prompt_ids or not target_ids:
            raise UserError(f"an edit needs a prompt and a target with tokens; got {prompt!r} -> {target!r}")
        ids = torch.tensor([prompt_ids + target_ids[:-1]])
        h, residual = self.site.capture(ids, torch.ones_like(ids))
        start = len(prompt_ids) - 1
        return Completion(h[0, start:], residual[0, start:], torch.tensor(target_ids), ids, start)

    def _positions(self, texts: list[str]) -> torch.Tensor:
        """The MLP input at every position of `texts` but special tokens (a BOS position's
        state is an outlier no edit resembles). (positions, hidden)"""
        rows = []
        special = set(self.tokenizer.all_special_ids)
        for text in texts:
            ids = torch.tensor([self._ids(text)[0]])
            keep = torch.tensor([i not in special for i in ids[0].tolist()])
            if keep.any():
                rows.append(self.site.capture(ids, torch.ones_like(ids))[0][0][keep])
        return torch.cat(rows) if rows else torch.zeros(0, self.site.hidden)

    @torch.no_grad()
    def _target_logits(self, prompt: str, target: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The full model's logits at the positions predicting each target token
        (teacher-forced), and those tokens. (targets, vocab), (targets,)"""
        prompt_ids, target_ids = self._ids(prompt, target)
        ids = torch.tensor([prompt_ids + target_ids[:-1]])
        logits = self.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
        return logits[len(prompt_ids) - 1:], torch.tensor(target_ids)

    def completes(self, prompt: str, target: str) -> bool:
        """Is every target token the greedy next token (teacher-forced)?"""
        logits, target_ids = self._target_logits(prompt, target)
        return bool((logits.argmax(-1) == target_ids).all())

    def log_prob(self, prompt: str, target: str) -> float:
        """log P(target | prompt), the sum over its tokens."""
        logits, target_ids = self._target_logits(prompt, target)
        return logits.log_softmax(-1).gather(-1, target_ids[:, None]).sum().item()

    def prefers(self, prompt: str, new: str, old: str) -> bool:
        """Is `new` the likelier completion than `old` (CounterFact's efficacy test:
        robust to a prompt whose greedy next token is a function word)?"""
        return self.log_prob(prompt, new) > self.log_prob(prompt, old)

    def edit(self, prompt: str, target: str, translations: dict[str, tuple[str, str]] | None = None,
             heldout: Sequence[str] = ()) -> LMEditResult:
        """Make `target` the model's completion of `prompt`; with k_translations > 0, also
        train on sampled `translations` ({lang: (prompt, target)}) not in `heldout`."""
        start_time = time.perf_counter()
        hp = self.hparams
        english = self.completion(prompt, target)
        pool = {lang: self.completion(*pair) for lang, pair in sorted((translations or {}).items())
                if lang not in set(heldout)} if hp.k_translations else {}
        rng = random.Random(hp.seed * 1_000_003 + self.n_edits)
        # gate and up pre-activations exactly 1 at the first target position and 0 at the
        # memory's mean (an LM's hidden states share a large common part: uncentred, the
        # patch would start out firing everywhere)
        center = self.center
        offset = english.h[0] - center
        key = offset / offset.dot(offset)
        patch = self.patches.start(key, key, -float(key @ center), torch.zeros_like(offset))
        optimizer = torch.optim.Adam(patch.parameters(), lr=hp.lr)
        steps, trained, best, stale = 0, set(), float("inf"), 0
        try:
            for steps in range(1, hp.max_steps + 1):
                langs = rng.sample(sorted(pool), min(hp.k_translations, len(pool))) if pool else []
                trained.update(langs)
                batch = [english] + [pool[lang] for lang in langs]
                h = torch.cat([c.h for c in batch])                                 # (rows, hidden)
                residual = torch.cat([c.residual for c in batch])                   # (rows, hidden)
                targets = torch.cat([c.target for c in batch])                      # (rows,)
                logits = self._logits(batch, h, residual)                           # (rows, vocab)
                edit_preact = self.patches.preact(h)[:, -1]                         # (rows,)
                memory_preact = self.patches.preact(self.memory)[:, -1]             # (memory positions,)
                memory = memory_loss(memory_preact, edit_preact, hp.mem_topk, hp.mem_margin, hp.mem_threshold)
                silent = not memory_preact.numel() or memory_preact.max().item() < hp.mem_threshold
                stale = 0 if memory.item() < best else stale + 1
                best = min(best, memory.item())
                if bool((logits.argmax(-1) == targets).all()) and (silent or stale >= hp.patience):
                    break   # right, and quiet elsewhere or as quiet as it gets
                loss = (F.cross_entropy(logits, targets) + hp.act_coef * activation_loss(edit_preact, hp.act_topk)
                        + hp.mem_coef * memory)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if hp.value_norm_max is not None:
                    with torch.no_grad():
                        patch["value"].mul_(min(1.0, hp.value_norm_max / max(patch["value"].norm().item(), 1e-12)))
        except BaseException:
            self.patches.discard()  # all or nothing: the model is as before the call
            raise
        self.patches.commit()
        # what this edit trained on joins the memory: a later patch must stay silent there
        self.memory = torch.cat([self.memory] + [c.h for c in [english] + [pool[lang] for lang in sorted(trained)]])
        self.n_edits += 1
        return LMEditResult(self.completes(prompt, target), steps, time.perf_counter() - start_time, sorted(trained))

    def _logits(self, batch: list[Completion], h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """The target positions' logits with the patches, from the cache or the full model."""
        if self.engine == "cached":
            return self.site.logits(h, residual, self.patches)
        return torch.cat([self.model(input_ids=c.ids, attention_mask=torch.ones_like(c.ids)).logits[0, c.start:]
                          for c in batch])

    @torch.no_grad()
    def greedy(self, prompt: str, n_tokens: int) -> str:
        """The model's greedy continuation of `prompt`, `n_tokens` tokens long, decoded."""
        ids, new = self.prompt_ids(prompt), []
        for _ in range(n_tokens):
            x = torch.tensor([ids + new])
            new.append(int(self.model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0, -1].argmax()))
        return self.tokenizer.decode(new)

    def n_target_tokens(self, target: str) -> int:
        return len(self._ids("", target)[1])

    @torch.no_grad()
    def next_token_logits(self, prompts: Sequence[str]) -> torch.Tensor:
        """The next-token logits after each prompt, in the full model. (prompts, vocab)"""
        out = []
        for prompt in prompts:
            ids = torch.tensor([self._ids(prompt)[0]])
            out.append(self.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, -1])
        return torch.stack(out)


def locality(before: torch.Tensor, after: torch.Tensor) -> dict:
    """Top-1 agreement and mean KL(before || after) of next-token distributions. (prompts, vocab) x2"""
    agreement = (before.argmax(-1) == after.argmax(-1)).float().mean().item()
    kl = F.kl_div(F.log_softmax(after, -1), F.log_softmax(before, -1), log_target=True, reduction="batchmean").item()
    return {"top1_agreement": round(agreement, 4), "kl": round(kl, 6)}
