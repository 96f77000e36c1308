"""GRACE (Hartvigsen et al., NeurIPS 2023): a discrete key-value codebook on the last
FFN at the classifier position.

A key is the FFN's input `h` for an edit; its value is a trained replacement of the
FFN's output. An input within the deferral radius of one or more keys gets the value of
the nearest of them: `logits = head(LN(value + h))`; any other input runs the FFN as
before. (GRACE's code takes the nearest key and checks its radius; with several keys per
edit (+mpn), a nearer key that does not cover an input would then shadow one that does:
on xfacts 35 of 386 grace+mpn edits failed that way.) Per edit, as in
the paper's code (Euclidean distance, "coverage" expansion):
- no key within `radius` + its own radius: a new key with a new value;
- the nearest such key has the edit's label: its radius grows to reach the edit, and the
  edit trains that key's value;
- it has another label: a new key, and both radii shrink to half the distance.
The value starts at the FFN's output for the edit ("warm") and is trained by Adam on the
edit's cross-entropy. With +mpn the pool translations' inputs join the edit's entry as
keys sharing its value (placed by the same rules), and each step samples translations.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mpn.editing.methods.base import EditRequest, Method, MethodHParams, Outcome, threads
from mpn.editing.methods.patcher import right_rows
from mpn.core.knobs import knob


@dataclass
class GraceHParams(MethodHParams):
    lr: float = knob(1.0, gt=0)            # GRACE's edit_lr
    max_steps: int = knob(100, ge=1)       # GRACE's n_iter; stops earlier once every row of the batch is right
    radius: float = knob(1.0, gt=0)        # initial deferral radius (GRACE's eps), in FFN-input distance


@dataclass
class Codebook:
    keys: torch.Tensor        # (n, hidden)
    radii: torch.Tensor       # (n,)
    value_of: torch.Tensor    # (n,) index into values
    values: torch.Tensor      # (m, hidden)
    labels: torch.Tensor      # (m,) the label each value was trained for

    @classmethod
    def empty(cls, hidden: int, device: torch.device | None = None) -> "Codebook":
        return cls(torch.zeros(0, hidden, device=device), torch.zeros(0, device=device),
                   torch.zeros(0, dtype=torch.long, device=device), torch.zeros(0, hidden, device=device),
                   torch.zeros(0, dtype=torch.long, device=device))

    def copy(self) -> "Codebook":
        return Codebook(*(t.clone() for t in (self.keys, self.radii, self.value_of, self.values, self.labels)))

    def replace(self, h: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """(n, hidden) FFN inputs and outputs -> outputs with the codebook applied."""
        if not self.keys.shape[0]:
            return out
        distance = torch.cdist(h, self.keys)                                          # (n, keys)
        covered = distance <= self.radii
        distance, nearest = torch.where(covered, distance, torch.inf).min(dim=1)      # (n,) each
        return torch.where(covered.any(dim=1)[:, None], self.values[self.value_of[nearest]], out)

    def place(self, key: torch.Tensor, value: int | None, label: int, radius: float) -> int:
        """Put one key in by GRACE's rules; `value` None makes a new value slot (filled
        by the caller). Returns the value index the key answers with."""
        if self.keys.shape[0]:
            distance, j = torch.cdist(key[None], self.keys)[0].min(dim=0)
            distance, j = distance.item(), j.item()
            if distance <= radius + self.radii[j].item():
                if self.labels[self.value_of[j]].item() == label:
                    # coverage: grow to reach the edit (a hair over: distances computed in
                    # another batch shape differ in the last bits and must not leave it outside)
                    self.radii[j] = max(self.radii[j].item(), distance + 1e-4)
                    return self.value_of[j].item() if value is None else value
                self.radii[j] = distance / 2 - 1e-5                        # conflict: split the distance
                radius = distance / 2
        if value is None:
            self.values = torch.cat([self.values, self.values.new_zeros(1, self.values.shape[1])])
            self.labels = torch.cat([self.labels, self.labels.new_tensor([label])])
            value = self.values.shape[0] - 1
        self.keys = torch.cat([self.keys, key[None]])
        self.radii = torch.cat([self.radii, self.radii.new_tensor([radius])])
        self.value_of = torch.cat([self.value_of, self.value_of.new_tensor([value])])
        return value


class Grace(Method):
    HParams = GraceHParams
    engines = ("cached",)

    def __init__(self, engine, hparams, memory, val_memory):
        super().__init__(engine, hparams, memory, val_memory)
        self.codebook = Codebook.empty(memory.features.shape[1], memory.features.device)
        engine.replacements.append(lambda h, out: self.codebook.replace(h, out))

    def edit(self, request: EditRequest) -> Outcome:
        hp = self.hparams
        rows = self.engine.features(request.texts())
        book = self.codebook.copy()   # edited aside, swapped in at the end: an interrupted edit leaves no trace
        fresh = book.values.shape[0]
        value = book.place(rows[0], None, request.target, hp.radius)
        for key in rows[1:]:
            book.place(key, value, request.target, hp.radius)
        with torch.no_grad():
            start = self.engine.frozen_ffn(rows[:1])[0] if value == fresh else book.values[value]
        with threads(self.engine.train_threads):
            trained, steps, loss = self._train(start, rows, request)
        book.values[value] = trained
        self.codebook = book
        return Outcome(steps, loss, {"codebook_keys": book.keys.shape[0]})

    def _train(self, start: torch.Tensor, rows: torch.Tensor, request: EditRequest) -> tuple[torch.Tensor, int, float]:
        hp = self.hparams
        value = start.detach().clone().requires_grad_(True)                 # (hidden,)
        optimizer = torch.optim.Adam([value], lr=hp.lr)
        sampler = random.Random(request.seed)
        step, loss = 0, float("nan")
        for step in range(1, hp.max_steps + 1):
            index = request.sample_rows(sampler)
            logits = self.engine.head(self.engine.site.layer_norm(value + rows[index]))   # (batch, labels)
            if right_rows(logits, request.target, len(index) - 1, "batch"):
                break
            loss_t = F.cross_entropy(logits, torch.full((len(index),), request.target, device=rows.device))
            loss = loss_t.item()
            optimizer.zero_grad()
            loss_t.backward()
            optimizer.step()
        return value.detach(), step, loss

    def reset(self) -> None:
        self.codebook = Codebook.empty(self.codebook.keys.shape[1], self.codebook.keys.device)

    def extras(self) -> dict:
        return {"codebook_keys": self.codebook.keys.shape[0]}

    def state(self) -> dict[str, torch.Tensor]:
        book = self.codebook
        return {"keys": book.keys, "radii": book.radii, "value_of": book.value_of, "values": book.values,
                "labels": book.labels}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        device = self.codebook.keys.device
        self.codebook = Codebook(*(tensors[k].to(device) for k in ("keys", "radii", "value_of", "values", "labels")))
