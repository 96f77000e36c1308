"""Classifiers in and out: load any sequence classifier to edit, and save an edited one
as a standard Hugging Face folder that loads without this package.

    model, tokenizer = load_any("models/xfacts")        # or a hub name, or a saved edit
    ...edit it with mpn.editing.editor.Editor...
    save_edited(editor, tokenizer, "edited/", card)     # config + safetensors + tokenizer + modeling file + README.md

The saved folder holds the merged model (patch neurons become units of the last FFN,
mpn.model.patch.merge) and mpn/model/modeling_edited.py as `modeling_mpn_edited.py`, named in
config.json's `auto_map`, so that
`AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)`
builds it with transformers alone, and `push_to_hub` shares it as is.
"""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Mapping

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from mpn.model.card import ModelCard
from mpn.model.classifier import Classifier, ClassifierConfig
from mpn.model.patch import find_ffn_site, merge
from mpn.core.errors import UserError, first_line
from mpn.core.io import atomic_folder
from mpn.core.owned import check_writable, mark
from mpn.core.params import MAX_LENGTH

MODELING_FILE = "modeling_mpn_edited.py"
MODEL_CLASS = "EditedForSequenceClassification"


def load_any(name: str):
    """(model, tokenizer) in eval mode: a pipeline model (models/<task>), a folder saved
    by `save_edited`, or any Hugging Face sequence classifier (hub name or folder)."""
    path = Path(name).expanduser()
    if str(name).startswith(("/", ".", "~")) and not path.exists():
        raise UserError(f"no model at {name}: the directory does not exist")
    config = _read_config(path)
    try:
        if config.get("model_type") == ClassifierConfig.model_type and "auto_map" not in config:
            model = Classifier.from_pretrained(name)
        else:  # trust_remote_code only for folders this package saved (its own modeling file)
            model = AutoModelForSequenceClassification.from_pretrained(
                name, trust_remote_code=(path / MODELING_FILE).exists())
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=(path / MODELING_FILE).exists())
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load classifier {name!r} ({first_line(err)}); give a Hugging Face "
                        "sequence-classification model (hub name or folder) or a folder saved by mpn-edit") from None
    return model.eval(), tokenizer


def _read_config(path: Path) -> dict:
    file = path / "config.json"
    if not file.exists():
        return {}
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{file}: malformed JSON ({err.msg} at line {err.lineno})") from None


def save_edited(editor, tokenizer, folder: str | Path, card: ModelCard | None = None,
                files: Mapping[str, str] | None = None, overwrite: bool = False) -> Path:
    """Write the editor's model, merged, to `folder`, with its model card as README.md and
    any other `files` ({name: text}) beside it, and the marker (mpn.core.owned) that
    lists them. `folder` must be new or empty; with `overwrite`, a folder this function
    wrote before is replaced atomically (built beside it, then swapped in). A folder
    holding anything else, or the model's own folder, is refused."""
    source = getattr(editor.model.config, "name_or_path", "") or ""
    check_writable(folder, overwrite, f"folder {folder}", {"the model": source} if source else None)
    if getattr(editor.engine, "replacements", None):
        raise UserError(f"method {editor.name!r} keeps its edits in a codebook outside the model's weights; "
                        "only weight edits (patcher, mpn, ft and their +mpn forms) can be saved as a model")
    model = copy.deepcopy(editor.model)
    patches = find_ffn_site(model).patches
    extra = patches.count if patches is not None else 0
    merge(model)
    config = model.config
    own = isinstance(model, Classifier)
    base = getattr(config, "mpn_base", None) or ("MPNClassifier" if own else type(model).__name__)
    config.mpn_base = base
    config.mpn_extra_units = getattr(config, "mpn_extra_units", 0) + extra
    config.auto_map = {"AutoModelForSequenceClassification": f"{MODELING_FILE[:-3]}.{MODEL_CLASS}"}
    if own:
        config.n_patches = 0                      # merged: the patches are FFN units now
        config.id2label = dict(enumerate(config.labels))
        config.label2id = {label: i for i, label in enumerate(config.labels)}
        config.auto_map["AutoConfig"] = f"{MODELING_FILE[:-3]}.MPNClassifierConfig"
    return write_folder(folder, model, tokenizer, lambda path: _finish_config(path, own),
                        MODELING_FILE, modeling_source("modeling_edited.py", base), card, files)


