"""Patch neurons in the last feed-forward layer (Transformer-Patcher, docs/design.md section 4).

A patch neuron is a key `k` (a new row of the FFN's first linear), a bias `b`, and a
value `v` (a new column of the second linear). The FFN's activation applies to the new
unit like to the others:

    ffn(h) = W2 act(W1 h + b1) + b2  +  sum_p act(k_p . h + b_p) v_p

The two linears are found by structure (hidden -> F, F -> hidden in the last block), so
BERT, XLM-R and the rebuilt e5-small all work. Only the newest ("pending") patch trains;
`commit()` freezes it beside the others.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mpn.model.anatomy import Anatomy
from mpn.core.errors import UserError


class PatchNeurons(nn.Module):
    """The committed patches (frozen) plus at most one pending, trainable patch."""

    def __init__(self, hidden: int, n: int = 0, device: torch.device | None = None):
        super().__init__()
        self.keys = nn.Parameter(torch.zeros(n, hidden, device=device), requires_grad=False)    # (n, hidden)
        self.biases = nn.Parameter(torch.zeros(n, device=device), requires_grad=False)          # (n,)
        self.values = nn.Parameter(torch.zeros(n, hidden, device=device), requires_grad=False)  # (n, hidden)
        self.pending: PendingPatch | None = None

    @property
    def count(self) -> int:
        return self.keys.shape[0] + (self.pending is not None)

    def preact(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activations of every patch. (..., hidden) -> (..., count)"""
        a = x @ self.keys.T + self.biases
        if self.pending is not None:
            a = torch.cat([a, self.pending.preact(x).unsqueeze(-1)], dim=-1)
        return a

    def all_values(self) -> torch.Tensor:
        """(count, hidden)"""
        if self.pending is None:
            return self.values
        return torch.cat([self.values, self.pending.value().unsqueeze(0)])

    def start(self, key_input: torch.Tensor, value_scale: float, generator: torch.Generator,
              center: torch.Tensor | None = None) -> "PendingPatch":
        if self.pending is not None:
            raise RuntimeError("a patch is already being trained; commit() or discard() it first")
        self.pending = PendingPatch(key_input, value_scale, generator, center)
        return self.pending

    def commit(self) -> None:
        """Freeze the pending patch beside the committed ones."""
        p = self.pending
        with torch.no_grad():
            self.keys = nn.Parameter(torch.cat([self.keys, p.key.detach()[None]]), requires_grad=False)
            self.biases = nn.Parameter(torch.cat([self.biases, p.bias.detach()[None]]), requires_grad=False)
            self.values = nn.Parameter(torch.cat([self.values, p.value().detach()[None]]), requires_grad=False)
        self.pending = None

    def discard(self) -> None:
        self.pending = None

    def load(self, keys: torch.Tensor, biases: torch.Tensor, values: torch.Tensor) -> None:
        """Committed patches saved before: (n, hidden), (n,), (n, hidden)."""
        device = self.keys.device
        self.keys = nn.Parameter(keys.to(device, copy=True), requires_grad=False)
        self.biases = nn.Parameter(biases.to(device, copy=True), requires_grad=False)
        self.values = nn.Parameter(values.to(device, copy=True), requires_grad=False)
        self.pending = None

    def reset(self) -> None:
        hidden, device = self.keys.shape[1], self.keys.device
        self.keys = nn.Parameter(torch.zeros(0, hidden, device=device), requires_grad=False)
        self.biases = nn.Parameter(torch.zeros(0, device=device), requires_grad=False)
        self.values = nn.Parameter(torch.zeros(0, hidden, device=device), requires_grad=False)
        self.pending = None


