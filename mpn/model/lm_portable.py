"""Edited causal LMs out: save an LM editor's model as a standard Hugging Face folder
that loads without this package, and check that it does.

    save_edited_lm(editor, tokenizer, "edited/", card)   # config + safetensors + tokenizer + modeling file + README.md
    AutoModelForCausalLM.from_pretrained("edited/", trust_remote_code=True)

The folder holds the merged model (each patch neuron one more unit of the MLP it was
trained in, the last unless the editor's `layer` says otherwise; FT-L's change added to
that MLP's output projection) and mpn.model.modeling_edited_lm's file as
`modeling_mpn_edited_lm.py`, named in config.json's `auto_map`. `next_token_logits_without_mpn` reloads it in a subprocess
where `import mpn` fails, as a user without this package would.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn

from mpn.core.errors import UserError
from mpn.core.owned import check_writable
from mpn.model.card import ModelCard
from mpn.model.lm import LM_MODELING_FILE, LMPatches
from mpn.model.modeling_edited_lm import layer_mlp, widen_mlp
from mpn.model.portable import modeling_source, run_without_mpn, write_folder

MODEL_CLASS = "EditedForCausalLM"


def merged(editor) -> nn.Module:
    """A copy of the editor's model with its committed edits merged into the MLP they
    were trained in (`editor.merge_into`; the copy carries no hook: the editor's is
    lifted while copying)."""
    editor.hook.remove()
    try:
        model = copy.deepcopy(editor.model)
    finally:
        editor.hook = editor.site.install(editor.addition)
    editor.merge_into(model)
    return model


def check_layer(model: nn.Module, layer: int) -> int:
    """`layer` is one of the model's, and where a saved model's merged patches are (they
    are in one layer): new ones must go there too. Its index from 0."""
    n_layers = model.config.num_hidden_layers
    if not -n_layers <= layer < n_layers:
        raise UserError(f"layer {layer}: the model has {n_layers} layers; allowed: {-n_layers} to {n_layers - 1}")
    saved = getattr(model.config, "mpn_layer", n_layers - 1) % n_layers
    if getattr(model.config, "mpn_extra_units", 0) and layer % n_layers != saved:
        raise UserError(f"layer {layer}: this model's earlier edits are merged into layer {saved}; "
                        f"edit it there (layer {saved} or {saved - n_layers})")
    return layer % n_layers


@torch.no_grad()
def merge_patches(model: nn.Module, patches: LMPatches, layer: int = -1) -> None:
    """Append every committed patch to layer `layer`'s MLP as a unit: the same function,
    exactly the patch's form (mpn.model.lm), now in the model's own weights."""
    check_layer(model, layer)
    n = patches.gate_keys.shape[0]
    mlp, gated = layer_mlp(model, layer)
    old = dict(mlp.named_children())
    widen_mlp(model, n, layer)
    if gated:
        gate, up, down = old["gate_proj"], old["up_proj"], old["down_proj"]
        gate_bias = gate.bias if gate.bias is not None else gate.weight.new_zeros(gate.out_features)
        mlp.gate_proj.weight.copy_(torch.cat([gate.weight, patches.gate_keys]))     # (inter + n, hidden)
        mlp.gate_proj.bias.copy_(torch.cat([gate_bias, patches.biases]))             # (inter + n,)
        mlp.up_proj.weight.copy_(torch.cat([up.weight, patches.up_keys]))           # (inter + n, hidden)
        mlp.down_proj.weight.copy_(torch.cat([down.weight, patches.values.T], 1))   # (hidden, inter + n)
        pairs = [(up.bias, mlp.up_proj.bias, up.weight.new_zeros(n)), (down.bias, mlp.down_proj.bias, None)]
    else:
        fc, proj = old["c_fc"], old["c_proj"]                                        # Conv1D: weight (in, out)
        mlp.c_fc.weight.copy_(torch.cat([fc.weight, patches.gate_keys.T], 1))       # (hidden, inter + n)
        mlp.c_proj.weight.copy_(torch.cat([proj.weight, patches.values]))           # (inter + n, hidden)
        pairs = [(fc.bias, mlp.c_fc.bias, patches.biases), (proj.bias, mlp.c_proj.bias, None)]
    for before, after, appended in pairs:
        if before is not None:
            after.copy_(before if appended is None else torch.cat([before, appended]))
    _mark_edited(model, n, layer)


@torch.no_grad()
def merge_output_change(model: nn.Module, delta: torch.Tensor, layer: int = -1) -> None:
    """Add `delta` (hidden, units) to layer `layer`'s MLP output projection: FT-L's edits
    in the model's own weights, no unit added."""
    check_layer(model, layer)
    mlp, gated = layer_mlp(model, layer)
    if gated:
        mlp.down_proj.weight += delta                                              # (hidden, units)
    else:
        mlp.c_proj.weight += delta.T                                               # Conv1D: (units, hidden)
    _mark_edited(model, 0, layer)


def _mark_edited(model: nn.Module, n: int, layer: int) -> None:
    """The config fields the modeling file reads: the base class, the units added, their layer."""
    config = model.config
    config.mpn_base = getattr(config, "mpn_base", None) or type(model).__name__
    config.mpn_extra_units = getattr(config, "mpn_extra_units", 0) + n
    config.mpn_layer = layer % config.num_hidden_layers
    config.auto_map = {"AutoModelForCausalLM": f"{LM_MODELING_FILE[:-3]}.{MODEL_CLASS}"}


def save_edited_lm(editor, tokenizer, folder: str | Path, card: ModelCard | None = None,
                   files: Mapping[str, str] | None = None, overwrite: bool = False) -> Path:
    """Write the editor's model, merged, to `folder` (new or empty; with `overwrite`, a
    folder mpn-edit wrote), with its model card as README.md and `files` ({name: text})."""
    source = getattr(editor.model.config, "name_or_path", "") or ""
    check_writable(folder, overwrite, f"folder {folder}", {"the model": source} if source else None)
    model = merged(editor)
    return write_folder(folder, model, tokenizer, _finish_config, LM_MODELING_FILE,
                        modeling_source("modeling_edited_lm.py", model.config.mpn_base), card, files)


def _finish_config(path: Path) -> None:
    """save_pretrained writes the class's name; the folder's is the modeling file's."""
    config = json.loads(path.read_text(encoding="utf-8"))
    config["architectures"] = [MODEL_CLASS]
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# Run in a fresh interpreter in which `import mpn` fails; fed the token ids LMEditor
# reads each prompt as, so the check is the model's (the tokenizer is loaded, not compared).
_RELOAD_SCRIPT = r'''
import json, sys
sys.modules["mpn"] = None
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder = sys.argv[1]
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32).eval()
AutoTokenizer.from_pretrained(folder)
with torch.no_grad():
    rows = [model(input_ids=torch.tensor([ids])).logits[0, -1].tolist() for ids in json.load(sys.stdin)]
json.dump(rows, sys.stdout)
'''


def next_token_logits_without_mpn(folder: str | Path, editor, prompts: Sequence[str]) -> torch.Tensor:
    """The next-token logits after each prompt (as `editor` tokenizes it) from a folder
    `save_edited_lm` wrote, loaded by transformers alone in a subprocess that cannot
    import mpn. (prompts, vocab)"""
    return run_without_mpn(_RELOAD_SCRIPT, [str(Path(folder).resolve())],
                           [editor.prompt_ids(prompt) for prompt in prompts], folder)
