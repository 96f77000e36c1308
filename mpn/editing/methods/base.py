"""What every editing method shares: its hyperparameters' base, the request it gets,
the outcome it returns, and the MPN augmentation that any method can take (`X+mpn`).

A method (mpn/editing/methods/<name>.py) is one class with a typed `HParams` dataclass and:
- `__init__(engine, hparams, memory, val_memory)`: the engine runs the (patched)
  classifier from cached FFN inputs; memory: FFN inputs of unrelated texts with their
  languages (mpn.editing.memory.Memory), read only through `memory.without(request.heldout)`;
- `edit(request) -> Outcome`: make one edit; if anything raises inside, the model is
  left exactly as before the call;
- `reset()`: back to the base model;
- `state() / load_state(tensors)`: what the method added, as tensors (save and load);
- `extras() -> dict`: the method's own figures (patch neurons, codebook entries).
Predictions go through the engine, which carries every method's changes.
"""
from __future__ import annotations

import contextlib
import functools
import random
from dataclasses import dataclass, field

import torch
from threadpoolctl import ThreadpoolController

import mpn.editing.closed_form  # noqa: F401  (loads NumPy's and SciPy's BLAS, which the step calls, before _blas looks)
from mpn.editing.memory import Memory
from mpn.core.knobs import knob
from mpn.core.schema import ENGLISH, Text


@dataclass
class MethodHParams:
    """Knobs every method has."""
    seed: int = knob(0, ge=0)

    # without the MPN augmentation: the English input alone, the English memory alone
    k_translations = 0
    memory_per_language = 0   # memory rows in each other language it remembers (a field where a method has it)
    n_views = 0   # dropout copies of the edit input per training step (a field where a method has it)

    def samples(self, lang: str) -> bool:
        """May the method train on this language?"""
        return False

    def remembers(self, lang: str) -> bool:
        """May its memory hold rows in this language (up to `memory_per_language`)? Rows
        in a language held out for an edit are masked out for that edit (mpn.editing.memory),
        and the run's fixed held-out languages are never loaded (memory_inputs)."""
        return True

    def pool(self, translations: dict[str, Text], heldout: set[str]) -> list[str]:
        """The languages of `translations` this edit may train on."""
        return sorted(lang for lang in translations if self.samples(lang) and lang not in heldout)


@dataclass
class MPNHParams:
    """The MPN augmentation (Si et al. 2024): each training step of the base method sees
    the English input together with translations sampled from the pool languages."""
    k_translations: int = knob(4, ge=0)  # translations sampled into each step's batch
    pool_languages: list[str] | None = knob(None)  # languages MPN may sample; None = all available
    memory_per_language: int = knob(200, ge=0)  # memory items in each pool language, beside the English memory

    def samples(self, lang: str) -> bool:
        return lang != ENGLISH and (self.pool_languages is None or lang in self.pool_languages)

    def remembers(self, lang: str) -> bool:
        return self.samples(lang)   # its changes stay silent in the languages it trains on


@dataclass
class EditRequest:
    text: Text
    target: int                     # label index
    translations: dict[str, Text]   # what the method may train on (empty without +mpn)
    k: int                          # translations sampled into each training step
    seed: int                       # this edit's seed
    heldout: frozenset[str] = frozenset()   # languages no term of this edit's loss may see

    def sample(self, rng: random.Random) -> list[str]:
        """The translations of one training step."""
        if not self.k or not self.translations:  # nothing to draw (and no draw is made)
            return []
        return rng.sample(sorted(self.translations), min(self.k, len(self.translations)))

    def texts(self) -> list[Text]:
        """The English input, then the translations in language order (the rows that
        `sample_rows` indexes)."""
        return [self.text] + [self.translations[lang] for lang in sorted(self.translations)]

    def sample_rows(self, rng: random.Random) -> list[int]:
        """Rows of `texts()` for one training step: the English input and `sample(rng)`."""
        langs = sorted(self.translations)
        return [0] + [1 + langs.index(lang) for lang in self.sample(rng)]


@dataclass
class Outcome:
    steps: int
    loss: float
    extras: dict = field(default_factory=dict)   # the method's own figures for this edit


class Method:
    """The interface; see the module docstring."""
    HParams: type = MethodHParams
    engines: tuple[str, ...] = ("cached", "full")   # engines the method runs on

    def __init__(self, engine, hparams, memory: Memory, val_memory: Memory):
        self.engine, self.hparams = engine, hparams
        self.memory, self.val_memory = memory, val_memory

    def edit(self, request: EditRequest) -> Outcome:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def extras(self) -> dict:
        return {}


@contextlib.contextmanager
def threads(n: int | None):
    """torch and BLAS CPU threads for a block (None: leave them). NumPy's BLAS counts:
    with an edit process per core, its own threads on each process's products oversubscribe
    the cores (docs/benchmarks.md, Measurements behind the code)."""
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with _blas().limit(limits=n, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)


@functools.cache
def _blas() -> ThreadpoolController:
    """The thread pools of the libraries loaded by now (NumPy's and SciPy's BLAS among them)."""
    return ThreadpoolController()