class PendingPatch(nn.Module):
    """One trainable patch neuron.

    Key init `k = h / ||h||^2`, `b = 0`, so the pre-activation on the edit input `h` is
    exactly 1 (with a `center` c: `k = (h - c) / ||h - c||^2`, `b = -k . c`, so it is 1 at
    h and 0 at c). Value: a random unit direction times a trainable scale (init 10).

    The four parts live in one flat parameter, [key, bias, value direction, value scale],
    so that each training step's clipping and Adam update touch one tensor: at a few
    hundred microseconds a step, per-tensor overhead is a real share of the cost. Adam,
    weight decay and the total-norm clip are elementwise or global, so the flat layout
    changes no arithmetic.
    """

    def __init__(self, key_input: torch.Tensor, value_scale: float, generator: torch.Generator,
                 center: torch.Tensor | None = None):
        super().__init__()
        h = key_input.detach().float()
        direction = torch.randn(h.shape[0], generator=generator).to(h.device)  # a CPU generator: the same draw on any device
        self.hidden = h.shape[0]
        if center is None:
            key, bias = h / h.dot(h), h.new_zeros(1)
        else:  # pre-activation 1 at h and 0 at `center`: k = (h - c) / |h - c|^2, b = -k . c
            offset = h - center
            key = offset / offset.dot(offset)
            bias = -(key @ center)[None]
        self.flat = nn.Parameter(torch.cat([key, bias,                              # key, bias
                                            direction / direction.norm(),          # value direction
                                            h.new_full((1,), float(value_scale))]))  # value scale
        # (2 * hidden + 2,)
        # the closed form writes each step's gradient into this buffer, in place (mpn.editing.optim.KernelUpdate views it)
        self.flat.grad = torch.zeros_like(self.flat)

    @property
    def key(self) -> torch.Tensor:
        return self.flat[:self.hidden]                          # (hidden,)

    @property
    def bias(self) -> torch.Tensor:
        return self.flat[self.hidden]                           # ()

    @property
    def value_direction(self) -> torch.Tensor:
        return self.flat[self.hidden + 1:2 * self.hidden + 1]   # (hidden,)

    @property
    def value_scale(self) -> torch.Tensor:
        return self.flat[-1]                                    # ()

    def preact(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.key + self.bias

    def value(self) -> torch.Tensor:
        return self.value_direction * self.value_scale


class PatchedUp(nn.Module):
    """The FFN's first linear, widened by the patch keys: (..., hidden) -> (..., F + count)."""

    def __init__(self, base: nn.Linear, patches: PatchNeurons):
        super().__init__()
        self.base, self.patches = base, patches
        self.last_preact: torch.Tensor | None = None  # (batch, seq, count), for the editor to read

    def forward(self, x):
        a = self.patches.preact(x)
        self.last_preact = a
        return torch.cat([self.base(x), a], dim=-1)


class PatchedDown(nn.Module):
    """The FFN's second linear, widened by the patch values: (..., F + count) -> (..., hidden)."""

    def __init__(self, base: nn.Linear, patches: PatchNeurons):
        super().__init__()
        self.base = base
        self._patches = [patches]  # a plain reference: PatchedUp owns the parameters

    def forward(self, z):
        width = self.base.in_features
        return self.base(z[..., :width]) + z[..., width:] @ self._patches[0].all_values()


@dataclass
class FFNSite:
    """Where the patches go: the last block's FFN and what follows it."""
    up_parent: nn.Module
    up_name: str
    down_parent: nn.Module
    down_name: str
    activation: nn.Module
    layer_norm: nn.LayerNorm       # post-LN: LN(ffn(h) + h)
    head: nn.Module                # final hidden state at the classifier's position -> logits (mpn.model.anatomy)

    @property
    def up(self):
        return getattr(self.up_parent, self.up_name)

    @property
    def down(self):
        return getattr(self.down_parent, self.down_name)

    @property
    def base_up(self) -> nn.Linear:
        return self.up.base if isinstance(self.up, PatchedUp) else self.up

    @property
    def base_down(self) -> nn.Linear:
        return self.down.base if isinstance(self.down, PatchedDown) else self.down

    @property
    def patches(self) -> PatchNeurons | None:
        return self.up.patches if isinstance(self.up, PatchedUp) else None


def _last_block(encoder: nn.Module) -> nn.Module:
    n_layers = encoder.config.num_hidden_layers
    for module in encoder.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return module[-1]
    raise UserError(f"unsupported encoder {type(encoder).__name__}: no list of {n_layers} layers found")


def find_ffn_site(model: nn.Module) -> FFNSite:
    """Find the last FFN by structure: a hidden -> F linear and an F -> hidden linear."""
    anatomy = Anatomy.of(model)
    encoder = anatomy.encoder
    hidden = encoder.config.hidden_size
    block = _last_block(encoder)
    parents = {name: module for name, module in block.named_modules()}
    up = down = None
    for name, module in block.named_modules():
        linear = module.base if isinstance(module, (PatchedUp, PatchedDown)) else module
        if not isinstance(linear, nn.Linear) or isinstance(module, nn.Linear) and name.endswith(".base"):
            continue
        parent_name, _, child = name.rpartition(".")
        if linear.in_features == hidden and linear.out_features != hidden:
            up = (parents[parent_name], child)
        elif linear.out_features == hidden and linear.in_features != hidden:
            down = (parents[parent_name], child)
    if up is None or down is None:
        raise UserError(f"unsupported encoder {type(encoder).__name__}: no FFN (hidden -> F -> hidden) in the last layer")
    activation = next((m for m in up[0].children() if not isinstance(m, (nn.Linear, PatchedUp, nn.Dropout))), None)
    activation = activation or getattr(up[0], "intermediate_act_fn", None)
    # post-LN: in the FFN's output module (BERT, XLM-R, DeBERTa), else the block's last (DistilBERT)
    layer_norm = (next((m for m in down[0].children() if isinstance(m, nn.LayerNorm)), None)
                  or next((m for m in reversed(list(block.children())) if isinstance(m, nn.LayerNorm)), None))
    if activation is None or layer_norm is None:
        raise UserError(f"unsupported encoder {type(encoder).__name__}: the last FFN needs an activation "
                        "and a post-LayerNorm (BERT-style)")
    return FFNSite(up[0], up[1], down[0], down[1], activation, layer_norm, anatomy.head)


def install_patches(model: nn.Module, n: int = 0) -> PatchNeurons:
    """Wrap the last FFN's linears so they carry patch neurons (idempotent)."""
    site = find_ffn_site(model)
    if site.patches is not None:
        return site.patches
    patches = PatchNeurons(site.base_up.in_features, n, site.base_up.weight.device)
    setattr(site.up_parent, site.up_name, PatchedUp(site.base_up, patches))
    setattr(site.down_parent, site.down_name, PatchedDown(site.base_down, patches))
    return patches


@torch.no_grad()
def merge(model: nn.Module) -> nn.Module:
    """Bake the committed patches into wider plain linears (in place; for inference).

    The merged model computes exactly what the patched one does, with no wrapper modules.
    """
    site = find_ffn_site(model)
    patches = site.patches
    if patches is None:
        return model
    if patches.pending is not None:
        raise RuntimeError("commit() or discard() the pending patch before merging")
    up, down = site.base_up, site.base_down
    wide_up = nn.Linear(up.in_features, up.out_features + patches.count)
    wide_up.weight.copy_(torch.cat([up.weight, patches.keys]))
    wide_up.bias.copy_(torch.cat([up.bias, patches.biases]))
    wide_down = nn.Linear(down.in_features + patches.count, down.out_features)
    wide_down.weight.copy_(torch.cat([down.weight, patches.values.T], dim=1))
    wide_down.bias.copy_(down.bias)
    setattr(site.up_parent, site.up_name, wide_up.requires_grad_(False))
    setattr(site.down_parent, site.down_name, wide_down.requires_grad_(False))
    return model
