"""One uniform entry point for editing a classifier, inside or outside the pipeline.

    editor = Editor(model, tokenizer, "mpn", hparams, memory=unrelated_training_texts)
    result = editor.edit("The currency of Japan is the euro.", "REFUTES",
                         translations={"de": "...", "fr": "..."})

Each edit adds one patch neuron to the last FFN (mpn.patch) and trains only that neuron
(mpn.losses). `patcher` trains on the English input; `mpn` also puts translations,
sampled from its pool languages, into every step's batch.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from dataclasses import dataclass
from typing import Iterable

import babel
import torch

from mpn.engines import ENGINES, Text
from mpn.errors import UserError
from mpn.features import FeatureStore
from mpn.losses import Objective, memory_loss
from mpn.methods import MPNHParams, PatcherHParams, make_hparams
from mpn.models import Classifier

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def is_language_code(code: str) -> bool:
    """A language (optionally with a region or script) that CLDR knows: de, zh, pt-BR."""
    try:
        babel.Locale.parse(code.replace("-", "_"))
    except (ValueError, babel.UnknownLocaleError):
        return False
    return True


def n_tokens(tokenizer, prefix: str, text: Text) -> int:
    first, *rest = text if isinstance(text, tuple) else (text,)
    return len(tokenizer(prefix + first, *rest)["input_ids"])


@dataclass
class EditResult:
    success: bool        # the English input has the target label after the edit
    steps: int
    seconds: float
    loss: float
    languages: list[str]  # translations MPN could sample (empty for patcher)
    final_lr: float       # where reduce-on-plateau left the learning rate


@torch.no_grad()
def _clip_grad_norm(param: torch.Tensor, max_norm: float) -> None:
    """`torch.nn.utils.clip_grad_norm_` for one tensor, the same formula without the
    general version's overhead (at 2 ops instead of 10, a tenth of a cached step)."""
    scale = max_norm / (param.grad.norm().item() + 1e-6)
    if scale < 1.0:
        param.grad.mul_(scale)


@torch.no_grad()
def _bound_value(patch, max_norm: float) -> None:
    """Project the patch value back onto the ball of radius `max_norm`. Long streams lose
    locality partly through GELU's dip: every silent patch still adds up to -0.17 times
    its value, and unbounded values grow 3-4x while training."""
    norm = patch.value().norm().item()
    if norm > max_norm:
        patch.value_direction.mul_(max_norm / norm)


