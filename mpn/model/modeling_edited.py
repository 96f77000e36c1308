"""A classifier edited by mpn-edit, loadable with transformers alone.

mpn-edit copies this file into every edited model's folder as `modeling_mpn_edited.py`;
`config.json`'s `auto_map` points at it, so

    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)

builds the base architecture (`BASE`, rewritten on save) with its last feed-forward
block widened by `config.mpn_extra_units` units: the edits' patch neurons, merged into
the FFN's two linears (a patch is one more hidden unit: key = a row of the first linear,
value = a column of the second). This file must not import mpn.
"""
from __future__ import annotations

import transformers
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

BASE = "MPNClassifier"  # the class the edits were made on; rewritten when a model is saved


class MPNClassifierConfig(PretrainedConfig):
    """mpn-edit's pipeline classifier (mpn.model.classifier.ClassifierConfig's fields), merged."""
    model_type = "mpn-edited-classifier"  # not mpn's own type: with mpn imported, that one is taken

    def __init__(self, encoder: dict | None = None, labels: list | None = None, dropout: float = 0.1,
                 input_prefix: str = "", n_patches: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder or {}
        self.labels = list(labels or [])
        self.dropout = dropout
        self.input_prefix = input_prefix   # prepend it to the first text ("query: " for e5)
        self.n_patches = n_patches


class MPNClassifier(PreTrainedModel):
    """encoder -> first-token hidden state -> dropout -> linear (mpn.model.classifier.Classifier)."""
    config_class = MPNClassifierConfig
    base_model_prefix = "classifier"

    def __init__(self, config: MPNClassifierConfig):
        super().__init__(config)
        encoder_config = AutoConfig.for_model(**config.encoder)
        self.encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(encoder_config.hidden_size, len(config.labels))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state   # (batch, seq, hidden)
        logits = self.head(self.dropout(hidden[:, 0]))                          # (batch, labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def widen_last_ffn(model: nn.Module, extra: int) -> None:
    """Give the last layer's FFN `extra` more hidden units (weights come from the checkpoint)."""
    if not extra:
        return
    config = model.config.encoder if isinstance(model.config, MPNClassifierConfig) else model.config
    n_layers = config["num_hidden_layers"] if isinstance(config, dict) else config.num_hidden_layers
    blocks = next(m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == n_layers)
    hidden = next(m for m in blocks[-1].modules() if isinstance(m, nn.Linear)).in_features
    parents = dict(blocks[-1].named_modules())
    for name, linear in list(blocks[-1].named_modules()):
        if not isinstance(linear, nn.Linear) or (linear.in_features == hidden) == (linear.out_features == hidden):
            continue
        parent, _, child = name.rpartition(".")
        up = linear.in_features == hidden
        wide = nn.Linear(linear.in_features + (0 if up else extra), linear.out_features + (extra if up else 0))
        setattr(parents[parent], child, wide.to(linear.weight.device))


def _base_class() -> type:
    return globals()[BASE] if BASE in globals() else getattr(transformers, BASE)


class EditedForSequenceClassification(_base_class()):
    """The base architecture with the edits' units in its last FFN."""

    def __init__(self, config):
        super().__init__(config)
        widen_last_ffn(self, getattr(config, "mpn_extra_units", 0))
