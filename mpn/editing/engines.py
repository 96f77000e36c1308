"""Two ways to run a patched classifier while editing (docs/design.md section 6).

Everything below the patched FFN is frozen and the classifier reads one position, so the
FFN input at that position, `h`, depends only on the text. The **cached** engine computes
`h` once per text and evaluates the rest in closed form:

    logits = head(LN(W2 act(W1 h + b1) + b2 + sum_p act(k_p . h + b_p) v_p + h))

The **full** engine is the reference: the whole model with the patch modules hooked in.
Both give the same logits to float tolerance (tests/test_engines.py).

A training step (`step`) computes the loss and leaves its gradient in the pending patch;
`updater` gives the step's clip + Adam update (mpn.editing.optim). The full engine, and any model
whose last FFN is not erf-GELU + LayerNorm + linear head, goes through autograd and
torch's Adam; the cached engine on the CPU otherwise uses mpn.editing.closed_form, the same
gradient and update written out and compiled, which makes a step several times faster.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import torch

from mpn.editing import closed_form, optim
from mpn.editing.closed_form import StepOutput
from mpn.editing.features import FeatureExtractor, FeatureStore
from mpn.editing.losses import Objective
from mpn.model.anatomy import logits_of, model_inputs
from mpn.model.classifier import tokenize
from mpn.model.patch import FFNSite, PatchNeurons, PendingPatch, find_ffn_site, install_patches
from mpn.core.params import MAX_LENGTH
from mpn.core.schema import Text, as_text


@dataclass
class PreparedEdit:
    """What one edit trains on: the English input and the translations it may sample.

    Each step's batch is: the clean English input, the sampled translations, then
    `n_views` noisy (dropout) copies of the English input. The clean copy is always in:
    with dropout alone, every noisy view can be right while the clean input is not.
    """
    text: Text
    translations: dict[str, Text]
    n_views: int
    # cached engine only: the rows a batch draws from, and each row's LayerNorm input
    # without the pending patch (frozen FFN output + residual)
    rows: torch.Tensor | None = None                       # (1 + langs + n_views, hidden)
    residual: torch.Tensor | None = None                   # (1 + langs + n_views, hidden)
    lang_row: dict[str, int] = field(default_factory=dict)
    view_rows: list[int] = field(default_factory=list)


@runtime_checkable
class Engine(Protocol):
    """What a method may ask of an engine: the seam a new mechanism (a gate, a codebook,
    another model family's MLP) plugs into without editing an engine's internals. Both
    engines provide it (tests/test_engines.py); a method that needs more (the cached
    engine's `frozen_ffn`, `replacements`) says so in its `engines`."""
    name: str
    site: FFNSite           # the patched FFN: activation, layer_norm, head
    patches: PatchNeurons   # the installed patch bank: committed keys and values, the pending one
    device: torch.device
    train_threads: int | None  # torch threads a training step runs on (None: torch's own)

    def preload(self, store: FeatureStore, n_views: int) -> None: ...    # take precomputed FFN inputs
    def warm(self, texts: list[Text], view_texts: list[Text], n_views: int) -> None: ...
    def has_features(self, text: Text) -> bool: ...
    def features(self, texts: list[Text], progress: bool = False) -> torch.Tensor: ...  # (n, hidden)
    def prepare(self, text: Text, translations: dict[str, Text], n_views: int) -> PreparedEdit: ...
    def forward(self, prepared: PreparedEdit, langs: list[str]): ...    # logits, pending pre-activation
    def step(self, prepared: PreparedEdit, langs: list[str], memory: torch.Tensor, n_train: int,
             objective: Objective) -> StepOutput: ...                   # loss; gradient left in the patch
    def updater(self, optimizer: torch.optim.Adam, max_norm: float) -> Callable[[], None]: ...
    def predict(self, texts: list[Text]) -> torch.Tensor: ...          # (n, labels)


class CachedEngine:
    """Trains and evaluates patches on cached FFN inputs (the exact fast path)."""
    name = "cached"

    def __init__(self, model, tokenizer, max_length: int = MAX_LENGTH, batch_size: int = 64):
        self.model = model
        self.extract = FeatureExtractor(model, tokenizer, max_length, batch_size)
        self.site = find_ffn_site(model)
        self.head = self.site.head                    # (batch, hidden) -> (batch, labels)
        self.patches = install_patches(model)
        # None: this model (or device) trains through autograd
        self.readout = (closed_form.Readout.of(self.site.layer_norm, self.head)
                        if closed_form.supported(self.site.activation, self.site.layer_norm, self.head) else None)
        self.device = self.site.base_up.weight.device
        self._cache: dict[Text, torch.Tensor] = {}
        self._views: dict[Text, torch.Tensor] = {}   # (n_views, hidden) noisy copies per edit text
        # (h, ffn output) -> ffn output, applied in order after the FFN (GRACE's codebook)
        self.replacements: list = []

    # --- features -----------------------------------------------------------
    def preload(self, store: FeatureStore, n_views: int) -> None:
        """Take the features a features stage computed, and its dropout views if it drew
        `n_views` per text (else they are drawn here when needed)."""
        self._cache.update(zip(store.texts, store.clean.to(self.device)))
        if store.n_views == n_views:
            self._views.update(zip(store.view_texts, store.views.to(self.device)))

    def warm(self, texts: list[Text], view_texts: list[Text], n_views: int) -> None:
        """Features of `texts` and dropout views of `view_texts`, in large batches, now."""
        self.features(texts, progress=True)
        self.precompute_views(view_texts, n_views, progress=True)

    def has_features(self, text: Text) -> bool:
        return as_text(text) in self._cache

    def store(self) -> FeatureStore:
        """Every FFN input and dropout view computed so far, as a store that a later
        editor takes (`Editor(features=...)`) or that is saved to disk."""
        hidden = self.site.base_up.in_features
        views = list(self._views.values())
        return FeatureStore(list(self._cache), torch.stack(list(self._cache.values())).cpu(),
                            list(self._views), torch.stack(views).cpu() if views else torch.empty(0, 0, hidden))

    def features(self, texts: list[Text], progress: bool = False) -> torch.Tensor:
        """Clean FFN inputs, computed once per distinct text. (n, hidden)"""
        keys = [as_text(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if missing:
            for k, h in zip(missing, self.extract(missing, progress=progress).to(self.device)):
                self._cache[k] = h
        if not keys:
            return torch.empty(0, self.site.base_up.in_features, device=self.device)
        return torch.stack([self._cache[k] for k in keys])

    def precompute_views(self, texts: list[Text], n_views: int, progress: bool = False) -> None:
        """Draw the dropout views of many edit inputs in one batched pass, once."""
        missing = list(dict.fromkeys(as_text(t) for t in texts if as_text(t) not in self._views))
        if not missing or not n_views:
            return
        views = self.extract([t for t in missing for _ in range(n_views)], dropout=True, progress=progress).to(self.device)
        for key, chunk in zip(missing, views.split(n_views)):
            self._views[key] = chunk

    def prepare(self, text: Text, translations: dict[str, Text], n_views: int) -> PreparedEdit:
        """Stack every row the edit's batches draw from, and their frozen FFN outputs.

        Rows: the clean input, the translations, then the noisy views. During the edit
        only the pending patch changes, so everything else about a row, the base FFN,
        the committed patches and the residual, is computed here once instead of at
        every step.
        """
        self.precompute_views([text], n_views)
        langs = list(translations)
        views = self._views[as_text(text)] if n_views else self.features([text])[:0]
        rows = torch.cat([self.features([text] + [translations[lang] for lang in langs]), views])
        with torch.no_grad():
            residual = self.frozen_ffn(rows) + rows
        prepared = PreparedEdit(text, translations, n_views)
        prepared.rows, prepared.residual = rows, residual                      # (rows, hidden) each
        prepared.lang_row = {lang: 1 + i for i, lang in enumerate(langs)}
        prepared.view_rows = list(range(1 + len(langs), rows.shape[0]))
        return prepared

    # --- forward ------------------------------------------------------------
    train_threads = 1  # each step is a few tiny matmuls: more threads only add overhead

    def forward(self, prepared: PreparedEdit, langs: list[str]):
        """Logits and the pending patch's pre-activation on the step's batch."""
        rows, residual = self._batch(prepared, langs)                           # (batch, hidden) each
        pending = self.patches.pending
        a = pending.preact(rows)                                                # (batch,)
        x = residual + self.site.activation(a)[:, None] * pending.value()
        return self.head(self.site.layer_norm(x)), a

    def step(self, prepared: PreparedEdit, langs: list[str], memory: torch.Tensor, n_train: int,
             objective: Objective) -> StepOutput:
        """One training step's loss; leaves the gradient in the pending patch."""
        if self.readout is None:
            return autograd_step(self, prepared, langs, memory, n_train, objective)
        flat = self.patches.pending.flat
        return closed_form.step(flat.detach().numpy(), prepared.rows.numpy(), prepared.residual.numpy(),
                                np.array(self._batch_index(prepared, langs)), memory.numpy(), n_train,
                                self.readout, objective, flat.grad.numpy())

    def updater(self, optimizer: torch.optim.Adam, max_norm: float) -> Callable[[], None]:
        """The pending patch's update, called once a step: clip its gradient to
        `max_norm`, then take `optimizer`'s Adam step."""
        if self.readout is None:
            return functools.partial(optim.torch_update, optimizer, max_norm)
        return optim.KernelUpdate(optimizer, max_norm)

    @staticmethod
    def _batch_index(prepared: PreparedEdit, langs: list[str]) -> list[int]:
        """Rows of the step's batch: clean English, the sampled translations, the views."""
        return [0] + [prepared.lang_row[lang] for lang in langs] + prepared.view_rows

    def _batch(self, prepared: PreparedEdit, langs: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's batch: its rows and their residuals. (batch, hidden) each"""
        if len(langs) == len(prepared.lang_row) == 0:   # patcher: every row, every step
            return prepared.rows, prepared.residual
        index = self._batch_index(prepared, langs)
        return prepared.rows[index], prepared.residual[index]

    def frozen_ffn(self, h: torch.Tensor) -> torch.Tensor:
        """The base FFN plus the committed patches. (n, hidden) -> (n, hidden)"""
        site, patches = self.site, self.patches
        out = site.base_down(site.activation(site.base_up(h)))
        if patches.keys.shape[0]:
            out = out + site.activation(h @ patches.keys.T + patches.biases) @ patches.values
        return out

    def logits_from_features(self, h: torch.Tensor) -> torch.Tensor:
        """(n, hidden) -> (n, labels): the last FFN with patches, residual, LayerNorm, head."""
        out = self.frozen_ffn(h)
        if self.patches.pending is not None:
            out = out + self.site.activation(self.patches.pending.preact(h))[:, None] * self.patches.pending.value()
        for replace in self.replacements:
            out = replace(h, out)
        return self.head(self.site.layer_norm(out + h))

    def predict(self, texts: list[Text]) -> torch.Tensor:
        with torch.no_grad():
            return self.logits_from_features(self.features(texts))


class FullEngine:
    """The reference: the whole model runs every step, patches hooked into the last FFN."""
    name = "full"
    train_threads = None  # full forward passes use every thread torch has

    def __init__(self, model, tokenizer, max_length: int = MAX_LENGTH, batch_size: int = 64):
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.extract = FeatureExtractor(model, tokenizer, max_length, batch_size)
        self.site = find_ffn_site(model)
        self.head = self.site.head
        self.anatomy = self.extract.anatomy
        self.device = self.site.base_up.weight.device
        self.patches = install_patches(model)

    def preload(self, store: FeatureStore, n_views: int) -> None:
        """Nothing to take: the full engine runs the whole model every step."""

    def warm(self, texts: list[Text], view_texts: list[Text], n_views: int) -> None:
        """Nothing to compute ahead: every step runs the model."""

    def has_features(self, text: Text) -> bool:
        return False  # nothing is kept: every step encodes its texts

    def features(self, texts: list[Text], progress: bool = False) -> torch.Tensor:
        return self.extract(texts, progress=progress).to(self.device)

    def prepare(self, text: Text, translations: dict[str, Text], n_views: int) -> PreparedEdit:
        return PreparedEdit(text, translations, n_views)

    def forward(self, prepared: PreparedEdit, langs: list[str]):
        clean = [prepared.text] + [prepared.translations[lang] for lang in langs]
        logits, preact = self._run(clean, dropout=False)
        if prepared.n_views:
            noisy_logits, noisy_preact = self._run([prepared.text] * prepared.n_views, dropout=True)
            logits, preact = torch.cat([logits, noisy_logits]), torch.cat([preact, noisy_preact])
        return logits, preact

    def step(self, prepared: PreparedEdit, langs: list[str], memory: torch.Tensor, n_train: int,
             objective: Objective) -> StepOutput:
        return autograd_step(self, prepared, langs, memory, n_train, objective)

    def updater(self, optimizer: torch.optim.Adam, max_norm: float) -> Callable[[], None]:
        return functools.partial(optim.torch_update, optimizer, max_norm)

    def _run(self, texts: list[Text], dropout: bool):
        """Logits and the pending patch's pre-activation at token 0. (batch, labels), (batch,)"""
        self.model.train(dropout)  # dropout on: the original's noisy copies
        try:
            logits = self._logits(texts)
        finally:
            self.model.eval()
        return logits, self.site.up.last_preact[:, 0, -1]

    def predict(self, texts: list[Text]) -> torch.Tensor:
        self.model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), self.batch_size):
                out.append(self._logits(texts[i:i + self.batch_size]))
        return torch.cat(out) if out else torch.empty(0, len(self.anatomy.labels))

    def _logits(self, texts: list[Text]) -> torch.Tensor:
        enc = tokenize(self.tokenizer, texts, self.anatomy.input_prefix, self.max_length).to(self.device)
        return logits_of(self.model(**model_inputs(self.model, enc)))                # (batch, labels)


def autograd_step(engine, prepared: PreparedEdit, langs: list[str], memory: torch.Tensor, n_train: int,
                  objective: Objective) -> StepOutput:
    """A training step through autograd: the reference, and what models the closed form
    does not cover use. memory: (n_train + held-out, hidden); only the first n_train
    rows enter the loss."""
    patch: PendingPatch = engine.patches.pending
    logits, edit_preact = engine.forward(prepared, langs)                   # (batch, labels), (batch,)
    memory_preact = patch.preact(memory)                                    # (memory,)
    loss = objective(logits, edit_preact, memory_preact[:n_train])
    patch.flat.grad, = torch.autograd.grad(loss, [patch.flat])
    return StepOutput(loss.item(), *(t.detach().cpu().numpy() for t in (logits, edit_preact, memory_preact)))


ENGINES: dict[str, type[Engine]] = {"cached": CachedEngine, "full": FullEngine}