def write_folder(folder: str | Path, model, tokenizer, finish_config: Callable[[Path], None], modeling_file: str,
                 modeling_text: str, card: ModelCard | None, files: Mapping[str, str] | None) -> Path:
    """Write an edited model's folder atomically: weights and config (then `finish_config`
    on config.json), tokenizer, the modeling file, the model card as README.md, `files`
    ({name: text}) and the marker that lists them (mpn.core.owned)."""
    with atomic_folder(folder) as tmp:
        model.save_pretrained(tmp)
        finish_config(tmp / "config.json")
        tokenizer.save_pretrained(tmp)
        (tmp / modeling_file).write_text(modeling_text, encoding="utf-8")
        if card is not None:
            (tmp / "README.md").write_text(card.render(modeling_file), encoding="utf-8")
        for name, text in (files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        mark(tmp)
    return Path(folder)


def _finish_config(path: Path, own: bool) -> None:
    """What save_pretrained writes from the class, not the instance: the architecture
    (the modeling file's class) and, for this project's classifier, the model type of
    the modeling file's config (mpn's own type would load mpn's class where mpn is imported)."""
    config = json.loads(path.read_text(encoding="utf-8"))
    config["architectures"] = [MODEL_CLASS]
    if own:
        config["model_type"] = "mpn-edited-classifier"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def modeling_source(file: str, base: str) -> str:
    """The text of this folder's modeling `file` with its `BASE = "..."` line naming `base`."""
    source = (Path(__file__).parent / file).read_text(encoding="utf-8")
    source, n = re.subn(r'^BASE = "\w+"', f'BASE = "{base}"', source, count=1, flags=re.MULTILINE)
    assert n == 1, f"{file} has no BASE line"
    return source


# Run in a fresh interpreter in which `import mpn` fails: what a user without this
# package gets from transformers alone.
_RELOAD_SCRIPT = r'''
import inspect, json, sys
sys.modules["mpn"] = None
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
folder, max_length = sys.argv[1], int(sys.argv[2])
texts = json.load(sys.stdin)
model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
prefix = getattr(model.config, "input_prefix", "") or ""
pairs = isinstance(texts[0], list)
first = [prefix + (t[0] if pairs else t) for t in texts]
second = [t[1] for t in texts] if pairs else None
enc = tokenizer(first, second, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
accepted = inspect.signature(model.forward).parameters
with torch.no_grad():
    logits = model(**{k: v for k, v in enc.items() if k in accepted}).logits
json.dump(logits.tolist(), sys.stdout)
'''


def logits_without_mpn(folder: str | Path, texts: list, max_length: int = MAX_LENGTH):
    """Logits of a folder `save_edited` wrote, loaded by transformers alone in a
    subprocess that cannot import mpn. (n, labels)"""
    return run_without_mpn(_RELOAD_SCRIPT, [str(Path(folder).resolve()), str(max_length)],
                           [list(t) if isinstance(t, tuple) else t for t in texts], folder)


def run_without_mpn(script: str, argv: list[str], payload, folder: str | Path) -> torch.Tensor:
    """Run `script` in a fresh interpreter (`payload` as JSON on its stdin, a JSON tensor
    on its stdout), from a folder where `import mpn` finds nothing."""
    run = subprocess.run([sys.executable, "-c", script, *argv], input=json.dumps(payload),
                         capture_output=True, text=True, cwd=tempfile.gettempdir())
    if run.returncode:
        raise RuntimeError(f"reloading {folder} without mpn failed:\n{run.stderr[-3000:]}")
    return torch.tensor(json.loads(run.stdout))


def load_classifier(folder):
    """A fine-tuned classifier (ours, or any mpn.model.anatomy supports) and its tokenizer
    from `models/<task>/`."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise UserError(f"no fine-tuned model in {folder}; run the finetune stage first")
    return load_any(str(folder))
