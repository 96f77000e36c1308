"""The cached engine's training step in closed form: the loss and its gradient without
autograd, compiled with numba.

A cached step is a few small products (a batch of about ten rows, a memory of about a
thousand), so its cost was per-operation overhead, not arithmetic: autograd's graph was
about half of it, a torch operation costs about 5 microseconds, a NumPy one 1 to 20, and
a step is about 60 of them. So the backward pass is written out here and compiled
(numba, cached on disk after the first call), one call a step; the two passes over the
memory go through BLAS. It is the same function differentiated, not an approximation:
tests/test_closed_form.py checks loss and gradient against autograd, and
tests/test_engines.py checks the trained patch against the full engine. The patch's
clip + Adam update is compiled here too (`clip_and_adam`, used by mpn.editing.optim).

Forward, for the batch's FFN inputs h_i and the pending patch (key k, bias b,
value v = s * d):

    a_i  = k . h_i + b                    pre-activation                 (batch,)
    x_i  = r_i + gelu(a_i) v              r_i: frozen FFN output + h_i   (batch, hidden)
    z_i  = W LN(x_i) + c                  logits                         (batch, labels)
    loss = CE(z, target)
           + act_coef * mean top-k exp(-a_i)
           + mem_coef * mean top-k exp(a_m) * (exp(margin - min_i a_i) + exp(-threshold))

with a_m = k . h_m + b over the memory rows h_m (mpn.editing.losses has the same loss for
autograd).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (numba's np.dot calls this BLAS: loaded now, threadpoolctl limits it)
import torch
import torch.nn.functional as F
from torch import nn

from mpn.editing.losses import Objective

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


def step(params: np.ndarray, rows: np.ndarray, residual: np.ndarray, index: np.ndarray,
         memory: np.ndarray, n_train: int, readout: Readout, objective: Objective,
         grad: np.ndarray) -> StepOutput:
    """Loss of the pending patch `params` = [key, bias, direction, scale]; its gradient
    is written into `grad` (shaped like `params`).

    rows, residual: (rows, hidden), of which the step's batch is rows[index] (batch,);
    memory: (n_train + held-out, hidden), where only the first `n_train` rows enter the
    loss (the rest are scored for early stopping).
    """
    loss, logits, edit_preact, memory_preact = _step(
        params, rows, residual, index, memory, n_train, readout.scaled_weight, readout.logit_bias, readout.eps,
        objective.target, objective.act_coef, objective.act_topk, objective.mem_coef, objective.mem_topk,
        objective.mem_margin, objective.mem_threshold, grad)
    return StepOutput(loss, logits, edit_preact, memory_preact)


# One compiled function a step: each NumPy call costs 1 to 20 microseconds of overhead,
# more than its arithmetic on a batch of ten rows. `reassoc` lets the row sums run as
# vector instructions (the same code, so the same numbers, on a given machine).
@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def _step(params, rows, residual, index, memory, n_train, scaled_weight, logit_bias, eps, target,
          act_coef, act_topk, mem_coef, mem_topk, mem_margin, mem_threshold, grad):
    batch, hidden = index.size, rows.shape[1]
    labels = logit_bias.shape[0]
    key, direction = params[:hidden], params[hidden + 1:2 * hidden + 1]
    bias, scale = float(params[hidden]), float(params[2 * hidden + 1])
    value = direction * scale                                               # (hidden,)

    # forward, a row at a time: a = k.h + b, x = residual + gelu(a) v, logits = W' LN(x) + c
    a, cdf, g, rstd = np.empty(batch), np.empty(batch), np.empty(batch), np.empty(batch)
    x_hat, logits = np.empty((batch, hidden)), np.empty((batch, labels))
    for i in range(batch):
        a[i] = bias + _dot(rows[index[i]], key)
        cdf[i] = 0.5 * (1.0 + math.erf(a[i] * SQRT_HALF))                  # Phi(a)
        g[i] = a[i] * cdf[i]                                                # gelu(a)
        x, total, squares = x_hat[i], 0.0, 0.0
        for j in range(hidden):
            x[j] = residual[index[i], j] + g[i] * value[j]
            total += x[j]
        for j in range(hidden):
            x[j] -= total / hidden
            squares += x[j] * x[j]
        rstd[i] = 1.0 / math.sqrt(squares / hidden + eps)
        x *= rstd[i]
        for label in range(labels):
            logits[i, label] = logit_bias[label] + _dot(x, scaled_weight[label])
    memory_preact = np.dot(memory, np.ascontiguousarray(key)) + params[hidden]  # (memory,) BLAS

    # edit loss: cross-entropy, back through the head and the LayerNorm to a and v
    loss = 0.0
    da, dvalue, dx_hat = np.empty(batch), np.zeros(hidden), np.empty(hidden)
    for i in range(batch):
        top = np.max(logits[i])
        log_norm = top + math.log(np.sum(np.exp(logits[i] - top)))
        loss -= (logits[i, target] - log_norm) / batch
        dlogits = np.exp(logits[i] - log_norm) / batch                      # (labels,)
        dlogits[target] -= 1.0 / batch
        x, total, along_x = x_hat[i], 0.0, 0.0
        for j in range(hidden):                                             # dx_hat = dlogits W'
            dx_hat[j] = 0.0
            for label in range(labels):
                dx_hat[j] += dlogits[label] * scaled_weight[label, j]
            total += dx_hat[j]
            along_x += dx_hat[j] * x[j]
        along_value = 0.0
        for j in range(hidden):                                             # LayerNorm's backward
            dx = (dx_hat[j] - total / hidden - x[j] * along_x / hidden) * rstd[i]
            dvalue[j] += g[i] * dx
            along_value += dx * value[j]
        gelu_grad = cdf[i] + a[i] * math.exp(-0.5 * a[i] * a[i]) * INV_SQRT_2PI  # Phi(a) + a phi(a)
        da[i] = along_value * gelu_grad

    # activation loss: mean of the top-k of exp(-a)
    fire = _top_exp(-a, min(act_topk, batch))                               # (batch,) 0 off the top-k
    loss += act_coef * np.sum(fire) / min(act_topk, batch)
    da -= act_coef / min(act_topk, batch) * fire

    # memory loss: mean(top-k exp(a_m)) * (exp(margin - min a) + exp(-threshold))
    grad_key = np.zeros(hidden)                                             # (hidden,) da rows
    for i in range(batch):
        grad_key += da[i] * rows[index[i]]
    grad_bias = np.sum(da)
    if n_train:
        k = min(mem_topk, n_train)
        top_exp = _top_exp(memory_preact[:n_train].astype(np.float64), k)  # (n_train,)
        mean_exp = np.sum(top_exp) / k
        weakest = np.argmin(a)
        relative = math.exp(mem_margin - a[weakest])
        factor = relative + math.exp(-mem_threshold)
        loss += mem_coef * mean_exp * factor
        dmemory = top_exp * (mem_coef * factor / k)                         # (n_train,)
        grad_key += np.dot(dmemory.astype(memory.dtype), memory[:n_train])  # BLAS
        grad_bias += np.sum(dmemory) - mem_coef * mean_exp * relative
        grad_key -= mem_coef * mean_exp * relative * rows[index[weakest]]  # d a[weakest]

    grad[:hidden] = grad_key
    grad[hidden] = grad_bias
    grad[hidden + 1:2 * hidden + 1] = dvalue * scale                        # d direction
    grad[2 * hidden + 1] = _dot(dvalue, direction)                         # d scale
    return loss, logits, a, memory_preact


def memory_loss_value(memory_preact: np.ndarray, weakest: float, objective: Objective) -> float:
    """The memory loss (mpn.editing.losses.memory_loss) of pre-activations `memory_preact` against
    the edit pre-activation `weakest`: the early stop's check on the held-out memory."""
    return _memory_loss_value(memory_preact, weakest, objective.mem_topk, objective.mem_margin,
                              objective.mem_threshold)


