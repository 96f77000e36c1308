"""GRACE for decoder language models (Hartvigsen et al., NeurIPS 2023), with the MPN
augmentation as `k_translations`: a codebook on one layer's MLP (the last by default).

Each target position an edit trains on (its English completion's, and with +mpn the
translations' it sampled) becomes a key, the MLP's input there, with a value: a trained
replacement of the MLP's output. An input within a key's deferral radius gets the value
of the nearest key that covers it; any other runs the MLP as before. As an addition to
the MLP's output that is `value - mlp(h)` where covered, 0 elsewhere, so it shares the
patch editor's engines and rates (mpn.editing.lm_base).

Two changes from the classifiers' GRACE (mpn.editing.methods.grace), both for LMs: a
key per target position (a completion has several), each with its own value; and the
radius is a share of the key's distance to the nearest memory position (`radius`), since
an LM's hidden scale differs by model and layer and a fixed eps does not carry over.
So no key covers a memory position. No coverage expansion: every edit adds its keys.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mpn.core.errors import UserError
from mpn.core.knobs import knob
from mpn.editing.lm_base import Completion, LMEditorBase, LMEditResult
from mpn.model.lm import LMSite


@dataclass
class LMGraceHParams:
    lr: float = knob(1.0, gt=0)             # GRACE's edit_lr, Adam on the new values
    max_steps: int = knob(100, ge=1)        # GRACE's n_iter; stops earlier once the step's batch is right
    radius: float = knob(0.5, gt=0, le=1)   # a key's deferral radius, as a share of its distance to the nearest memory position
    k_translations: int = knob(0, ge=0)     # +mpn: translations in each step's batch (0: GRACE)
    layer: int = knob(-1)                   # which decoder layer's MLP (negative: from the end); not the last: full engine only
    seed: int = knob(0, ge=0)


class LMCodebook(nn.Module):
    """Keys (MLP inputs), their radii and their values (replacement MLP outputs): the
    committed entries and at most one edit's pending ones, whose values train."""

    def __init__(self, site: LMSite):
        super().__init__()
        self.site = site
        hidden = site.hidden
        self.keys = nn.Parameter(torch.zeros(0, hidden), requires_grad=False)     # (n, hidden)
        self.radii = nn.Parameter(torch.zeros(0), requires_grad=False)            # (n,)
        self.values = nn.Parameter(torch.zeros(0, hidden), requires_grad=False)   # (n, hidden)
        self.pending: tuple[torch.Tensor, torch.Tensor, nn.Parameter] | None = None

    @property
    def count(self) -> int:
        return self.keys.shape[0] + (0 if self.pending is None else self.pending[0].shape[0])

    def start(self, keys: torch.Tensor, radii: torch.Tensor) -> nn.Parameter:
        """New entries at `keys`, their values warm: the MLP's output there."""
        with torch.no_grad():
            values = self.site.mlp_out(keys)
        self.pending = (keys, radii, nn.Parameter(values))
        return self.pending[2]

    def commit(self) -> None:
        keys, radii, values = self.pending
        self.keys = nn.Parameter(torch.cat([self.keys.data, keys]), requires_grad=False)
        self.radii = nn.Parameter(torch.cat([self.radii.data, radii]), requires_grad=False)
        self.values = nn.Parameter(torch.cat([self.values.data, values.detach()]), requires_grad=False)
        self.pending = None

    def discard(self) -> None:
        self.pending = None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """What the codebook adds to the MLP's output: the nearest covering key's value in
        place of the output. (..., hidden) -> (..., hidden)"""
        keys, radii, values = self.keys, self.radii, self.values
        if self.pending is not None:
            keys, radii = torch.cat([keys, self.pending[0]]), torch.cat([radii, self.pending[1]])
            values = torch.cat([values, self.pending[2]])
        flat = h.reshape(-1, h.shape[-1])                                        # (positions, hidden)
        distance = torch.cdist(flat, keys)                                       # (positions, keys)
        # the nearest key that covers the position (a nearer one that does not must not shadow it)
        covering = torch.where(distance <= radii, distance, torch.full_like(distance, float("inf")))
        nearest = covering.argmin(-1)                                            # (positions,)
        covered = covering.gather(-1, nearest[:, None])[:, 0].isfinite()         # (positions,)
        rows = covered.nonzero()[:, 0]                                           # (covered,)
        # the MLP's output only where it is replaced: the hook has run the MLP once already
        replaced = torch.zeros_like(flat).index_put((rows,), values[nearest[rows]] - self.site.mlp_out(flat[rows]))
        return replaced.reshape(h.shape)


GRACE_UNSAVED = ("GRACE's codebook (the nearest key within its radius replaces the MLP's output) is no "
                 "MLP unit, so no folder that transformers loads holds it; its edits stay in memory "
                 "(bench/lm_edit.py measures them)")


class LMGrace(LMEditorBase):
    """Sequential GRACE edits of a causal LM (`edit`); `codebook` holds them."""

    def __init__(self, model, tokenizer, hparams: LMGraceHParams | None = None,
                 memory: Sequence[str] | Mapping[str, Sequence[str]] = (),
                 engine: str = "cached"):
        self.hparams = hparams or LMGraceHParams()
        super().__init__(model, tokenizer, engine, self.hparams.layer)
        self.memory = self.memory_positions(memory)[0]       # (memory positions, hidden)
        if not self.memory.shape[0]:
            raise UserError("GRACE for causal LMs needs memory prompts: its radii are shares of the keys' "
                            "distance to them")
        self.codebook = LMCodebook(self.site)
        self._attach(self.codebook)

    def edit(self, prompt: str, target: str, translations: dict[str, tuple[str, str]] | None = None,
             heldout: Sequence[str] = ()) -> LMEditResult:
        """New codebook entries at every target position of the edit (LMEditorBase.edit),
        and of every translation it samples (+mpn), their values trained together."""
        start_time = time.perf_counter()
        hp = self.hparams
        english, pool, rng = self._request(prompt, target, translations, heldout, hp.k_translations, hp.seed)
        # every translation it may sample keys an entry from the start: a step trains the values of its batch
        entries = [english] + list(pool.values())
        keys = torch.cat([c.h for c in entries])                                 # (entries, hidden)
        values = self.codebook.start(keys, hp.radius * torch.cdist(keys, self.memory).min(-1).values)
        optimizer = torch.optim.Adam([values], lr=hp.lr)
        steps, trained = 0, set()
        try:
            for steps in range(1, hp.max_steps + 1):
                batch = self._batch(english, pool, rng, hp.k_translations)
                if batch.right:
                    break
                trained.update(batch.langs)
                loss = F.cross_entropy(batch.logits, batch.targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        except BaseException:
            self.codebook.discard()  # all or nothing: the model is as before the call
            raise
        self._keep_trained(english, pool, trained)
        self.n_edits += 1
        return LMEditResult(self.completes(prompt, target), steps, time.perf_counter() - start_time, sorted(trained))

    def _keep_trained(self, english: Completion, pool: dict[str, Completion], trained: set[str]) -> None:
        """Commit the entries of English and of the translations a step trained on; drop
        the others (their values never moved from warm: they would only copy the MLP)."""
        keys, radii, values = self.codebook.pending
        keep = torch.cat([torch.full((c.h.shape[0],), lang in trained or lang == "en")
                          for lang, c in [("en", english), *pool.items()]])
        self.codebook.pending = (keys[keep], radii[keep], values[keep])
        self.codebook.commit()

    def merge_into(self, model) -> None:
        raise UserError(GRACE_UNSAVED)
