"""The cached engine's training step in closed form: the loss and its gradient without
autograd, in NumPy.

A cached step is a few small products (a batch of about ten rows, a memory of about a
thousand), so its cost is per-operation overhead: autograd's graph was about half of it,
and a torch operation costs about 5 microseconds where NumPy's costs 1 to 2 (and MKL's
matrix-vector product, which torch uses, was 2.5x slower than NumPy's on this AMD CPU).
So the backward pass is written out here, on NumPy views of the same CPU memory (no
copies). It is the same function differentiated, not an approximation:
tests/test_closed_form.py checks loss and gradient against autograd, and
tests/test_engines.py checks the trained patch against the full engine.

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

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import erf
from torch import nn

from mpn.losses import Objective

SQRT_HALF = math.sqrt(0.5)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@dataclass
class StepOutput:
    """What a training step tells the editor, as NumPy arrays on the CPU (the loop's
    bookkeeping is a few operations on them a step); the gradient is left in the patch's
    `.grad`."""
    loss: float
    logits: np.ndarray           # (batch, labels)
    edit_preact: np.ndarray      # (batch,)
    memory_preact: np.ndarray    # (memory + held-out memory,)


def supported(activation: nn.Module, layer_norm: nn.Module, head: nn.Module) -> bool:
    """The closed form assumes erf-GELU, an affine LayerNorm and a linear head (BERT,
    XLM-R, e5) in float32 or float64 on the CPU (NumPy has no bfloat16); any other model,
    or a GPU, trains through autograd."""
    probe = torch.linspace(-8.0, 8.0, 65)
    with torch.no_grad():
        is_gelu = torch.allclose(activation(probe), F.gelu(probe), atol=1e-6)
    return (is_gelu and isinstance(head, nn.Linear) and isinstance(layer_norm, nn.LayerNorm)
            and layer_norm.weight is not None and layer_norm.bias is not None
            and head.weight.device.type == "cpu" and head.weight.dtype in (torch.float32, torch.float64))


@dataclass
class Readout:
    """What the closed form reads after the FFN: the frozen LayerNorm's affine part folded
    into the head, computed once per engine instead of at every step.
    logits = W (gamma * x_hat + beta) + c = scaled_weight x_hat + logit_bias."""
    scaled_weight: np.ndarray  # (labels, hidden) W diag(gamma)
    logit_bias: np.ndarray     # (labels,) W beta + c
    eps: float

    @classmethod
    def of(cls, layer_norm: nn.LayerNorm, head: nn.Linear) -> "Readout":
        weight, gamma = _numpy(head.weight), _numpy(layer_norm.weight)
        return cls(weight * gamma, weight @ _numpy(layer_norm.bias) + _numpy(head.bias), layer_norm.eps)


def step(params: np.ndarray, rows: np.ndarray, residual: np.ndarray, memory: np.ndarray,
         n_train: int, readout: Readout, objective: Objective) -> tuple[StepOutput, np.ndarray]:
    """Loss and gradient for the pending patch `params` = [key, bias, direction, scale].

    rows, residual: (batch, hidden); memory: (n_train + held-out, hidden), where only
    the first `n_train` rows enter the loss (the rest are scored for early stopping).
    Returns the step's output and the gradient, shaped like `params`. Row sums go
    through `np.add.reduce` and scalars through Python floats: `ndarray.mean` and
    `einsum` cost 10 to 20 microseconds a call, more than the arithmetic here.
    """
    batch, hidden = rows.shape
    key, direction = params[:hidden], params[hidden + 1:2 * hidden + 1]
    bias, scale = float(params[hidden]), float(params[-1])
    value = direction * scale                                               # (hidden,)
    row_sum = np.add.reduce

    # forward
    a = rows @ key + bias                                                   # (batch,)
    cdf = erf(a * SQRT_HALF)
    cdf += 1.0
    cdf *= 0.5                                                              # Phi(a)
    g = a * cdf                                                             # gelu(a)
    x = residual + np.outer(g, value)                                       # (batch, hidden)
    x -= row_sum(x, axis=1, keepdims=True) / hidden
    rstd = 1.0 / np.sqrt(row_sum(x * x, axis=1) / hidden + readout.eps)     # (batch,)
    x_hat = x * rstd[:, None]                                               # (batch, hidden)
    scaled_weight = readout.scaled_weight                                   # W diag(gamma)
    logits = x_hat @ scaled_weight.T + readout.logit_bias                   # (batch, labels)
    memory_preact = memory @ key + bias                                     # (memory,)

    # edit loss: cross-entropy, back through the head and the LayerNorm to a
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(row_sum(np.exp(shifted), axis=1, keepdims=True))
    target = objective.target
    loss = -float(row_sum(log_probs[:, target])) / batch
    dlogits = np.exp(log_probs)
    dlogits[:, target] -= 1.0
    dlogits /= batch                                                        # (batch, labels)
    dx_hat = dlogits @ scaled_weight                                        # (batch, hidden)
    dx = dx_hat - row_sum(dx_hat, axis=1, keepdims=True) / hidden
    dx -= x_hat * (row_sum(dx_hat * x_hat, axis=1) / hidden)[:, None]
    dx *= rstd[:, None]                                                     # (batch, hidden)
    dvalue = g @ dx                                                         # (hidden,)
    gelu_grad = np.exp(a * a * -0.5) * a * INV_SQRT_2PI + cdf               # Phi(a) + a phi(a)
    da = (dx @ value) * gelu_grad                                           # (batch,)

    # activation loss: mean of the top-k of exp(-a)
    fire = np.exp(-a)
    where = _top_index(fire, objective.act_topk)
    top = fire[where]
    loss += objective.act_coef * float(row_sum(top)) / top.size
    da[where] -= objective.act_coef / top.size * top

    # memory loss: mean(top-k exp(a_m)) * (exp(margin - min a) + exp(-threshold))
    dmemory = memory_preact[:0]                                             # (n_train,)
    if n_train:
        k = min(objective.mem_topk, n_train)
        top_exp = _top_exp(memory_preact[:n_train], k)                      # (n_train,)
        mean_exp = float(row_sum(top_exp)) / k
        weakest = int(a.argmin())
        relative = math.exp(objective.mem_margin - float(a[weakest]))
        factor = relative + math.exp(-objective.mem_threshold)
        loss += objective.mem_coef * mean_exp * factor
        dmemory = top_exp
        dmemory *= objective.mem_coef * factor / k
        da[weakest] -= objective.mem_coef * mean_exp * relative

    grad = np.empty_like(params)
    grad[:hidden] = da @ rows + dmemory @ memory[:n_train]                  # d key
    grad[hidden] = row_sum(da) + row_sum(dmemory)                           # d bias
    grad[hidden + 1:2 * hidden + 1] = dvalue * scale                        # d direction
    grad[-1] = dvalue @ direction                                           # d scale
    return StepOutput(loss, logits, a, memory_preact), grad


def memory_loss_value(memory_preact: np.ndarray, weakest: float, objective: Objective) -> float:
    """The memory loss (mpn.losses.memory_loss) of pre-activations `memory_preact` against
    the edit pre-activation `weakest`: the early stop's check on the held-out memory."""
    if not memory_preact.size:
        return 0.0
    k = min(objective.mem_topk, memory_preact.size)
    mean_exp = float(np.add.reduce(_top_exp(memory_preact, k))) / k
    return mean_exp * (math.exp(objective.mem_margin - weakest) + math.exp(-objective.mem_threshold))


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (no copy)."""
    return t.detach().numpy()


def _top_exp(x: np.ndarray, k: int) -> np.ndarray:
    """exp(x) at the k largest entries, 0 elsewhere. (n,) -> (n,)"""
    out = np.exp(x)
    if k < x.size:
        out[np.argpartition(x, x.size - k)[:x.size - k]] = 0.0
    return out


def _top_index(x: np.ndarray, k: int) -> np.ndarray | slice:
    """Where the k largest entries of x are (all of x when k >= its size)."""
    if k >= x.size:
        return slice(None)
    return np.argpartition(x, x.size - k)[x.size - k:]