@numba.njit(cache=True)
def _memory_loss_value(memory_preact, weakest, mem_topk, mem_margin, mem_threshold):
    if not memory_preact.size:
        return 0.0
    k = min(mem_topk, memory_preact.size)
    mean_exp = np.sum(_top_exp(memory_preact.astype(np.float64), k)) / k
    return mean_exp * (math.exp(mem_margin - weakest) + math.exp(-mem_threshold))


@numba.njit(cache=True, fastmath={"reassoc", "contract"})
def clip_and_adam(params, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay, max_norm):
    """In place: clip `grad` to total norm `max_norm` (torch.nn.utils.clip_grad_norm_'s
    rule), then one Adam step with L2 weight decay (torch.optim.Adam's formula); `step`
    (a 1-element array, torch's state["step"]) counts the steps, this one included."""
    scale = max_norm / (math.sqrt(_dot(grad, grad)) + 1e-6)
    if scale < 1.0:
        grad *= scale
    step[0] += 1
    step_size = lr / (1.0 - beta1 ** step[0])
    bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** step[0])
    for i in range(params.size):
        g = grad[i] + weight_decay * params[i]
        exp_avg[i] += (1.0 - beta1) * (g - exp_avg[i])
        exp_avg_sq[i] = beta2 * exp_avg_sq[i] + (1.0 - beta2) * g * g
        params[i] -= step_size * exp_avg[i] / (math.sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + eps)


@numba.njit(inline="always", fastmath={"reassoc", "contract"})
def _dot(x, y):
    """x . y in float64, for vectors of any float type."""
    total = 0.0
    for j in range(x.size):
        total += np.float64(x[j]) * y[j]
    return total


@numba.njit(cache=True)
def _top_exp(x, k):
    """exp(x) at the k largest entries, 0 elsewhere (of tied entries at the k-th value,
    the first ones). (n,) float64 -> (n,) float64"""
    out = np.exp(x)
    if k >= x.size:
        return out
    kth = np.partition(x, x.size - k)[x.size - k]
    ties = k - np.sum(x > kth)                  # entries equal to the k-th value that count
    for i in range(x.size):
        if x[i] < kth:
            out[i] = 0.0
        elif x[i] == kth:
            if ties > 0:
                ties -= 1
            else:
                out[i] = 0.0
    return out


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (no copy)."""
    return t.detach().numpy()
