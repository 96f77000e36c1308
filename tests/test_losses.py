"""The Transformer-Patcher loss terms against their textbook definitions."""
import torch

from mpn.editing.losses import activation_loss, edit_loss, memory_loss


def naive_memory_loss(a_mem, a_edit, k, margin, threshold):
    k = min(k, a_mem.numel())
    relative = torch.topk(torch.exp(a_mem - a_edit.min() + margin), k).values.mean()
    absolute = torch.topk(torch.exp(a_mem - threshold), k).values.mean()
    return relative + absolute


def test_memory_loss_equals_the_two_topk_terms():
    gen = torch.Generator().manual_seed(0)
    a_mem, a_edit = torch.randn(300, generator=gen) * 3, torch.randn(9, generator=gen)
    for k in (1, 5, 300, 1000):
        assert torch.allclose(memory_loss(a_mem, a_edit, k, 3.0, -3.0), naive_memory_loss(a_mem, a_edit, k, 3.0, -3.0))


def test_memory_loss_is_small_only_when_memory_is_silent():
    a_edit = torch.tensor([2.0])
    silent = memory_loss(torch.full((50,), -6.0), a_edit, 10, 3.0, -3.0)
    firing = memory_loss(torch.full((50,), 1.0), a_edit, 10, 3.0, -3.0)
    assert silent < 0.2 < 10 < firing
    assert memory_loss(torch.empty(0), a_edit, 10, 3.0, -3.0) == 0


def test_activation_loss_rewards_firing_on_the_weakest_views():
    strong, weak = torch.tensor([3.0, 3.0, 3.0]), torch.tensor([3.0, 3.0, -1.0])
    assert activation_loss(strong, 2) < activation_loss(weak, 2)
    assert torch.isclose(activation_loss(weak, 1), torch.exp(torch.tensor(1.0)))


def test_edit_loss_is_cross_entropy_to_the_target():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    assert edit_loss(logits, 0) > edit_loss(logits[:1], 0)
