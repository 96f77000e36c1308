"""A causal language model edited by mpn-edit, loadable with transformers alone.

mpn-edit copies this file into every edited LM's folder as `modeling_mpn_edited_lm.py`;
`config.json`'s `auto_map` points at it, so

    AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)

builds the base architecture (`BASE`, rewritten on save) with one layer's MLP (the last,
or `config.mpn_layer`) widened by `config.mpn_extra_units` units: the edits' patch
neurons, merged. A gated MLP's patch
(Gemma, Llama, Qwen2, Mistral) is a row of gate_proj with its bias (the one thing the
base MLP lacks: gate_proj gains a bias, zero for the original units), a row of up_proj
and a column of down_proj; a plain MLP's (GPT-2) a column of c_fc and a row of c_proj.
This file must not import mpn (mpn.model.lm imports it: one definition of the MLP's parts).
"""
from __future__ import annotations

import transformers
from torch import nn
from transformers.pytorch_utils import Conv1D

BASE = "LlamaForCausalLM"  # the class the edits were made on; rewritten when a model is saved

GATED = ("gate_proj", "up_proj", "down_proj")  # Gemma, Llama, Qwen2, Mistral
PLAIN = ("c_fc", "c_proj")                       # GPT-2 (Conv1D, weights stored (in, out))


def decoder_layer(model: nn.Module, index: int = -1) -> nn.Module | None:
    """One of the model's decoder layers (the ModuleList as long as the layer count), by
    index (negative: from the end); None without such a list or such an index."""
    n_layers = model.config.num_hidden_layers
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == n_layers]
    return lists[0][index] if lists and -n_layers <= index < n_layers else None


def layer_mlp(model: nn.Module, index: int = -1) -> tuple[nn.Module, bool] | None:
    """A decoder layer's MLP, found by its parts, and whether it is gated (None: no such MLP)."""
    layer = decoder_layer(model, index)
    if layer is None:
        return None
    for parts, gated in ((GATED, True), (PLAIN, False)):
        mlp = next((m for m in layer.modules() if all(hasattr(m, name) for name in parts)), None)
        if mlp is not None:
            return mlp, gated
    return None


def widen_mlp(model: nn.Module, extra: int, index: int = -1) -> None:
    """Give layer `index`'s MLP `extra` more units, their weights left for the checkpoint to fill."""
    found = layer_mlp(model, index) if extra else None
    if found is None:
        return
    mlp, gated = found
    like = {"device": next(mlp.parameters()).device, "dtype": next(mlp.parameters()).dtype}
    if gated:
        gate, up, down = mlp.gate_proj, mlp.up_proj, mlp.down_proj
        mlp.gate_proj = nn.Linear(gate.in_features, gate.out_features + extra, bias=True, **like)
        mlp.up_proj = nn.Linear(up.in_features, up.out_features + extra, bias=up.bias is not None, **like)
        mlp.down_proj = nn.Linear(down.in_features + extra, down.out_features, bias=down.bias is not None, **like)
    else:
        fc, proj = mlp.c_fc, mlp.c_proj       # Conv1D(nf=out, nx=in)
        mlp.c_fc = Conv1D(fc.nf + extra, fc.weight.shape[0]).to(**like)
        mlp.c_proj = Conv1D(proj.nf, proj.weight.shape[0] + extra).to(**like)


def _base_class() -> type:
    return getattr(transformers, BASE)


class EditedForCausalLM(_base_class()):
    """The base architecture with the edits' units in one layer's MLP (the last unless
    `config.mpn_layer` says otherwise)."""

    def __init__(self, config):
        super().__init__(config)
        widen_mlp(self, getattr(config, "mpn_extra_units", 0), getattr(config, "mpn_layer", -1))
