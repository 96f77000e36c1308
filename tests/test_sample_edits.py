"""Edit-set sampling on a tiny model and contract-shaped toy rows."""
from __future__ import annotations

import json

import pytest

from mpn.experiment.edit_sets import EditSetConfig, assign_streams, sample_edit_set
from mpn.core.errors import UserError
from mpn.model.classifier import Classifier, load_encoder, predict_logits
from mpn.core.params import section as read_section
from mpn.experiment.finetune import predict
from tiny import make_tiny_encoder
from stage_argv import stage_argv

LABELS = ["SUPPORTS", "REFUTES"]


def row(group, lang, split, variant="original", label=None, n=0):
    label = label or LABELS[int(group.split("-")[-1]) % 2]
    return {"id": f"{group}/{lang}/{variant}", "group": group, "lang": lang, "variant": variant,
            "split": split, "label": label, "claim": f"{lang} {variant} claim {group} number {n}"}


def toy_rows() -> list[dict]:
    """Edit groups with English rephrases, de/fr translations and a German rephrase; test,
    train and val groups; and `shared-*` groups present in every split, so that a sampler
    that forgot to exclude used groups would put one group in two sets."""
    rows = []
    for i in range(40):
        group = f"edit-{i}"
        rows += [row(group, "en", "edit", n=i), row(group, "en", "edit", "rephrase1", n=i),
                 row(group, "en", "edit", "rephrase2", n=i), row(group, "de", "edit", n=i),
                 row(group, "fr", "edit", n=i), row(group, "de", "edit", "rephrase1", n=i)]
    for i in range(12):
        rows += [row(f"test-{i}", lang, "test", n=i) for lang in ("en", "de", "fr")]
        rows += [row(f"train-{i}", "en", "train", n=i), row(f"train-{i}", "de", "train", n=i),
                 row(f"val-{i}", "en", "val", n=i)]
    for i in range(10):
        rows += [row(f"shared-{i}", "en", split, n=i) for split in ("edit", "test", "train", "val")]
        rows += [row(f"shared-{i}", "de", "test", n=i)]
    return rows


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    corpus = [r["claim"] for r in toy_rows()]
    encoder, tokenizer = load_encoder(str(make_tiny_encoder(tmp_path_factory.mktemp("enc") / "t", corpus)))
    return Classifier.from_encoder(encoder, LABELS, seed=3).eval(), tokenizer


def predictor(tiny_model):
    model, tokenizer = tiny_model
    return lambda texts: [LABELS[i] for i in predict(model, tokenizer, texts, 7, 32)]


BIG = EditSetConfig(n_streams=2, stream_length=1000, n_locality=1000, n_memory=1000, n_memory_val=1000)


def test_edits_are_exactly_the_base_models_english_mistakes(tiny_model):
    model, tokenizer = tiny_model
    rows = toy_rows()
    english = [r for r in rows if r["split"] == "edit" and r["lang"] == "en" and r["variant"] == "original"]
    logits = predict_logits(model, tokenizer, [r["claim"] for r in english], max_length=32)
    wrong = {r["id"]: LABELS[p] for r, p in zip(english, logits.argmax(-1).tolist()) if LABELS[p] != r["label"]}
    assert 0 < len(wrong) < len(english)  # the fixture must have both right and wrong items

    edit_set = sample_edit_set(rows, predictor(tiny_model), BIG)
    assert {e["edit_id"]: e["base_pred"] for e in edit_set.edits} == wrong
    for edit in edit_set.edits:
        assert edit["target"] != edit["base_pred"]
    assert edit_set.stats["n_edits"] == len(wrong)
    assert edit_set.stats["base_edit_split_accuracy_en"] == pytest.approx(1 - len(wrong) / len(english))


