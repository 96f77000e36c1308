"""What an editor needs of a sequence classifier, found by structure.

Any classifier whose head reads one position (the first token) works the same way:
the text's tokens -> `encoder` -> final hidden state at position 0 -> `head` -> logits.
That covers this project's `Classifier` (a linear head) and Hugging Face's
`...ForSequenceClassification` models whose heads read token 0:

- BERT: the encoder's pooler (dense + tanh) then a linear `classifier`;
- XLM-R / RoBERTa: `classifier` = dense + tanh + `out_proj`, reading token 0 itself;
- DistilBERT: `pre_classifier` + ReLU, then `classifier`;
- DeBERTa-v2: the model's `pooler` (ContextPooler) then `classifier`.

Dropout is left out of `head`: editors evaluate heads in eval mode, where it is the
identity (the full engine runs the real model, dropout included, for its noisy views).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn

from mpn.core.errors import UserError


@dataclass
class Anatomy:
    encoder: nn.Module      # tokens -> hidden states (batch, seq, hidden)
    head: nn.Module         # final hidden state at position 0 (batch, hidden) -> logits (batch, labels)
    labels: list[str]       # label names, by logit index
    input_prefix: str       # prepended to the first text ("query: " for e5)

    @classmethod
    def of(cls, model: nn.Module) -> "Anatomy":
        config = model.config
        prefix = getattr(config, "input_prefix", "") or ""
        if isinstance(getattr(model, "head", None), nn.Linear):
            # this project's classifier, or one saved by mpn.model.portable and loaded without mpn
            return cls(model.encoder, model.head, list(config.labels), prefix)
        labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        return cls(model.base_model, _hf_head(model), labels, prefix)


class FirstTokenHead(nn.Module):
    """A head that reads the whole sequence's hidden states (it takes token 0 itself),
    given the position-0 state alone: (batch, hidden) -> (batch, labels)."""

    def __init__(self, pooler: nn.Module | None, classifier: nn.Module, before: nn.Module | None = None):
        super().__init__()
        self.pooler, self.classifier, self.before = pooler, classifier, before

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.before is not None:          # DistilBERT: pre_classifier + ReLU on token 0
            return self.classifier(torch.relu(self.before(h)))
        if self.pooler is not None:          # BERT's and DeBERTa's poolers take token 0 of (batch, seq, hidden)
            return self.classifier(self.pooler(h[:, None]))
        return self.classifier(h[:, None])  # RoBERTa's head takes token 0 of (batch, seq, hidden)


def _hf_head(model: nn.Module) -> nn.Module:
    classifier = getattr(model, "classifier", None)
    if classifier is None or not hasattr(model, "base_model"):
        raise UserError(f"unsupported classifier {type(model).__name__}: expected a Hugging Face "
                        "...ForSequenceClassification with a `classifier` head (BERT, XLM-R, DistilBERT, DeBERTa-v2)")
    if isinstance(getattr(model, "pre_classifier", None), nn.Linear):
        return FirstTokenHead(None, classifier, model.pre_classifier)
    pooler = getattr(model, "pooler", None) or getattr(model.base_model, "pooler", None)
    if pooler is not None:
        return FirstTokenHead(pooler, classifier)
    if isinstance(classifier, nn.Linear):
        raise UserError(f"unsupported classifier {type(model).__name__}: a linear head without a pooler; "
                        "which token it reads is unknown")
    return FirstTokenHead(None, classifier)


def logits_of(output) -> torch.Tensor:
    """Our Classifier returns logits; Hugging Face models an output object with `.logits`."""
    return output if isinstance(output, torch.Tensor) else output.logits


def model_inputs(module: nn.Module, encoding) -> dict:
    """The tokenizer's outputs that `module.forward` takes (DistilBERT takes no
    token_type_ids, which a BERT-style tokenizer returns)."""
    accepted = inspect.signature(module.forward).parameters
    return {k: v for k, v in encoding.items() if k in accepted}
