"""What every editor of a causal LM shares (mpn.editing.lm_patcher, lm_ft, lm_grace): the
model with an addition to one MLP's output hooked in (the last layer's by default, the
`layer` knob; mpn.model.lm), the completions an edit trains on, the memory's states, the
two engines, and the rates an edit is judged by.

An edit is a prompt and its new object (`"The currency of Japan is the"`, `" euro"`); it
succeeds when every target token is the greedy next token after the prompt and the
target tokens before it (teacher forcing). With the last layer's MLP the site, every
target position's MLP input is independent of the addition: the cached engine computes
each step's logits from those stored inputs, exactly; the full one, the reference, runs
the whole model with the addition hooked in.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mpn.core.errors import UserError
from mpn.model.lm import find_lm_site


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
    extras: dict = field(default_factory=dict)           # what a method reports of its own (bias_shift, sharpened)


ENGINES = ("cached", "full")
BATCH = 32   # texts a forward when judging: bounds the activations


@dataclass
class Batch:
    """One training step's rows: the English completion's target positions, then the
    sampled translations'."""
    langs: list[str]         # the translations sampled
    h: torch.Tensor          # (rows, hidden) the MLP inputs
    targets: torch.Tensor    # (rows,) token ids
    logits: torch.Tensor     # (rows, vocab) with the addition

    @property
    def right(self) -> bool:
        return bool((self.logits.argmax(-1) == self.targets).all())


