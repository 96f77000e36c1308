"""The features stage's store: per-text FFN inputs and dropout views, computed once per
task and loaded by every edit stage, with the same results as computing them there."""
import pytest
import torch

from mpn.editing.editor import Editor
from mpn.core.errors import UserError
from mpn.editing.features import FeatureExtractor, FeatureStore, as_text, stage_texts
from mpn.model.classifier import Classifier, load_encoder
from mpn.experiment.heldout import HeldOut
from mpn.experiment.sequential import SequentialEditing
from examples import LABELS, make_edits

HPARAMS = {"max_steps": 200, "n_views": 3}
MEMORY = ["a man is playing a guitar", "nobody is playing music"]
LOCALITY = [{"group": "l1", "lang": "en", "input": "nobody is playing music", "label": "REFUTES"},
            {"group": "l2", "lang": "de", "input": "die währung von japan ist der yen", "label": "SUPPORTS"}]


def fresh_model(encoder_dir):
    encoder, tokenizer = load_encoder(str(encoder_dir))
    return Classifier.from_encoder(encoder, LABELS, seed=3).eval(), tokenizer


@pytest.fixture()
def model(tiny_encoder_dir):
    return fresh_model(tiny_encoder_dir)


def test_rows_come_back_in_text_order_whatever_the_length_sorted_batches(model):
    extract = FeatureExtractor(*model, max_length=32, batch_size=2)
    texts = ["the currency of japan is the yen indeed and more", "paris", "a man is playing a guitar",
             "tokyo is a city in japan"]
    together = extract(texts)                                              # (4, hidden)
    one_by_one = torch.cat([extract([t]) for t in texts])
    assert together.shape == (4, model[0].config.encoder["hidden_size"])
    assert torch.allclose(together, one_by_one, atol=1e-5)


def _store(model, edits, seed=0):
    memory_rows = [{"lang": "en", "input": t} for t in MEMORY] + [{"lang": "de", "input": "der mann spielt"}]
    texts = stage_texts(edits, LOCALITY, memory_rows, memory_rows[:1], memory_per_language=5)
    return FeatureStore.compute(FeatureExtractor(*model, max_length=64), texts,
                                [as_text(e["input"]) for e in edits], n_views=3, seed=seed)


def test_store_saves_and_loads_exactly(model, tmp_path):
    store = _store(model, make_edits(Editor(*model)))
    store.save(tmp_path)
    loaded = FeatureStore.load(tmp_path)
    assert loaded == store and loaded.views.shape == (3, 3, store.clean.shape[1])
    assert "der mann spielt" in loaded.texts  # memory in every language, for any method
    pairs = [("a man", "is playing a guitar"), ("paris", "is a city in france")]
    FeatureStore.compute(FeatureExtractor(*model), pairs, pairs[:1], n_views=2, seed=0).save(tmp_path / "pairs")
    assert FeatureStore.load(tmp_path / "pairs").texts == pairs  # pairs come back as tuples
    (tmp_path / FeatureStore.INDEX).write_text('{"texts": ["x"], "view_texts": []}')
    with pytest.raises(UserError, match="disagree"):
        FeatureStore.load(tmp_path)


def test_editing_from_a_loaded_store_equals_editing_from_the_store_made_in_process(tiny_encoder_dir, tmp_path):
    model = fresh_model(tiny_encoder_dir)
    edits = make_edits(Editor(*model))
    store = _store(model, edits)
    store.save(tmp_path)

    def run(features):
        model = fresh_model(tiny_encoder_dir)  # an editor leaves its patches in the model
        editor = Editor(*model, "mpn", HPARAMS, memory=MEMORY, val_memory=MEMORY[:1], features=features)
        runner = SequentialEditing(editor, LOCALITY, HeldOut(frozenset({"es"})), eval_every=1)
        logs = runner.run(edits)
        for row in (row for lg in logs for row in lg.edits):
            del row["seconds"]  # wall-clock
        return editor, logs

    editor, from_file = run(FeatureStore.load(tmp_path))
    assert from_file == run(store)[1]
    # the editor trains on the store's dropout views, not views it draws itself
    text = as_text(edits[0]["input"])
    assert torch.equal(editor.engine.prepare(text, {}, 3).rows[1:], store.views[store.view_texts.index(text)])
    # and the store's clean features are what the engine would compute itself
    fresh = Editor(*model, "mpn", HPARAMS).engine.features(store.texts)
    assert torch.allclose(fresh, store.clean, atol=1e-5)


def test_views_follow_the_seed(model):
    edits = make_edits(Editor(*model))
    assert torch.equal(_store(model, edits, seed=1).views, _store(model, edits, seed=1).views)
    assert not torch.equal(_store(model, edits, seed=1).views, _store(model, edits, seed=2).views)


def test_an_engines_store_gives_a_later_editor_the_same_features_views_and_edits(tiny_encoder_dir, tmp_path):
    model = fresh_model(tiny_encoder_dir)
    edits = make_edits(Editor(*model))

    def run(features, seed):
        model = fresh_model(tiny_encoder_dir)
        torch.manual_seed(seed)  # the views an editor draws itself follow torch's seed
        editor = Editor(*model, "mpn", HPARAMS, memory=MEMORY, val_memory=MEMORY[:1], features=features)
        runner = SequentialEditing(editor, LOCALITY, HeldOut(frozenset({"es"})), eval_every=1)
        runner.precompute(edits)
        logs = runner.run(edits)
        for row in (row for lg in logs for row in lg.edits):
            del row["seconds"]  # wall-clock
        return editor, logs

    first, logs = run(None, seed=0)
    store = first.engine.store()
    store.save(tmp_path)
    loaded = FeatureStore.load(tmp_path)
    assert loaded == store
    assert set(store.texts) >= {as_text(r["input"]) for r in LOCALITY}
    second, again = run(loaded, seed=1)  # another seed: views drawn anew would differ
    assert again == logs
    assert second.engine.store() == store  # nothing was computed anew
