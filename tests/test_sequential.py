"""Sequential editing streams and the metrics they report, on the tiny model."""
import pytest

from mpn.editor import Editor
from mpn.metrics import rate, ratio
from mpn.models import Classifier, load_encoder
from mpn.methods import make_hparams
from mpn.sequential import SequentialEditing, memory_inputs, summarize

LABELS = ["SUPPORTS", "REFUTES"]


def test_rate_and_ratio_intervals_bracket_the_mean():
    r = rate([1, 0, 1, 1, None], n_bootstrap=200)
    assert r["mean"] == 0.75 and r["low"] <= 0.75 <= r["high"]
    assert rate([None, None]) is None
    q = ratio([1, 1, 0, 1], [1, 1, 1, 1], n_bootstrap=200)
    assert q["mean"] == 0.75 and 0 <= q["low"] <= q["high"] <= 1
    assert ratio([], []) is None


@pytest.fixture()
def editor(tiny_encoder_dir):
    encoder, tokenizer = load_encoder(str(tiny_encoder_dir))
    model = Classifier.from_encoder(encoder, LABELS, seed=3).eval()
    return Editor(model, tokenizer, "mpn", {"max_steps": 200, "heldout_languages": ["es"]},
                  memory=["a man is playing a guitar", "nobody is playing music"],
                  val_memory=["paris is a city in france"])


def make_edits(editor):
    texts = ["the currency of japan is the euro", "tokyo is a city in france", "paris is a city in japan"]
    preds = editor.predict(texts)
    return [{"edit_id": str(i), "stream": i % 2, "group": f"g{i}", "input": t,
             "target": LABELS[1 - LABELS.index(p)], "base_pred": p, "rephrases": [t + " indeed"],
             "translations": {"de": "die währung von japan ist der euro", "es": "la moneda de japan es el euro"},
             "translated_rephrases": {}} for i, (t, p) in enumerate(zip(texts, preds))]


def test_streams_edit_mistakes_and_report_every_metric(editor):
    edits = make_edits(editor)
    locality = [{"group": "l1", "lang": "en", "input": "nobody is playing music", "label": "REFUTES"},
                {"group": "l2", "lang": "de", "input": "die währung von japan ist der yen", "label": "SUPPORTS"}]
    logs = SequentialEditing(editor, locality, ["es"], eval_every=1).run(edits)
    # streams 0 (2 edits) and 1 (1 edit), each from the base model: the first edit of
    # each is a base-model mistake and always made; a later one may be fixed already
    assert len(logs) == 2 and 1 <= len(logs[0].edits) <= 2 and len(logs[1].edits) == 1
    assert all(row["patches"] == row["step"] for lg in logs for row in lg.edits)
    metrics = summarize(logs, ["es"], n_bootstrap=100, seed=0)
    for key in ("es", "mg", "clg", "clg_heldout", "locality", "er"):
        assert metrics[key] is None or 0 <= metrics[key]["low"] <= metrics[key]["mean"] <= metrics[key]["high"] <= 1.5
    assert metrics["es"]["mean"] == 1.0
    assert set(metrics["clg_by_lang"]) == {"de", "es"} and metrics["heldout_languages"] == ["es"]
    assert set(metrics["locality_by_lang"]) == {"en", "de"}
    assert metrics["n_edits"] == metrics["patches"] == sum(len(lg.edits) for lg in logs)


def test_an_edit_the_current_model_already_gets_right_is_skipped(editor):
    edits = make_edits(editor)
    edits = [dict(edits[0], stream=0), dict(edits[0], stream=0, edit_id="dup")]  # same fact twice
    logs = SequentialEditing(editor, [], [], eval_every=5).run(edits)
    assert len(logs[0].edits) == 1


def test_max_per_stream_ends_each_stream_after_that_many_edits_made(editor):
    edits = make_edits(editor)
    logs = SequentialEditing(editor, [], [], eval_every=5).run(edits, max_per_stream=1)
    assert [len(lg.edits) for lg in logs] == [1, 1]
    assert [lg.curve[-1]["n_edits"] for lg in logs] == [1, 1]


def test_memory_is_english_for_patcher_and_adds_mpn_pool_languages():
    rows = [{"lang": lang, "input": f"{lang} {i}"} for lang in ("en", "de", "es", "ja") for i in range(3)]
    assert memory_inputs(rows, make_hparams("patcher")) == ["en 0", "en 1", "en 2"]
    mpn = make_hparams("mpn", {"heldout_languages": ["ja"], "memory_per_language": 2})
    assert memory_inputs(rows, mpn) == ["en 0", "en 1", "en 2", "de 0", "de 1", "es 0", "es 1"]
    pooled = make_hparams("mpn", {"pool_languages": ["es"], "memory_per_language": 5})
    assert memory_inputs(rows, pooled) == ["en 0", "en 1", "en 2", "es 0", "es 1", "es 2"]
