"""FT-L: constrained fine-tuning of the last FFN's output weights on the edit alone
(Zhu et al. 2020; the baseline EasyEdit calls FT-L).

Only W2 (the last FFN's second linear) trains, by Adam on the cross-entropy of the edit
batch (the English input; with +mpn also sampled translations), and after every step
the change is clipped to an L-infinity ball: no weight moves more than `norm_bound` from
where the edit started. Everything below W2 is frozen, so on cached FFN inputs a step is

    logits = head(LN(h + ffn(h) + act(W1 h + b1) @ delta.T))

exactly; the change is added to W2 once the edit is trained (both engines see it).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mpn.editing.methods.base import EditRequest, Method, MethodHParams, Outcome, threads
from mpn.editing.methods.patcher import right_rows
from mpn.core.errors import UserError
from mpn.core.knobs import knob


@dataclass
class FTHParams(MethodHParams):
    lr: float = knob(1.0e-3, gt=0)
    max_steps: int = knob(100, ge=1)      # stops earlier once every row of the batch is right
    norm_bound: float = knob(5.0e-3, gt=0)  # L-infinity bound on each weight's change per edit


class FineTune(Method):
    HParams = FTHParams
    engines = ("cached",)

    def __init__(self, engine, hparams, memory, val_memory):
        super().__init__(engine, hparams, memory, val_memory)
        self.down = engine.site.base_down
        self.original = self.down.weight.detach().clone()   # (hidden, F): what reset restores

    def edit(self, request: EditRequest) -> Outcome:
        with threads(self.engine.train_threads):
            delta, steps, loss = self._train(request)
        with torch.no_grad():
            self.down.weight.add_(delta)   # nothing changed before this line: an interrupted edit leaves no trace
        return Outcome(steps, loss, {"delta_linf": round(delta.abs().max().item(), 6)})

    def _train(self, request: EditRequest) -> tuple[torch.Tensor, int, float]:
        hp, site = self.hparams, self.engine.site
        rows = self.engine.features(request.texts())
        with torch.no_grad():
            hidden_act = site.activation(site.base_up(rows))                 # (rows, F)
            residual = rows + self.engine.frozen_ffn(rows)                   # (rows, hidden)
        delta = torch.zeros_like(self.down.weight, requires_grad=True)      # (hidden, F)
        optimizer = torch.optim.Adam([delta], lr=hp.lr)
        sampler = random.Random(request.seed)
        target = torch.full((rows.shape[0],), request.target, device=rows.device)
        step, loss = 0, float("nan")
        for step in range(1, hp.max_steps + 1):
            index = request.sample_rows(sampler)
            x = residual[index] + hidden_act[index] @ delta.T               # (batch, hidden)
            logits = self.engine.head(site.layer_norm(x))              # (batch, labels)
            if right_rows(logits, request.target, len(index) - 1, "batch"):
                break
            loss_t = F.cross_entropy(logits, target[:len(index)])
            loss = loss_t.item()
            optimizer.zero_grad()
            loss_t.backward()
            optimizer.step()
            with torch.no_grad():
                delta.clamp_(-hp.norm_bound, hp.norm_bound)
        return delta.detach(), step, loss

    def reset(self) -> None:
        with torch.no_grad():
            self.down.weight.copy_(self.original)

    def state(self) -> dict[str, torch.Tensor]:
        # the edited weight itself: original + (edited - original) is not edited bit for bit in floating point
        return {"down_weight": self.down.weight.detach().contiguous()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        weight = tensors["down_weight"]
        if weight.shape != self.original.shape:
            raise UserError(f"saved FT-L weight has shape {tuple(weight.shape)}, this model's is "
                            f"{tuple(self.original.shape)}: load on the base model the edits were made on")
        with torch.no_grad():
            self.down.weight.copy_(weight.to(self.original.device))
