"""A tiny randomly initialized BERT-style encoder, causal LMs and a word-level tokenizer, made on the fly.

Unit tests and the pipeline test use it instead of e5-small so they run in seconds.
It is saved as a local model directory, so it loads through the same
`load_encoder(path)` code path as a hub model.
"""
from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (BertConfig, BertModel, Gemma3ForCausalLM, Gemma3TextConfig, GPT2Config, GPT2LMHeadModel,
                          LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM)

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=1))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[(s, tok.token_to_id(s)) for s in ("[CLS]", "[SEP]")])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=64)


def make_tiny_encoder(path: str | Path, corpus: list[str], hidden: int = 32, layers: int = 2,
                      seed: int = 0) -> Path:
    """Write a tiny BERT (hidden 32, 2 layers) and a tokenizer fit on `corpus` to `path`."""
    path = Path(path)
    tokenizer = make_tiny_tokenizer(corpus)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=2, intermediate_size=2 * hidden,
                        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                        initializer_range=0.4)  # large init: distinct token-0 features per text
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def make_tiny_hf_classifier(arch: str, tokenizer, labels: list[str], hidden: int = 32, seed: int = 0):
    """A tiny randomly initialised Hugging Face sequence classifier of one of the four
    architectures the editors support by structure (no download: built from a config)."""
    from transformers import (BertConfig, BertForSequenceClassification, DebertaV2Config,
                              DebertaV2ForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification, XLMRobertaConfig,
                              XLMRobertaForSequenceClassification)
    common = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_labels=len(labels),
                  id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
                  initializer_range=0.4, max_position_embeddings=80)
    layers = dict(hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * hidden)
    configs = {
        "bert": (BertForSequenceClassification, BertConfig(**common, **layers)),
        "xlm-roberta": (XLMRobertaForSequenceClassification, XLMRobertaConfig(**common, **layers)),
        "distilbert": (DistilBertForSequenceClassification,
                       DistilBertConfig(**common, dim=hidden, n_layers=2, n_heads=2, hidden_dim=2 * hidden)),
        # mDeBERTa's attention: relative positions, no absolute position embeddings
        "deberta-v2": (DebertaV2ForSequenceClassification,
                       DebertaV2Config(**common, **layers, relative_attention=True, position_buckets=16,
                                       pos_att_type=["p2c", "c2p"], position_biased_input=False)),
    }
    model_class, config = configs[arch]
    torch.manual_seed(seed)
    return model_class(config).eval()


LM_KINDS = ("llama", "gemma3", "qwen2", "gpt2")   # gated MLPs (Gemma with its post-MLP norm), and GPT-2's Conv1D


def make_tiny_lm(kind: str, vocab_size: int = 97, seed: int = 0):
    """A tiny random causal LM (hidden 32, 2 layers) of one of LM_KINDS, in eval mode."""
    sizes = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=2)
    torch.manual_seed(seed)
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(**sizes, num_key_value_heads=1))
    elif kind == "gemma3":
        model = Gemma3ForCausalLM(Gemma3TextConfig(**sizes, num_key_value_heads=1, head_dim=16,
                                                   final_logit_softcapping=30.0))
    elif kind == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**sizes, num_key_value_heads=1))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=2,
                                           bos_token_id=0, eos_token_id=0))
    return model.eval()


def make_tiny_lm_tokenizer(kind: str, corpus: list[str]) -> PreTrainedTokenizerFast:
    """A tokenizer the kind's AutoTokenizer class reads back as it was: byte-level BPE for
    Qwen2 and GPT-2 (transformers loads their folders with their own BPE class), the
    word-level one for the others."""
    if kind not in ("qwen2", "gpt2"):
        return make_tiny_tokenizer(corpus)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")

