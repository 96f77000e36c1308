"""A patch's optimizer step: clip the gradient's total norm, then Adam.

The patch is one flat parameter (mpn.model.patch.PendingPatch), so its optimizer is a
one-group, one-tensor `torch.optim.Adam`, which also holds the learning rate that
ReduceLROnPlateau lowers. Two ways to take the step, with the same state tensors and
the same formulas: `torch_update` through torch's fused Adam kernel (any device; the
autograd path), and `KernelUpdate` through mpn.editing.closed_form's compiled kernel (the
cached engine's closed-form path on the CPU, where torch's per-call overhead was most
of the update's cost).
"""
from __future__ import annotations

import torch

from mpn.editing import closed_form


def adam_state(optimizer: torch.optim.Adam) -> tuple[torch.Tensor, dict]:
    """The group's one parameter and its Adam state, created as torch's fused Adam
    creates it on its first step."""
    param, = optimizer.param_groups[0]["params"]
    state = optimizer.state[param]
    if not state:
        state.update(step=torch.zeros((), dtype=torch.float32, device=param.device),
                     exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param))
    return param, state


def clip_grad_norm(param: torch.Tensor, max_norm: float) -> None:
    """`torch.nn.utils.clip_grad_norm_` for one tensor, the same formula without the
    general version's overhead (2 operations instead of 10)."""
    scale = max_norm / (torch.linalg.vector_norm(param.grad).item() + 1e-6)
    if scale < 1.0:
        param.grad.mul_(scale)


@torch.no_grad()
def adam_step(optimizer: torch.optim.Adam) -> None:
    """`optimizer.step()` for a one-tensor fused Adam: the kernel torch's fused Adam calls
    (`torch._fused_adam_`, torch pinned in pyproject.toml), with the same state and
    numbers, without the wrappers' per-call bookkeeping (hooks, profiler records, device
    grouping), which cost five times the update itself. A test checks it against
    `optimizer.step()` bit for bit."""
    group = optimizer.param_groups[0]
    param, state = adam_state(optimizer)
    torch._foreach_add_([state["step"]], 1)
    beta1, beta2 = group["betas"]
    torch._fused_adam_([param], [param.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [state["step"]],
                       amsgrad=False, lr=group["lr"], beta1=beta1, beta2=beta2,
                       weight_decay=group["weight_decay"], eps=group["eps"], maximize=False,
                       grad_scale=None, found_inf=None)


def torch_update(optimizer: torch.optim.Adam, max_norm: float) -> None:
    """Clip, then Adam, in torch (any device)."""
    clip_grad_norm(optimizer.param_groups[0]["params"][0], max_norm)
    adam_step(optimizer)


class KernelUpdate:
    """Clip, then Adam, in one compiled call (mpn.editing.closed_form.clip_and_adam) on NumPy
    views of the optimizer's CPU tensors, taken once per edit; equal to `torch_update` to
    float rounding (tests/test_closed_form.py). The parameter's `.grad` must exist and be
    written in place each step (a PendingPatch has it from the start), so the views stay valid."""

    def __init__(self, optimizer: torch.optim.Adam, max_norm: float):
        self.group, self.max_norm = optimizer.param_groups[0], max_norm
        param, state = adam_state(optimizer)
        self.arrays = [t.detach().numpy() for t in
                       (param, param.grad, state["exp_avg"], state["exp_avg_sq"], state["step"].view(1))]

    def __call__(self) -> None:
        group = self.group
        beta1, beta2 = group["betas"]
        closed_form.clip_and_adam(*self.arrays, group["lr"], beta1, beta2, group["eps"], group["weight_decay"],
                                  self.max_norm)