class LMEditorBase:
    """A frozen causal LM, an addition to one MLP's output that the edits train (a
    module with a `count` and a forward from the MLP's input to what it adds; a subclass
    makes it and trains it in `edit`), and the rates an edit is judged by."""

    def __init__(self, model, tokenizer, engine: str = "cached", layer: int = -1):
        if engine not in ENGINES:
            raise UserError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
        self.engine = engine
        self.model, self.tokenizer = model.eval(), tokenizer
        for p in model.parameters():
            p.requires_grad_(False)
        self.site = find_lm_site(model, layer)
        if engine == "cached" and not self.site.last:
            raise UserError(f"layer {layer}: the cached engine is exact only for the last layer "
                            f"({model.config.num_hidden_layers - 1}); use the full engine for another")
        self.n_edits = 0
        self.addition: nn.Module | None = None   # a subclass's (`_attach`)
        # the cached engine judges from the unedited MLP inputs and residuals, captured
        # once a token sequence: (ids, positions kept) -> 2 x (kept, hidden)
        self.states: dict[tuple[tuple[int, ...], int], tuple[torch.Tensor, torch.Tensor]] = {}

    def share_states(self, other: "LMEditorBase") -> None:
        """Judge from `other`'s captured states (an editor of the same unedited model): a
        sequence either captured is captured once."""
        self.states = other.states

    def _attach(self, addition: nn.Module) -> None:
        self.addition = addition
        self.hook = self.site.install(addition)   # removed and restored by mpn.model.lm_portable.merged

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
        state is an outlier no edit resembles), text after text. (positions, hidden)"""
        special = set(self.tokenizer.all_special_ids)
        sequences = [self._ids(text)[0] for text in texts]
        states = [None] * len(texts)
        for index, ids, mask in _padded_batches(sequences):
            h = self.site.capture(ids, mask)[0]                               # (texts, seq, hidden)
            for i, row in zip(index, h):
                keep = torch.tensor([t not in special for t in sequences[i]], dtype=torch.bool)
                states[i] = row[:len(sequences[i])][keep]
        return torch.cat(states) if states else torch.zeros(0, self.site.hidden)

    def memory_positions(self, memory: Sequence[str] | Mapping[str, Sequence[str] | torch.Tensor]
                         ) -> tuple[torch.Tensor, list[str]]:
        """The memory's states (`_positions`) and each one's language: `memory` is texts
        (language "": never held out) or {language: texts, or their states computed
        before}. (positions, hidden), [positions]"""
        by_lang = memory if isinstance(memory, Mapping) else {"": memory}
        states = {lang: texts if isinstance(texts, torch.Tensor) else self._positions(list(texts))
                  for lang, texts in by_lang.items()}
        langs = [lang for lang, h in states.items() for _ in range(h.shape[0])]
        return (torch.cat(list(states.values())) if states else torch.zeros(0, self.site.hidden)), langs

    def edit(self, prompt: str, target: str, translations: dict[str, tuple[str, str]] | None = None,
             heldout: Sequence[str] = ()) -> LMEditResult:
        """Make `target` the model's completion of `prompt`; with k_translations > 0, also
        train on sampled `translations` ({lang: (prompt, target)}) not in `heldout`. All
        or nothing: an interrupted edit leaves the model as it was."""
        raise NotImplementedError

    def merge_into(self, model) -> None:
        """Write the committed edits into `model`, a hook-free copy of this editor's model,
        as its own weights (mpn.model.lm_portable.merged; a subclass says how)."""
        raise NotImplementedError

    def _request(self, prompt: str, target: str, translations: dict[str, tuple[str, str]] | None,
                 heldout: Sequence[str], k: int, seed: int) -> tuple[Completion, dict[str, Completion], random.Random]:
        """An edit's English completion, the translations it may sample from (none when k
        is 0; never a held-out language), and its sampler."""
        english = self.completion(prompt, target)
        pool = {lang: self.completion(*pair) for lang, pair in sorted((translations or {}).items())
                if lang not in set(heldout)} if k else {}
        return english, pool, random.Random(seed * 1_000_003 + self.n_edits)

    def _batch(self, english: Completion, pool: dict[str, Completion], rng: random.Random, k: int) -> Batch:
        """One training step's batch: English and k languages of the pool (all of them
        when it holds fewer), with the logits at their target positions."""
        langs = rng.sample(sorted(pool), min(k, len(pool))) if pool else []
        batch = [english] + [pool[lang] for lang in langs]
        h = torch.cat([c.h for c in batch])                                 # (rows, hidden)
        residual = torch.cat([c.residual for c in batch])                   # (rows, hidden)
        return Batch(langs, h, torch.cat([c.target for c in batch]), self._logits(batch, h, residual))

    def _states(self, sequences: list[list[int]], keep: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each token sequence's MLP inputs and residuals at its last `keep` positions in
        the unedited model (no addition at the last layer reaches them), captured once.
        [2 x (keep, hidden)]"""
        missing = sorted({(tuple(s), k) for s, k in zip(sequences, keep)} - self.states.keys())
        for index, ids, mask in _padded_batches([list(s) for s, _ in missing]):
            h, residual = self.site.capture(ids, mask)                       # 2 x (texts, seq, hidden)
            for i, h_row, residual_row in zip(index, h, residual):
                seq, k = missing[i]
                kept = slice(len(seq) - k, len(seq))
                self.states[missing[i]] = (h_row[kept].clone(), residual_row[kept].clone())
        return [self.states[tuple(s), k] for s, k in zip(sequences, keep)]

    @torch.no_grad()
    def _kept_logits(self, sequences: list[list[int]], keep: list[int]) -> list[torch.Tensor]:
        """Each token sequence's logits at its last `keep` positions, with the addition:
        the cached engine's closed form (mpn.model.lm.LMSite.logits) from the captured
        states, else the full model (its hooks included), the vocabulary projection only
        there. [(keep, vocab)]"""
        if self.engine == "cached":
            states = self._states(sequences, keep)
            if not states:
                return []
            logits = self.site.logits(torch.cat([h for h, _ in states]), torch.cat([r for _, r in states]),
                                      self.addition)                         # (rows, vocab)
            return list(logits.split(keep))
        out = [None] * len(sequences)
        for index, ids, mask in _padded_batches(sequences):
            hidden = self.model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
            for i, row in zip(index, hidden):                                # row: (seq, hidden)
                end = len(sequences[i])
                out[i] = self.site.vocab_logits(row[end - keep[i]:end])
        return out

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[bool, float]]:
        """Per (prompt, target): is every target token the greedy next token (teacher
        forced), and log P(target | prompt), the sum over its tokens."""
        out = []
        for start in range(0, len(pairs), 4 * BATCH):   # bounds the (rows, vocab) logits held at once
            out += self._scores(pairs[start:start + 4 * BATCH])
        return out

    def _scores(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[bool, float]]:
        encoded = [self._ids(prompt, target) for prompt, target in pairs]
        logits = self._kept_logits([p + t[:-1] for p, t in encoded], [len(t) for _, t in encoded])
        out = []
        for (_, target_ids), row in zip(encoded, logits):                    # row: (targets, vocab)
            target_ids = torch.tensor(target_ids)
            out.append((bool((row.argmax(-1) == target_ids).all()),
                        row.log_softmax(-1).gather(-1, target_ids[:, None]).sum().item()))
        return out

    def completes(self, prompt: str, target: str) -> bool:
        """Is every target token the greedy next token (teacher-forced)?"""
        return self.scores([(prompt, target)])[0][0]

    def log_prob(self, prompt: str, target: str) -> float:
        """log P(target | prompt), the sum over its tokens."""
        return self.scores([(prompt, target)])[0][1]

    def prefers(self, prompt: str, new: str, old: str) -> bool:
        """Is `new` the likelier completion than `old` (CounterFact's efficacy test:
        robust to a prompt whose greedy next token is a function word)?"""
        (_, new_log_prob), (_, old_log_prob) = self.scores([(prompt, new), (prompt, old)])
        return new_log_prob > old_log_prob

    def _logits(self, batch: list[Completion], h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """The target positions' logits with the patches, from the cache or the full model."""
        if self.engine == "cached":
            return self.site.logits(h, residual, self.addition)
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

    def next_token_logits(self, prompts: Sequence[str]) -> torch.Tensor:
        """The next-token logits after each prompt, with the edits (`_kept_logits`). (prompts, vocab)"""
        return torch.stack([row[-1] for row in self._kept_logits([self._ids(p)[0] for p in prompts],
                                                                 [1] * len(prompts))])


def _padded_batches(sequences: list[list[int]]) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """`sequences` by length in chunks of BATCH (little padding a forward): each chunk's
    indices, its right-padded ids and its attention mask."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for start in range(0, len(order), BATCH):
        index = order[start:start + BATCH]
        yield (index, *_right_padded([sequences[i] for i in index]))


def _right_padded(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded at the end, and the attention mask. Under causal attention no real
    token sees a pad after it, and positions count from 0 as alone: each row's states are
    what they are run alone. 2 x (texts, seq)"""
    length = max(len(s) for s in sequences)
    ids = torch.tensor([s + [0] * (length - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (length - len(s)) for s in sequences])
    return ids, mask


def locality(before: torch.Tensor, after: torch.Tensor) -> dict:
    """Top-1 agreement and mean KL(before || after) of next-token distributions. (prompts, vocab) x2"""
    agreement = (before.argmax(-1) == after.argmax(-1)).float().mean().item()
    kl = F.kl_div(F.log_softmax(after, -1), F.log_softmax(before, -1), log_target=True, reduction="batchmean").item()
    return {"top1_agreement": round(agreement, 4), "kl": round(kl, 6)}
