"""The cached engine's closed-form step is the autograd step, written out."""
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mpn.editing import closed_form, optim
from mpn.editing.losses import Objective, memory_loss

HIDDEN, BATCH = 16, 5


def autograd_reference(flat, rows, residual, memory, n_train, norm, head, objective):
    """The same forward as CachedEngine.forward, differentiated by autograd."""
    flat = flat.clone().requires_grad_(True)
    key, bias, direction, scale = flat.split([HIDDEN, 1, HIDDEN, 1])
    a = rows @ key + bias
    logits = head(norm(residual + F.gelu(a)[:, None] * (direction * scale)))
    memory_preact = memory @ key + bias
    loss = objective(logits, a, memory_preact[:n_train])
    loss.backward()
    return loss.item(), logits.detach(), a.detach(), memory_preact.detach(), flat.grad


@pytest.mark.parametrize("n_train, mem_topk", [
    (0, 4),     # no memory yet: only the held-out rows are scored
    (6, 10),    # k covers the memory: every row counts
    (6, 4),     # k covers most of it: the smallest rows are dropped
    (6, 2),     # k is a small part: the largest rows are picked
])
def test_closed_form_step_matches_autograd(n_train, mem_topk):
    generator = torch.Generator().manual_seed(n_train * 10 + mem_topk)
    rand = lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64)  # noqa: E731
    rows, residual, memory = rand(BATCH, HIDDEN), rand(BATCH, HIDDEN), rand(n_train + 3, HIDDEN)
    norm, head = nn.LayerNorm(HIDDEN).double(), nn.Linear(HIDDEN, 3).double()
    with torch.no_grad():
        norm.weight.copy_(rand(HIDDEN))
        norm.bias.copy_(rand(HIDDEN))
    norm.requires_grad_(False)
    head.requires_grad_(False)
    flat = torch.cat([rand(HIDDEN) * 0.3, rand(1), rand(HIDDEN) / 4, torch.tensor([10.0], dtype=torch.float64)])
    objective = Objective(target=1, act_coef=5.0, act_topk=3, mem_coef=5.0, mem_topk=mem_topk,
                          mem_margin=3.0, mem_threshold=-3.0)

    loss, logits, a, memory_preact, grad = autograd_reference(flat, rows, residual, memory, n_train,
                                                              norm, head, objective)
    # the step's batch is some of the edit's rows, out of order (MPN samples translations)
    index = np.array([3, 0, 6, 1, 5])
    all_rows, all_residual = rand(7, HIDDEN), rand(7, HIDDEN)
    all_rows[index], all_residual[index] = rows, residual
    mine_grad = np.empty_like(flat.numpy())
    out = closed_form.step(flat.numpy(), all_rows.numpy(), all_residual.numpy(), index, memory.numpy(), n_train,
                           closed_form.Readout.of(norm, head), objective, mine_grad)

    assert out.loss == pytest.approx(loss, rel=1e-10)
    for mine, reference in ((out.logits, logits), (out.edit_preact, a), (out.memory_preact, memory_preact)):
        assert np.allclose(mine, reference.numpy(), rtol=1e-10, atol=1e-12)
    assert grad.abs().max() > 1e-3  # the memory and activation terms really contribute
    assert np.allclose(mine_grad, grad.numpy(), rtol=1e-8, atol=1e-10), np.abs(mine_grad - grad.numpy()).max()


@pytest.mark.parametrize("n, mem_topk", [(0, 4), (7, 10), (7, 5), (7, 2)])
def test_held_out_memory_loss_is_the_memory_loss(n, mem_topk):
    """The early stop's NumPy memory loss equals mpn.editing.losses.memory_loss (autograd's)."""
    generator = torch.Generator().manual_seed(n + mem_topk)
    memory_preact, edit_preact = torch.randn(n, generator=generator, dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64)
    objective = Objective(target=0, act_coef=5.0, act_topk=3, mem_coef=5.0, mem_topk=mem_topk,
                          mem_margin=3.0, mem_threshold=-3.0)
    expected = memory_loss(memory_preact, edit_preact, mem_topk, 3.0, -3.0).item()
    assert closed_form.memory_loss_value(memory_preact.numpy(), 0.7, objective) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("activation, expected", [
    (nn.GELU(), True),
    (nn.GELU(approximate="tanh"), False),
    (nn.ReLU(), False),
])
def test_closed_form_only_where_it_is_exact(activation, expected):
    assert closed_form.supported(activation, nn.LayerNorm(8), nn.Linear(8, 2)) is expected
    assert closed_form.supported(activation, nn.LayerNorm(8), nn.Sequential(nn.Linear(8, 2))) is False
    assert closed_form.supported(activation, nn.LayerNorm(8), nn.Linear(8, 2).bfloat16()) is False


def _adam_run(make_update, n_steps: int = 50, max_norm: float = 1.5, dtype=torch.float32):
    """An update made once, as Patcher._train makes it, applied to one parameter over
    steps with random gradients (written in place, some clipped), weight decay, and an
    lr the scheduler halves halfway."""
    torch.manual_seed(0)
    param = nn.Parameter(torch.randn(9, dtype=dtype))
    param.grad = torch.zeros_like(param)
    optimizer = torch.optim.Adam([param], lr=1e-2, weight_decay=0.01, fused=True)
    update = make_update(optimizer, max_norm)
    for step in range(n_steps):
        param.grad.copy_(torch.randn(9, dtype=dtype) * (0.5 + step % 3))
        update()
        if step == n_steps // 2:
            optimizer.param_groups[0]["lr"] *= 0.5
    return param.detach()


def test_torch_update_is_clip_grad_norm_and_fused_adam_bit_for_bit():
    """The autograd path's update, through torch's fused Adam kernel, equals
    clip_grad_norm_ + Adam(fused=True).step(), exactly."""
    def reference(optimizer, max_norm):
        params = optimizer.param_groups[0]["params"]
        return lambda: (torch.nn.utils.clip_grad_norm_(params, max_norm), optimizer.step())
    ours = _adam_run(lambda optimizer, max_norm: functools.partial(optim.torch_update, optimizer, max_norm))
    assert torch.equal(ours, _adam_run(reference))
    torch.manual_seed(0)
    assert not torch.equal(ours, torch.randn(9))


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-6), (torch.float64, 1e-13)])
def test_kernel_update_is_the_torch_update(dtype, tolerance):
    """The closed-form path's compiled clip + Adam takes torch's steps, to float rounding."""
    ours = _adam_run(optim.KernelUpdate, dtype=dtype)
    theirs = _adam_run(lambda optimizer, max_norm: functools.partial(optim.torch_update, optimizer, max_norm),
                       dtype=dtype)
    assert torch.allclose(ours, theirs, rtol=tolerance, atol=tolerance), (ours - theirs).abs().max()


def test_top_exp_keeps_exactly_k_entries_when_values_tie():
    """Tied values at the k-th place: exactly k entries count, as torch.topk's k values
    (duplicate memory texts have equal pre-activations)."""
    x = np.array([1.0, 2.0, 2.0, 2.0, 0.0, 3.0])
    kept = closed_form._top_exp(x, 3)
    assert np.count_nonzero(kept) == 3
    assert np.sum(kept) == pytest.approx(np.exp(3.0) + 2 * np.exp(2.0))
    assert np.array_equal(closed_form._top_exp(x, 6), np.exp(x))