def test_edit_locality_and_memory_sets_share_no_group(tiny_model):
    edit_set = sample_edit_set(toy_rows(), predictor(tiny_model), BIG)
    sets = {"edits": {e["group"] for e in edit_set.edits},
            "locality": {r["group"] for r in edit_set.locality},
            "memory": {r["group"] for r in edit_set.memory},
            "memory_val": {r["group"] for r in edit_set.memory_val}}
    # precondition: shared groups were candidates for several sets, so exclusion mattered
    shared = {f"shared-{i}" for i in range(10)}
    assert sets["edits"] & shared and sets["locality"] & shared
    assert shared <= sets["edits"] | sets["locality"]  # so memory sets had to skip them all
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not sets[a] & sets[b], f"{a} and {b} share groups {sorted(sets[a] & sets[b])}"


def test_edit_record_carries_rephrases_and_translations(tiny_model):
    edit_set = sample_edit_set(toy_rows(), predictor(tiny_model), BIG)
    edit = next(e for e in edit_set.edits if e["group"].startswith("edit-"))
    n = int(edit["group"].split("-")[1])
    group = edit["group"]
    assert edit["input"] == f"en original claim {group} number {n}"
    assert edit["rephrases"] == [f"en rephrase{k} claim {group} number {n}" for k in (1, 2)]
    assert edit["translations"] == {lang: f"{lang} original claim {group} number {n}" for lang in ("de", "fr")}
    assert edit["translated_rephrases"] == {"de": [f"de rephrase1 claim {group} number {n}"]}
    assert list(edit) == ["edit_id", "stream", "group", "input", "target", "base_pred", "rephrases",
                          "translations", "translated_rephrases"]


def test_locality_holds_every_language_of_its_groups(tiny_model):
    config = EditSetConfig(n_locality=5, n_memory=4, n_memory_val=3)
    edit_set = sample_edit_set(toy_rows(), predictor(tiny_model), config)
    groups = {r["group"] for r in edit_set.locality}
    assert len(groups) == 5
    expected = sorted((r["group"], r["lang"]) for r in toy_rows()
                      if r["split"] == "test" and r["group"] in groups)
    assert sorted((r["group"], r["lang"]) for r in edit_set.locality) == expected
    assert set(edit_set.stats["n_locality_by_lang"]) <= {"en", "de", "fr"}
    assert sum(edit_set.stats["n_locality_by_lang"].values()) == len(edit_set.locality)
    # memory sets: n groups, each with its original in every language it has
    assert (edit_set.stats["n_memory"], edit_set.stats["n_memory_val"]) == (4, 3)
    memory_groups = {r["group"] for r in edit_set.memory}
    assert len(memory_groups) == 4
    expected = sorted((r["group"], r["lang"]) for r in toy_rows()
                      if r["split"] == "train" and r["group"] in memory_groups)
    assert sorted((r["group"], r["lang"]) for r in edit_set.memory) == expected
    assert {r["lang"] for r in edit_set.memory if r["group"].startswith("train-")} == {"en", "de"}
    assert len({r["group"] for r in edit_set.memory_val}) == 3
    assert edit_set.stats["languages"] == ["en", "de", "fr"]


def test_pairs_are_written_as_premise_hypothesis_lists():
    rows = [{"id": f"{s}-{i}", "group": f"{s}-{i}", "lang": "en", "variant": "original", "split": s,
             "label": "neutral", "premise": f"p {i}", "hypothesis": f"h {i}"}
            for s in ("edit", "test", "train", "val") for i in range(3)]
    edit_set = sample_edit_set(rows, lambda texts: ["entailment"] * len(texts), EditSetConfig())
    assert edit_set.edits and all(isinstance(e["input"], tuple) for e in edit_set.edits)
    first = json.loads(json.dumps(edit_set.edits[0]))
    assert first["input"] == [first["edit_id"].replace("edit-", "p "), first["edit_id"].replace("edit-", "h ")]


def test_streams_are_seeded_balanced_and_capped():
    edits = [{"edit_id": f"e{i}", "group": f"g{i}"} for i in range(10)]
    streams = assign_streams(edits, n_streams=3, stream_length=3, seed=0)
    assert [e["stream"] for e in streams] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert streams == assign_streams(list(reversed(edits)), 3, 3, seed=0)  # input order is irrelevant
    assert [e["edit_id"] for e in streams] != [e["edit_id"] for e in assign_streams(edits, 3, 3, seed=1)]
    short = assign_streams(edits[:7], n_streams=3, stream_length=5, seed=0)
    assert [sum(e["stream"] == s for e in short) for s in range(3)] == [3, 2, 2]


