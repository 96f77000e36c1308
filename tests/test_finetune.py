"""The fine-tuning loop and the base model's report, on a tiny model and toy rows."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mpn.core.errors import UserError
from mpn.model.classifier import Classifier, load_encoder, predict_logits
from mpn.core.params import section as read_section
from mpn.experiment.finetune import (TrainConfig, Trainer, base_report, english_split, majority_baseline,
                                     model_input, predict)
from mpn.model.device import resolve_device
from mpn.experiment.finetune import FinetuneParams
from tiny import make_tiny_encoder

LABELS = ["SUPPORTS", "REFUTES"]
WORDS = {"SUPPORTS": "right", "REFUTES": "wrong"}  # the signal the model can learn
LANG_WORD = {"en": "claim", "de": "behauptung"}


def toy_rows(n_groups: int = 48) -> list[dict]:
    """Contract-shaped rows: a claim whose label is given away by one word, in en and de."""
    rows = []
    splits = ["train"] * (n_groups // 2) + ["val", "test"] * (n_groups // 4)
    for g, split in enumerate(splits):
        label = LABELS[(g // 2) % 2]
        for lang, word in LANG_WORD.items():
            rows.append({"id": f"g{g}/{lang}", "group": f"g{g}", "lang": lang, "variant": "original",
                         "split": split, "label": label,
                         "claim": f"{word} {g} is {WORDS[label]}"})
    return rows


@pytest.fixture(scope="module")
def toy_encoder(tmp_path_factory):
    corpus = [r["claim"] for r in toy_rows()]
    return load_encoder(str(make_tiny_encoder(tmp_path_factory.mktemp("enc") / "tiny", corpus)))


def fresh_model(toy_encoder) -> Classifier:
    encoder, _ = toy_encoder
    return Classifier.from_encoder(encoder, LABELS, dropout=0.1, seed=0)


def config(**overrides) -> TrainConfig:
    base = dict(max_length=16, batch_size=4, learning_rate=3.0e-3, epochs=6, warmup=0.0,
                freeze_word_embeddings=False, eval_every=0, device="cpu", seed=0)
    return TrainConfig(**{**base, **overrides})


def mean_loss(model, tokenizer, texts, labels) -> float:
    logits = predict_logits(model, tokenizer, texts, max_length=16)
    return F.cross_entropy(logits, torch.tensor(labels)).item()


def test_fine_tuning_lowers_training_loss_and_keeps_best_checkpoint(toy_encoder):
    _, tokenizer = toy_encoder
    rows = toy_rows()
    texts, labels = english_split(rows, "train", LABELS)
    val_texts, val_labels = english_split(rows, "val", LABELS)
    model = fresh_model(toy_encoder)
    before = mean_loss(model, tokenizer, texts, labels)
    trainer = Trainer(model, tokenizer, config())
    result = trainer.fit(texts, labels, val_texts, val_labels)
    assert mean_loss(model, tokenizer, texts, labels) < before - 0.02
    assert [r["step"] for r in result.curve] == [6, 12, 18, 24, 30, 36]  # eval_every 0: each epoch (24 items / batch 4)
    best = max(result.curve, key=lambda r: r["val_accuracy"])
    assert result.best_step == best["step"]
    assert best["val_accuracy"] == 1.0  # the signal word was learned
    # the model left behind is the best checkpoint, not the last one
    assert trainer.accuracy(val_texts, val_labels) == pytest.approx(best["val_accuracy"])


def test_eval_every_n_steps_makes_the_curve_and_picks_among_all_checks(toy_encoder):
    _, tokenizer = toy_encoder
    rows = toy_rows()
    trainer = Trainer(fresh_model(toy_encoder), tokenizer, config(eval_every=5))
    result = trainer.fit(*english_split(rows, "train", LABELS), *english_split(rows, "val", LABELS))
    assert [r["step"] for r in result.curve] == [5, 10, 15, 20, 25, 30, 35, 36]  # and the last step
    assert result.best_step == max(result.curve, key=lambda r: r["val_accuracy"])["step"]


def test_frozen_word_embeddings_do_not_move(toy_encoder):
    _, tokenizer = toy_encoder
    rows = toy_rows()
    model = fresh_model(toy_encoder)
    embeddings = model.encoder.get_input_embeddings().weight.detach().clone()
    head = model.head.weight.detach().clone()
    Trainer(model, tokenizer, config(freeze_word_embeddings=True, epochs=1)).fit(
        *english_split(rows, "train", LABELS), *english_split(rows, "val", LABELS))
    assert torch.equal(model.encoder.get_input_embeddings().weight, embeddings)
    assert not torch.equal(model.head.weight, head)


def test_freeze_layers_keeps_the_bottom_of_the_encoder(toy_encoder):
    _, tokenizer = toy_encoder
    rows = toy_rows()
    model = fresh_model(toy_encoder)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    Trainer(model, tokenizer, config(freeze_layers=1, epochs=1)).fit(
        *english_split(rows, "train", LABELS), *english_split(rows, "val", LABELS))
    moved = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert not any(n.startswith(("encoder.embeddings.", "encoder.encoder.layer.0.")) for n in moved)
    assert any(n.startswith("encoder.encoder.layer.1.") for n in moved)
    with pytest.raises(UserError, match="freeze_layers = 2; the encoder has 2 layers"):
        Trainer(fresh_model(toy_encoder), tokenizer, config(freeze_layers=2)).fit(
            *english_split(rows, "train", LABELS), *english_split(rows, "val", LABELS))


def test_same_seed_same_model_and_save_load_round_trip(toy_encoder, tmp_path):
    _, tokenizer = toy_encoder
    rows = toy_rows()
    data = (*english_split(rows, "train", LABELS), *english_split(rows, "val", LABELS))
    models = []
    for _ in range(2):
        model = fresh_model(toy_encoder)
        Trainer(model, tokenizer, config(epochs=1)).fit(*data)
        models.append(model)
    texts = [model_input(r) for r in rows]
    logits = predict_logits(models[0], tokenizer, texts, max_length=16)
    assert torch.equal(logits, predict_logits(models[1], tokenizer, texts, max_length=16))

    models[0].save_pretrained(tmp_path / "model")
    loaded = Classifier.from_pretrained(tmp_path / "model")
    assert loaded.labels == LABELS
    assert torch.equal(logits, predict_logits(loaded, tokenizer, texts, max_length=16))


def test_predict_keeps_input_order_and_matches_predict_logits(toy_encoder):
    _, tokenizer = toy_encoder
    model = fresh_model(toy_encoder)
    texts = [model_input(r) for r in toy_rows()]
    texts = sorted(texts, key=len, reverse=True)  # predict reorders by length internally
    expected = predict_logits(model, tokenizer, texts, max_length=16).argmax(-1).tolist()
    assert predict(model, tokenizer, texts, batch_size=5, max_length=16) == expected


def test_base_report_schema_and_figures(toy_encoder):
    _, tokenizer = toy_encoder
    rows = toy_rows()
    model = fresh_model(toy_encoder)
    report = base_report("toy", model, tokenizer, rows, LABELS, config())
    assert list(report) == ["task", "labels", "majority_baseline", "val", "test"]
    assert list(report["val"]) == ["accuracy", "accuracy_by_lang"]
    assert list(report["test"]) == ["accuracy", "accuracy_by_lang", "per_class"]
    assert list(report["test"]["accuracy_by_lang"]) == ["en", "de"]
    test_rows = [r for r in rows if r["split"] == "test"]
    predicted = predict(model, tokenizer, [model_input(r) for r in test_rows], 8, 16)
    for lang in ("en", "de"):
        pairs = [(LABELS[p], r["label"]) for p, r in zip(predicted, test_rows) if r["lang"] == lang]
        expected = sum(p == g for p, g in pairs) / len(pairs)
        assert report["test"]["accuracy_by_lang"][lang] == pytest.approx(expected)
    assert report["test"]["accuracy"] == report["test"]["accuracy_by_lang"]["en"]
    support = {label: report["test"]["per_class"][label]["support"] for label in LABELS}
    assert support == {"SUPPORTS": 6, "REFUTES": 6}


def test_majority_baseline_uses_training_majority_on_test():
    assert majority_baseline(["A", "A", "B"], ["B", "B", "A", "B"]) == 0.25
    assert majority_baseline(["B", "A"], ["A", "B", "B"]) == pytest.approx(1 / 3)  # tie: first name


def test_training_cap_is_a_seeded_subset():
    rows = toy_rows(96)
    first = english_split(rows, "train", LABELS, cap=5, seed=1)
    assert len(first[0]) == 5
    assert first == english_split(rows, "train", LABELS, cap=5, seed=1)
    assert first != english_split(rows, "train", LABELS, cap=5, seed=2)


@pytest.mark.parametrize("params, bad", [({"learning_rate": 0}, "learning_rate"),
                                         ({"warmup": 1.5}, "warmup"),
                                         ({"max_train_examples": -1}, "max_train_examples"),
                                         ({"freeze_word_embeddings": "yes"}, "freeze_word_embeddings"),
                                         ({"epoch": 3}, "epoch: unknown key")])
def test_bad_params_are_one_line_errors(params, bad):
    with pytest.raises(UserError, match=bad):
        read_section({"finetune": params}, FinetuneParams)


def test_unknown_label_and_device_are_user_errors():
    with pytest.raises(UserError, match="MAYBE"):
        english_split([{**toy_rows()[0], "label": "MAYBE"}], "train", LABELS)
    with pytest.raises(UserError, match="tpu"):
        resolve_device("tpu")
