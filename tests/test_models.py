"""Encoder loading and the classifier, on the tiny model."""

import pytest
import torch

from mpn.core.errors import UserError
from mpn.model.classifier import Classifier, load_encoder, predict_logits


def test_local_directory_loads_through_auto_classes(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    assert encoder.config.hidden_size == 32
    assert tokenizer("paris is a city")["input_ids"][0] == tokenizer.cls_token_id


def test_unknown_model_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="cannot load model") as err:
        load_encoder(str(tmp_path / "no-such-model"))
    assert "\n" not in str(err.value) and "e5-small" in str(err.value)


def test_classifier_round_trip_gives_identical_logits(tiny_encoder_dir, tmp_path):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = Classifier.from_encoder(encoder, ["SUPPORTS", "REFUTES"], dropout=0.1, seed=1)
    texts = ["paris is a city in france", "the currency of japan is the euro"]
    before = predict_logits(model, tokenizer, texts)
    model.save_pretrained(tmp_path / "clf")
    loaded = Classifier.from_pretrained(tmp_path / "clf")
    assert loaded.labels == ["SUPPORTS", "REFUTES"]
    assert torch.equal(predict_logits(loaded, tokenizer, texts), before)


def test_classifier_reads_first_token_only(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = Classifier.from_encoder(encoder, ["a", "b", "c"]).eval()
    enc = tokenizer(["paris is a city"], return_tensors="pt")
    hidden = model.encoder(**enc).last_hidden_state
    assert torch.allclose(model(**enc), model.head(hidden[:, 0]))


def test_pairs_are_tokenized_as_pairs(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = Classifier.from_encoder(encoder, ["entailment", "neutral", "contradiction"])
    logits = predict_logits(model, tokenizer, [("a man is playing a guitar", "nobody is playing music")])
    assert logits.shape == (1, 3)