def test_bad_config_and_missing_split_are_user_errors(tiny_model):
    with pytest.raises(UserError, match="n_streams"):
        read_section({"sample_edits": {"n_streams": 0}}, EditSetConfig)
    with pytest.raises(UserError, match="n_stream: unknown key"):
        read_section({"sample_edits": {"n_stream": 2}}, EditSetConfig)
    rows = [r for r in toy_rows() if r["split"] != "val"]
    with pytest.raises(UserError, match="'val'"):
        sample_edit_set(rows, predictor(tiny_model), BIG)


# --- the two stages end to end, as DVC runs them -----------------------------------

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]


def write_project(root, encoder_dir) -> None:
    """A project folder: params.yaml and data/raw/toy in the contract's layout."""
    import yaml
    from mpn.core.io import write_json, write_jsonl
    rows = toy_rows()
    for split in ("train", "val", "edit", "test"):
        write_jsonl(root / "data/raw/toy" / f"{split}.jsonl", [r for r in rows if r["split"] == split])
    write_json(root / "data/raw/toy/meta.json", {"task": "toy", "labels": LABELS, "text_fields": ["claim"],
                                                 "languages": ["en", "de", "fr"], "counts": {}})
    params = {"tasks": ["toy"],
              "finetune": {"model": str(encoder_dir), "max_length": 32, "batch_size": 8,
                           "learning_rate": 1.0e-3, "epochs": 1, "num_threads": 0, "device": "cpu"},
              "sample_edits": {"n_streams": 2, "stream_length": 5, "n_locality": 4, "n_memory": 6,
                               "n_memory_val": 3}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def run_stage(monkeypatch, capsys, script, *args) -> tuple[int, str]:
    """Run a stage script in this process (a subprocess would spend seconds importing
    torch), as `python stages/<script> <args>` from the project folder: (exit code, stderr)."""
    import runpy
    monkeypatch.syspath_prepend(str(REPO / "stages"))
    argv = stage_argv(script, *args)
    monkeypatch.setattr("sys.argv", argv)
    code = 0
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def test_stages_write_the_contract_files(tmp_path, monkeypatch, capsys):
    corpus = [r["claim"] for r in toy_rows()]
    encoder_dir = make_tiny_encoder(tmp_path / "encoder", corpus)
    write_project(tmp_path, encoder_dir)
    monkeypatch.chdir(tmp_path)

    code, err = run_stage(monkeypatch, capsys, "finetune.py", "nope")
    assert code == 2
    assert err.strip().splitlines()[-1] == "error: task 'nope' is not in params.yaml tasks; allowed: toy"
    assert not (tmp_path / "models").exists() and not (tmp_path / "reports").exists()

    code, err = run_stage(monkeypatch, capsys, "finetune.py", "toy")
    assert code == 0, err
    report = json.loads((tmp_path / "reports/tasks/toy/base.json").read_text())
    assert report["task"] == "toy" and set(report["test"]["accuracy_by_lang"]) == {"en", "de", "fr"}
    assert (tmp_path / "reports/tasks/toy/train_curve.csv").read_text().startswith("step,loss,val_accuracy\n")
    assert (tmp_path / "models/toy/config.json").exists()

    code, err = run_stage(monkeypatch, capsys, "sample_edits.py", "toy")
    assert code == 0, err
    out = tmp_path / "data/edits/toy"
    stats = json.loads((out / "stats.json").read_text())
    edits = [json.loads(line) for line in (out / "edits.jsonl").read_text().splitlines()]
    assert stats["n_edits"] == len(edits) == sum(stats["edits_per_stream"]) <= 10
    assert (stats["n_memory"], stats["n_memory_val"]) == (6, 3)
    for name in ("locality", "memory", "memory_val"):
        rows = [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        assert rows and all(list(r) == ["group", "lang", "input", "label"] for r in rows)
