"""One uniform entry point for editing a classifier, inside or outside the pipeline.

    editor = Editor(model, tokenizer, "mpn", hparams, memory=unrelated_training_texts)
    result = editor.edit("The currency of Japan is the euro.", "REFUTES",
                         translations={"de": "...", "fr": "..."})

The Editor holds the engine (the classifier run from cached FFN inputs) and one editing
method from the registry (mpn.editing.methods): `patcher` adds one trained patch neuron per
edit; `X+mpn` (`mpn` = `patcher+mpn`) also puts translations, sampled from its pool
languages, into every training step of X.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import babel
import torch
from safetensors.torch import load_file, save_file

from mpn.editing.engines import ENGINES, Text
from mpn.editing.features import FeatureStore
from mpn.editing.memory import Memory
from mpn.editing.methods import MethodHParams, hparams_class, make_hparams, resolve
from mpn.editing.methods.base import EditRequest
from mpn.model.device import resolve_device
from mpn.core.errors import UserError
from mpn.core.io import atomic_path
from mpn.core.params import MAX_LENGTH

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def is_language_code(code: str) -> bool:
    """A language (optionally with a region or script) that CLDR knows: de, zh, pt-BR."""
    try:
        babel.Locale.parse(code.replace("-", "_"))
    except (ValueError, babel.UnknownLocaleError):
        return False
    return True


def longest_input(tokenizer, prefix: str, texts: list[Text]) -> int:
    """Tokens in the longest of `texts` (texts, or (premise, hypothesis) pairs), in one
    tokenizer call: one call per text cost more than a whole cached edit's steps."""
    pairs = [t for t in texts if isinstance(t, tuple)]
    singles = [prefix + t for t in texts if not isinstance(t, tuple)]
    lengths = [len(ids) for ids in tokenizer(singles)["input_ids"]] if singles else []
    if pairs:
        lengths += [len(ids) for ids in tokenizer([prefix + a for a, _ in pairs], [b for _, b in pairs])["input_ids"]]
    return max(lengths)


@dataclass
class EditResult:
    success: bool        # the English input has the target label after the edit
    steps: int
    seconds: float
    loss: float
    languages: list[str]  # translations the method could sample (empty without +mpn)
    extras: dict          # the method's own figures for this edit (patcher: final_lr)