@contextlib.contextmanager
def _threads(n: int | None):
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Editor:
    def __init__(self, model: Classifier, tokenizer, method: str = "patcher",
                 hparams: PatcherHParams | dict | None = None, engine: str = "cached",
                 memory: list[Text] = (), val_memory: list[Text] = (), max_length: int = 128,
                 any_language_key: bool = False, features: FeatureStore | None = None):
        if engine not in ENGINES:
            raise UserError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
        self.method = method
        self.any_language_key = any_language_key
        self.hparams = hparams if isinstance(hparams, PatcherHParams) else make_hparams(method, hparams)
        if method == "patcher" and isinstance(self.hparams, MPNHParams):
            raise UserError("patcher takes PatcherHParams, not MPNHParams")
        self.model = model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.engine = ENGINES[engine](model, tokenizer, max_length)
        if features is not None:  # FFN inputs computed ahead (stage features@<task>)
            self.engine.preload(features, self.hparams.n_views)
        self.labels = list(model.labels)
        self.base_memory = self.engine.features(list(memory))     # (memory, hidden)
        self.val_memory = self.engine.features(list(val_memory))  # (val_memory, hidden)
        self.edit_memory = [self.base_memory[:0]]                 # FFN inputs of past edits
        self.n_edits = 0

    # --- public API -----------------------------------------------------------
    def predict(self, texts: list[Text]) -> list[str]:
        return [self.labels[i] for i in self.engine.predict(list(texts)).argmax(-1).tolist()]

    def reset(self) -> None:
        """Drop every patch and every past edit: back to the base model."""
        self.engine.patches.reset()
        self.edit_memory = [self.base_memory[:0]]
        self.n_edits = 0

    def edit(self, text: Text, target: str, translations: dict[str, Text] | None = None,
             heldout: Iterable[str] = ()) -> EditResult:
        """Add one trained patch neuron that gives `text` the label `target`.

        MPN trains on the `translations` of its pool languages, never on those in
        `hparams.heldout_languages` or in `heldout` (this edit's own held-out languages).

        Transactional: if anything raises inside (a bad input, Ctrl-C mid-training), the
        pending patch is discarded and the model and editor are exactly as before the
        call, so the next edit works."""
        if target not in self.labels:
            raise UserError(f"unknown target label {target!r}; allowed: {', '.join(self.labels)}")
        self._check_inputs(text, translations or {})
        start = time.perf_counter()
        hp = self.hparams
        seed = hp.seed * 1_000_003 + self.n_edits
        torch.manual_seed(seed)
        pool = self._pool(translations or {}, set(heldout))
        try:
            prepared = self.engine.prepare(text, {lang: translations[lang] for lang in pool}, hp.n_views)
            with _threads(self.engine.train_threads):
                steps, loss, final_lr = self._train(prepared, self.labels.index(target), pool, seed)
            remembered = self._edit_features(text, prepared, pool)
        except BaseException:
            self.engine.patches.discard()
            raise
        self.engine.patches.commit()
        self.edit_memory.append(remembered)  # past edits join the memory: later patches stay silent on them
        self.n_edits += 1
        success = self.predict([text])[0] == target
        return EditResult(success, steps, time.perf_counter() - start, loss, pool, final_lr)

    # --- internals -------------------------------------------------------------
    def _check_inputs(self, text: Text, translations: dict[str, Text]) -> None:
        """The rules for what an edit accepts:
        - an empty text (or pair part), English or translated, is rejected: the patch
          would be trained on the input prefix alone;
        - a translation key must be a language code CLDR knows, other than en, unless
          the Editor was made with `any_language_key=True`;
        - a text longer than `max_length` tokens is edited truncated, with one warning
          per edit giving its token count."""
        for lang, t in [("en", text), *translations.items()]:
            parts = t if isinstance(t, tuple) else (t,)
            if not all(isinstance(p, str) and p.strip() for p in parts):
                raise UserError(f"edit text{'' if lang == 'en' else f' ({lang})'} is empty: {t!r}")
        if not self.any_language_key:
            for lang in translations:
                if lang == "en" or not is_language_code(lang):
                    raise UserError(f"translation key {lang!r} is not a language code other than en "
                                    "(CLDR); pass any_language_key=True to the Editor to allow it")
        extract, prefix = self.engine.extract, self.model.config.input_prefix
        longest = max(n_tokens(extract.tokenizer, prefix, t) for t in [text, *translations.values()])
        if longest > extract.max_length:
            log.warning("edit input of %d tokens is truncated to max_length %d: %r",
                        longest, extract.max_length, text)


    def _pool(self, translations: dict[str, Text], heldout: set[str]) -> list[str]:
        hp = self.hparams
        if not isinstance(hp, MPNHParams):
            return []
        return sorted(lang for lang in translations if hp.samples(lang) and lang not in heldout)

    def _memory(self) -> torch.Tensor:
        return torch.cat([self.base_memory, *self.edit_memory])

    def _train(self, prepared, target: int, pool: list[str], seed: int) -> tuple[int, float, float]:
        hp = self.hparams
        generator = torch.Generator().manual_seed(seed)
        key_input = self.engine.features([prepared.text])[0]
        patch = self.engine.patches.start(key_input, hp.value_scale, generator)
        self._orient_value(patch, prepared, target)
        # fused: one kernel for the whole update; per-step overhead is most of the cost
        optimizer = torch.optim.Adam(patch.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, fused=True)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=hp.lr_factor,
                                                               patience=hp.lr_patience)
        sampler = random.Random(seed)
        k = getattr(hp, "k_translations", 0)
        # training memory and held-out memory in one matrix: one product a step serves
        # the memory loss and the early-stop check (only the first n_train rows train)
        memory = torch.cat([self._memory(), self.val_memory])          # (memory + val, hidden)
        n_train = memory.shape[0] - self.val_memory.shape[0]
        objective = Objective.for_edit(hp, target)
        state, step, loss = {"best": float("inf"), "stale": 0}, 0, float("nan")
        for step in range(1, hp.max_steps + 1):
            langs = sampler.sample(pool, min(k, len(pool)))
            out = self.engine.step(prepared, langs, memory, n_train, objective)  # sets patch.flat.grad
            loss = out.loss
            right = self._right(out.logits, target, len(langs))
            if right and self._settled(out.memory_preact[n_train:], out.edit_preact, state):
                break
            _clip_grad_norm(patch.flat, hp.grad_clip)
            optimizer.step()
            if hp.value_norm_max is not None:
                _bound_value(patch, hp.value_norm_max)
            if right:
                # Reduce-on-plateau only once the edit is right, to settle the memory
                # terms. Before that a plateau means the patch is still searching:
                # shrinking the step there froze an MPN edit for 2,000 steps (its lr
                # fell below 1e-6 by step 800; with a constant lr it was right at 406).
                scheduler.step(loss)
        return step, loss, optimizer.param_groups[0]["lr"]

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

    def _right(self, logits: torch.Tensor, target: int, n_translations: int) -> bool:
        """Is the edit right? Rows are [clean English, translations..., English views...];
        `stop_on` says whether the translations must be right too."""
        right = logits.argmax(-1) == target
        if self.hparams.stop_on == "english":
            right = torch.cat([right[:1], right[1 + n_translations:]])
        return bool(right.all())

    def _settled(self, val_preact: torch.Tensor, edit_preact: torch.Tensor, state: dict) -> bool:
        """Early stop, checked once the edit is right: the patch is already silent on the
        held-out memory (every pre-activation `val_preact` below `mem_threshold`), or the
        held-out memory loss has stopped falling (not `min_delta` below its best for
        `patience` checks) and, if `stop_silent_below` is set, no held-out pre-activation
        is at or above it."""
        hp = self.hparams
        top = val_preact.max().item() if val_preact.numel() else float("-inf")
        if top < hp.mem_threshold:
            return True
        # against the clean English row only: sampled translations would make it jitter
        val = memory_loss(val_preact, edit_preact[:1], hp.mem_topk, hp.mem_margin, hp.mem_threshold).item()
        if val < state["best"] * (1 - hp.min_delta):
            state["best"], state["stale"] = val, 0
        else:
            state["stale"] += 1
        firing = hp.stop_silent_below is not None and top >= hp.stop_silent_below
        return state["stale"] >= hp.patience and not firing

    def _edit_features(self, text: Text, prepared, pool: list[str]) -> torch.Tensor:
        """(1 + pool, hidden): the edit's English input and pool translations, as memory."""
        texts = [text] + [prepared.translations[lang] for lang in pool]
        return self.engine.features(texts)
