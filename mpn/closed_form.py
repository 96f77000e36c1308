"""The cached engine's training step in closed form: the loss and its gradient without
autograd.

A cached step is a few small products (a batch of about ten rows, a memory of about a
thousand), so its cost is per-operation overhead, and autograd's graph is about half of
it. The pending patch is the only thing that trains and the chain from it to the loss
is fixed, so the backward pass is written out here. It is the same function
differentiated, not an approximation: tests/test_closed_form.py checks loss and
gradient against autograd, and tests/test_engines.py checks the trained patch against
the full engine.

Forward, for the batch's FFN inputs h_i and the pending patch (key k, bias b,
value v = s * d):

    a_i  = k . h_i + b                    pre-activation                 (batch,)
    x_i  = r_i + gelu(a_i) v              r_i: frozen FFN output + h_i   (batch, hidden)
    z_i  = W LN(x_i) + c                  logits                         (batch, labels)
    loss = CE(z, target)
           + act_coef * mean top-k exp(-a_i)
           + mem_coef * mean top-k exp(a_m) * (exp(margin - min_i a_i) + exp(-threshold))

with a_m = k . h_m + b over the memory rows h_m (mpn.losses has the same loss for
autograd).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mpn.losses import Objective

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

@dataclass
class StepOutput:
    """What a training step tells the editor; the gradient is left in the patch's `.grad`."""
    loss: float
    logits: torch.Tensor         # (batch, labels)
    edit_preact: torch.Tensor    # (batch,)
    memory_preact: torch.Tensor  # (memory + held-out memory,)


def supported(activation: nn.Module, layer_norm: nn.Module, head: nn.Module) -> bool:
    """The closed form assumes erf-GELU, an affine LayerNorm and a linear head (BERT,
    XLM-R, e5); any other model trains through autograd."""
    probe = torch.linspace(-8.0, 8.0, 65)
    with torch.no_grad():
        is_gelu = torch.allclose(activation(probe), F.gelu(probe), atol=1e-6)
    return (is_gelu and isinstance(head, nn.Linear) and isinstance(layer_norm, nn.LayerNorm)
            and layer_norm.weight is not None and layer_norm.bias is not None)


@torch.no_grad()
def step(flat: torch.Tensor, rows: torch.Tensor, residual: torch.Tensor, memory: torch.Tensor,
         n_train: int, layer_norm: nn.LayerNorm, head: nn.Linear, objective: Objective) -> StepOutput:
    """Loss and gradient for the pending patch `flat` = [key, bias, direction, scale].

    rows, residual: (batch, hidden); memory: (n_train + held-out, hidden), where only
    the first `n_train` rows enter the loss (the rest are scored for early stopping).
    Sets `flat.grad`. At this size every tensor operation costs microseconds of
    overhead, so scalars go through Python floats, and GELU is written with erf (its
    own kernels cost 10x more on ten numbers).
    """
    hidden, batch = rows.shape[1], rows.shape[0]
    key, bias, direction, scale = flat.split([hidden, 1, hidden, 1])
    value = direction * scale                                               # (hidden,)

    # forward
    a = torch.addmv(bias, rows, key)                                        # (batch,)
    cdf = torch.erf(a * SQRT_HALF).add_(1.0).mul_(0.5)                      # Phi(a)
    g = a * cdf                                                             # gelu(a)
    x = torch.addr(residual, g, value)                                      # (batch, hidden)
    y, mean, rstd = torch.native_layer_norm(x, [hidden], layer_norm.weight, layer_norm.bias, layer_norm.eps)
    logits = torch.addmm(head.bias, y, head.weight.T)                       # (batch, labels)
    memory_preact = torch.addmv(bias, memory, key)                          # (memory,)

    # edit loss: cross-entropy, back through the head and the LayerNorm to a
    log_probs = logits.log_softmax(-1)
    loss = -log_probs[:, objective.target].mean().item()
    dlogits = log_probs.exp()
    dlogits[:, objective.target] -= 1.0
    dlogits /= batch                                                        # (batch, labels)
    dx = torch.ops.aten.native_layer_norm_backward(dlogits @ head.weight, x, [hidden], mean, rstd,
                                                   layer_norm.weight, layer_norm.bias,
                                                   [True, False, False])[0]  # (batch, hidden)
    dvalue = g @ dx                                                         # (hidden,)
    gelu_grad = torch.exp(a * a * -0.5).mul_(a).mul_(INV_SQRT_2PI).add_(cdf)  # Phi(a) + a phi(a)
    da = (dx @ value).mul_(gelu_grad)                                       # (batch,)

    # activation loss: mean of the top-k of exp(-a)
    act_values, act_index = _top(torch.exp(-a), objective.act_topk)
    loss += objective.act_coef * act_values.mean().item()
    da.index_add_(0, act_index, act_values, alpha=-objective.act_coef / act_values.numel())

    # memory loss: mean(top-k exp(a_m)) * (exp(margin - min a) + exp(-threshold))
    dmemory = memory_preact[:0]                                             # (n_train,)
    if n_train:
        top_exp = _top_exp(memory_preact[:n_train], objective.mem_topk)     # (n_train,)
        mean_exp = top_exp.sum().item() / min(objective.mem_topk, n_train)
        weakest = int(a.argmin())
        relative = math.exp(objective.mem_margin - a[weakest].item())
        factor = relative + math.exp(-objective.mem_threshold)
        loss += objective.mem_coef * mean_exp * factor
        dmemory = top_exp.mul_(objective.mem_coef * factor / min(objective.mem_topk, n_train))
        da[weakest] -= objective.mem_coef * mean_exp * relative

    dkey = torch.addmv(rows.T @ da, memory[:n_train].T, dmemory)            # (hidden,)
    dbias = da.sum() + dmemory.sum()
    flat.grad = torch.cat([dkey, dbias[None], dvalue * scale, (dvalue @ direction)[None]])
    return StepOutput(loss, logits, a, memory_preact)


def _top_exp(x: torch.Tensor, k: int) -> torch.Tensor:
    """exp(x) at the k largest entries, 0 elsewhere. (n,) -> (n,)

    The memory's k is usually most of it (1,000 of 1,000 + past edits), and dropping
    the few smallest entries is cheaper than selecting the many largest."""
    n = x.numel()
    if k >= n:
        return x.exp()
    if 2 * k >= n:
        out = x.exp()
        out[torch.topk(x, n - k, largest=False).indices] = 0.0
        return out
    top = torch.topk(x, k)
    return torch.zeros_like(x).index_copy_(0, top.indices, top.values.exp())


def _top(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest entries and where they are (all of x when k >= its size)."""
    if k >= x.numel():
        return x, torch.arange(x.numel(), device=x.device)
    top = torch.topk(x, k)
    return top.values, top.indices