class Editor:
    def __init__(self, model, tokenizer, method: str = "patcher",
                 hparams: MethodHParams | dict | None = None, engine: str = "cached",
                 memory: Sequence[Text] | Mapping[str, Sequence[Text]] = (),
                 val_memory: Sequence[Text] | Mapping[str, Sequence[Text]] = (), max_length: int = MAX_LENGTH,
                 any_language_key: bool = False, features: FeatureStore | None = None,
                 device: str | None = None):
        if engine not in ENGINES:
            raise UserError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
        method_class, _ = resolve(method)
        if engine not in method_class.engines:
            raise UserError(f"method {method!r} runs on the {' or '.join(method_class.engines)} engine, not {engine!r}")
        self.name = method
        self.any_language_key = any_language_key
        hparams = hparams if isinstance(hparams, MethodHParams) else make_hparams(method, hparams)
        if type(hparams) is not hparams_class(method):
            raise UserError(f"{method} takes {hparams_class(method).__name__}, not {type(hparams).__name__}")
        self.model = model.eval() if device is None else model.eval().to(resolve_device(device))
        for p in model.parameters():
            p.requires_grad_(False)
        self.engine = ENGINES[engine](model, tokenizer, max_length)
        if features is not None:  # FFN inputs computed ahead (stage features@<task>)
            self.engine.preload(features, hparams.n_views)
        self.labels = self.engine.extract.anatomy.labels
        self.method = method_class(self.engine, hparams, Memory.of(self.engine.features, memory),
                                   Memory.of(self.engine.features, val_memory))
        self.n_edits = 0

    @property
    def hparams(self) -> MethodHParams:
        return self.method.hparams

    @hparams.setter
    def hparams(self, value: MethodHParams) -> None:
        self.method.hparams = value

    # --- public API -----------------------------------------------------------
    def predict(self, texts: list[Text]) -> list[str]:
        return [self.labels[i] for i in self.engine.predict(list(texts)).argmax(-1).tolist()]

    def reset(self) -> None:
        """Drop every change the method made: back to the base model."""
        self.method.reset()
        self.n_edits = 0

    def extras(self) -> dict:
        """The method's own running figures (patcher: patch neurons in the model)."""
        return self.method.extras()

    def warm(self, texts: list[Text], view_texts: list[Text] = ()) -> None:
        """Compute ahead, in large batches, the features of texts predicted or edited later."""
        self.engine.warm(list(texts), list(view_texts), self.hparams.n_views)

    def edit(self, text: Text, target: str, translations: dict[str, Text] | None = None,
             heldout: Iterable[str] = ()) -> EditResult:
        """Make `text` have the label `target`.

        With the MPN augmentation the method trains on the `translations` of its pool
        languages, never on those in `heldout` (this edit's held-out languages: in the
        pipeline, mpn.experiment.heldout.HeldOut's draw); no memory row in a held-out language enters any
        term of this edit's loss or stopping rule (mpn.editing.memory).

        Transactional: if anything raises inside (a bad input, Ctrl-C mid-training), the
        model and editor are exactly as before the call, so the next edit works."""
        if target not in self.labels:
            raise UserError(f"unknown target label {target!r}; allowed: {', '.join(self.labels)}")
        translations = translations or {}
        self._check_inputs(text, translations)
        start = time.perf_counter()
        hp = self.hparams
        seed = hp.seed * 1_000_003 + self.n_edits
        torch.manual_seed(seed)
        heldout = frozenset(heldout)
        pool = hp.pool(translations, heldout)
        request = EditRequest(text, self.labels.index(target), {lang: translations[lang] for lang in pool},
                              hp.k_translations, seed, heldout)
        grad_mode = torch.is_grad_enabled()
        try:
            outcome = self.method.edit(request)
        finally:  # an interrupt that lands as a no_grad block starts would leave autograd off
            torch.set_grad_enabled(grad_mode)
        self.n_edits += 1
        success = self.predict([text])[0] == target
        return EditResult(success, outcome.steps, time.perf_counter() - start, outcome.loss, pool, outcome.extras)

    def save(self, path: str | Path) -> None:
        """What the method added (one safetensors file), for `load` on the same base model."""
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in self.method.state().items()}, str(tmp),
                      metadata={"method": self.name})

    def load(self, path: str | Path) -> None:
        self.method.load_state(load_file(str(path)))

    # --- internals -------------------------------------------------------------
    def _check_inputs(self, text: Text, translations: dict[str, Text]) -> None:
        """The rules for what an edit accepts:
        - an empty text (or pair part), English or translated, is rejected: the patch
          would be trained on the input prefix alone;
        - a translation key must be a language code CLDR knows, other than en, unless
          the Editor was made with `any_language_key=True`;
        - a text longer than `max_length` tokens is edited truncated, with one warning
          per edit giving its token count (checked for texts whose features are not yet
          computed: tokenizing is slow, and the features stage logs how many texts
          fill `max_length`)."""
        for lang, t in [("en", text), *translations.items()]:
            parts = t if isinstance(t, tuple) else (t,)
            if not all(isinstance(p, str) and p.strip() for p in parts):
                raise UserError(f"edit text{'' if lang == 'en' else f' ({lang})'} is empty: {t!r}")
        if not self.any_language_key:
            for lang in translations:
                if lang == "en" or not is_language_code(lang):
                    raise UserError(f"translation key {lang!r} is not a language code other than en "
                                    "(CLDR); pass any_language_key=True to the Editor to allow it")
        extract, prefix = self.engine.extract, self.engine.extract.anatomy.input_prefix
        fresh = [t for t in [text, *translations.values()] if not self.engine.has_features(t)]
        longest = longest_input(extract.tokenizer, prefix, fresh) if fresh else 0
        if longest > extract.max_length:
            log.warning("edit input of %d tokens is truncated to max_length %d: %r",
                        longest, extract.max_length, text)
