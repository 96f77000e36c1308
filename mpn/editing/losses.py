"""The Transformer-Patcher training objective (docs/design.md section 4).

loss = edit loss + act_coef * activation loss + mem_coef * memory loss

- edit loss: cross-entropy of the edit batch to the target label;
- activation loss: the patch must fire on its own inputs: mean of the top-k of exp(-a);
- memory loss: the patch must stay silent elsewhere: mean of the top-k of
  exp(a_m - a_edit + margin) and of exp(a_m - threshold) over memory pre-activations a_m.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def top(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k largest entries (all of x when k >= its size: no sort needed for a mean)."""
    return x if k >= x.numel() else torch.topk(x, k).values


def topk_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    return top(x, k).mean()


def activation_loss(edit_preact: torch.Tensor, k: int) -> torch.Tensor:
    """edit_preact: (batch,) pre-activation of the new patch on the edit batch."""
    return topk_mean(torch.exp(-edit_preact), k)


def memory_loss(memory_preact: torch.Tensor, edit_preact: torch.Tensor, k: int,
                margin: float, threshold: float) -> torch.Tensor:
    """memory_preact: (memory,); the weakest edit activation sets the relative bar.

    Both terms grow with a_m, so their top-k items are the k largest pre-activations,
    and both are mean(exp(a_m)) times a constant factor: one topk and one exp serve both
    (each step is dominated by per-op overhead, not arithmetic).
    """
    if memory_preact.numel() == 0:
        return edit_preact.new_zeros(())
    mean_exp = torch.exp(top(memory_preact, k)).mean()                        # over (k,)
    relative = mean_exp * torch.exp(margin - edit_preact.min())
    absolute = mean_exp * math.exp(-threshold)
    return relative + absolute


def edit_loss(logits: torch.Tensor, target: int) -> torch.Tensor:
    """logits: (batch, labels)"""
    return F.cross_entropy(logits, torch.full((logits.shape[0],), target, dtype=torch.long, device=logits.device))


@dataclass(frozen=True)
class Objective:
    """One edit's loss with its hyperparameters bound (the methods' dataclass fields)."""
    target: int
    act_coef: float
    act_topk: int
    mem_coef: float
    mem_topk: int
    mem_margin: float
    mem_threshold: float

    @classmethod
    def for_edit(cls, hparams, target: int) -> "Objective":
        return cls(target, hparams.act_coef, hparams.act_topk, hparams.mem_coef, hparams.mem_topk,
                   hparams.mem_margin, hparams.mem_threshold)

    def __call__(self, logits: torch.Tensor, edit_preact: torch.Tensor, memory_preact: torch.Tensor) -> torch.Tensor:
        """logits: (batch, labels); edit_preact: (batch,); memory_preact: (memory,)"""
        return (edit_loss(logits, self.target)
                + self.act_coef * activation_loss(edit_preact, self.act_topk)
                + self.mem_coef * memory_loss(memory_preact, edit_preact, self.mem_topk,
                                              self.mem_margin, self.mem_threshold))
