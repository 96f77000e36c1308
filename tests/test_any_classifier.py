"""Editing Hugging Face sequence classifiers of four architectures, and the `mpn-edit`
command: tiny randomly initialised models built from configs (no download)."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from examples import TINY_CORPUS, THREE_LABELS as LABELS, other_label, write_jsonl
from mpn.model.anatomy import Anatomy
from mpn.cli import main
from mpn.data.task_data import TaskData
from mpn.data.store import raw_dir, stage_task
from mpn.editing.editor import Editor
from mpn.core.io import read_jsonl, replace_folder
from mpn.editing.methods import PatcherHParams
from mpn.model.classifier import predict_logits
from mpn.model.patch import merge
from mpn.model.portable import load_any, logits_without_mpn, save_edited
from mpn.core.schema import SPLITS, make_row
from tiny import make_tiny_hf_classifier
from stage_argv import stage_argv

ARCHITECTURES = ["bert", "xlm-roberta", "distilbert", "deberta-v2"]
EDIT = TINY_CORPUS[0]
MEMORY, VAL_MEMORY = TINY_CORPUS[2:], TINY_CORPUS[1:2]


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_one_edit_flips_the_prediction_and_both_engines_agree(arch, tokenizer):
    model = make_tiny_hf_classifier(arch, tokenizer, LABELS)
    assert Anatomy.of(model).labels == LABELS          # from config.id2label
    target = other_label(model, tokenizer, EDIT)
    hp = PatcherHParams(n_views=0, max_steps=30, patience=10**6, seed=1)
    trained = {}
    for engine in ("cached", "full"):
        editor = Editor(copy.deepcopy(model), tokenizer, "patcher", hp, engine=engine,
                        memory=MEMORY, val_memory=VAL_MEMORY)
        editor.edit(EDIT, target)
        trained[engine] = editor
    cached, full = trained["cached"], trained["full"]
    assert cached.engine.readout is None    # a pooler head: autograd on the cached FFN inputs
    for a, b in zip((cached.engine.patches.keys, cached.engine.patches.values),
                    (full.engine.patches.keys, full.engine.patches.values)):
        assert torch.allclose(a, b, atol=1e-3), (a - b).abs().max()
    # the cached engine's logits are the real (patched) model's
    texts = [EDIT] + MEMORY
    assert torch.allclose(cached.engine.predict(texts), predict_logits(cached.model, tokenizer, texts), atol=1e-5)

    editor = Editor(model, tokenizer, "patcher", PatcherHParams(max_steps=500), memory=MEMORY, val_memory=VAL_MEMORY)
    result = editor.edit(EDIT, target)
    assert result.success and editor.predict([EDIT]) == [target]
    assert predict_logits(model, tokenizer, [EDIT]).argmax(-1).item() == LABELS.index(target)


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_a_saved_edit_loads_with_transformers_alone(arch, tokenizer, tmp_path):
    model = make_tiny_hf_classifier(arch, tokenizer, LABELS)
    editor = Editor(model, tokenizer, "patcher", PatcherHParams(max_steps=500), memory=MEMORY, val_memory=VAL_MEMORY)
    for text in (EDIT, TINY_CORPUS[3]):
        editor.edit(text, other_label(model, tokenizer, text))
    folder = save_edited(editor, tokenizer, tmp_path / "edited")
    config = json.loads((folder / "config.json").read_text())
    assert config["mpn_extra_units"] == 2 and "AutoModelForSequenceClassification" in config["auto_map"]
    texts = TINY_CORPUS
    merged = predict_logits(merge(copy.deepcopy(editor.model)), tokenizer, texts)
    reloaded = logits_without_mpn(folder, texts)       # a subprocess where `import mpn` fails
    assert torch.allclose(reloaded, merged, atol=1e-6), (reloaded - merged).abs().max()
    expected = editor.engine.predict(texts)            # the edited model as the editor runs it
    assert torch.allclose(reloaded, expected, atol=1e-4), (reloaded - expected).abs().max()
    again, _ = load_any(str(folder))                    # and back into mpn, to edit further
    assert torch.allclose(predict_logits(again, tokenizer, texts), merged, atol=1e-6)


def test_a_method_whose_edits_live_outside_the_weights_is_not_saved(tokenizer, tmp_path):
    model = make_tiny_hf_classifier("bert", tokenizer, LABELS)
    editor = Editor(model, tokenizer, "grace", {}, memory=MEMORY)
    editor.edit(EDIT, other_label(model, tokenizer, EDIT))
    with pytest.raises(Exception, match="codebook"):
        save_edited(editor, tokenizer, tmp_path / "edited")
    assert not (tmp_path / "edited").exists()


def test_command_edits_saves_and_predicts(model_dir, tokenizer, tmp_path, capsys):
    folder, model = model_dir
    targets = [other_label(model, tokenizer, t) for t in TINY_CORPUS[:2]]
    requests = write_jsonl(tmp_path / "r.jsonl", [
        {"text": TINY_CORPUS[0], "target": targets[0], "translations": {"de": TINY_CORPUS[4]}},
        {"input": TINY_CORPUS[1], "target": targets[1]}])
    memory = write_jsonl(tmp_path / "m.jsonl", [{"text": t} for t in TINY_CORPUS[5:]])
    out = tmp_path / "edited"
    main(["edit", "--model", str(folder), "--requests", requests, "--method", "patcher", "--memory", memory,
          "--set", "max_steps=500", "--out", str(out)])
    printed = capsys.readouterr()
    assert "2/2 edits succeeded" in printed.err + printed.out and "reload check" in printed.err + printed.out
    main(["predict", "--model", str(out), "--texts", write_jsonl(tmp_path / "t.jsonl", [{"text": t} for t in TINY_CORPUS[:2]])])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["label"] for line in lines] == targets
    assert all(abs(sum(line["probabilities"].values()) - 1) < 1e-4 for line in lines)


@pytest.mark.parametrize("row, message", [
    ('{"text": "a man is playing a guitar", "target": "SUPPORTS"', "r.jsonl:2: malformed jsonl row"),
    ({"target": "SUPPORTS"}, "r.jsonl:2: no input: give text, premise and hypothesis, or input"),
    ({"text": "nobody is playing music", "target": "TRUE"},
     "r.jsonl:2: target 'TRUE' is not a label of the model; allowed: SUPPORTS, REFUTES, NOT ENOUGH INFO"),
    ({"text": "nobody is playing music"}, "r.jsonl:2: target missing is not a label"),
    ({"premise": "a man is playing a guitar", "target": "REFUTES"}, "r.jsonl:2: no input"),
    ({"text": "nobody is playing music", "target": "REFUTES", "translations": ["de"]}, "r.jsonl:2: translations must be an object"),
])
def test_a_bad_request_stops_before_any_edit(model_dir, tmp_path, capsys, row, message):
    folder, _ = model_dir
    requests = write_jsonl(tmp_path / "r.jsonl", [{"text": EDIT, "target": "REFUTES"}, row])
    out = tmp_path / "edited"
    with pytest.raises(SystemExit) as exit_:
        main(["edit", "--model", str(folder), "--requests", requests, "--out", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "edit 1/" not in err
    assert not out.exists()


def test_unknown_method_and_bad_set_are_one_line_errors(model_dir, tmp_path, capsys):
    folder, _ = model_dir
    requests = write_jsonl(tmp_path / "r.jsonl", [{"text": EDIT, "target": "REFUTES"}])
    for extra, message in [(["--method", "rome"], "unknown editing method 'rome'"),
                           (["--set", "max_stepz=3"], "max_stepz"), (["--set", "lr"], "expected NAME=VALUE")]:
        with pytest.raises(SystemExit):
            main(["edit", "--model", str(folder), "--requests", requests, "--out", str(tmp_path / "e"), *extra])
        assert message in capsys.readouterr().err


REPO = Path(__file__).resolve().parents[1]


def toy_task(root: Path, labels: list[str]) -> None:
    """data/raw/toy: the tiny corpus as claims in every split, English and German."""
    rows = [make_row(id=f"{split}-{i}-{lang}", group=f"{split}-{i}", lang=lang, variant="original", split=split,
                     label=labels[i % len(labels)], texts={"claim": text})
            for split in SPLITS for i, text in enumerate(TINY_CORPUS) for lang in ("en", "de")]
    data = TaskData("toy", "test", labels, ["claim"], ["en", "de"], rows)
    replace_folder(stage_task(data, root / "data" / "raw"), raw_dir("toy", root / "data"))


@pytest.mark.parametrize("model_labels, error", [
    (["supports", "Refutes", "not_enough_info"], None),   # matched by name, renamed to the task's
    (["ENTAILMENT", "NEUTRAL", "CONTRADICTION"], "do not match the task's"),
])
def test_finetune_stage_evaluates_a_fine_tuned_classifier_with_zero_epochs(tokenizer, tmp_path, model_labels, error):
    model = make_tiny_hf_classifier("distilbert", tokenizer, model_labels)
    model.save_pretrained(tmp_path / "classifier")
    tokenizer.save_pretrained(tmp_path / "classifier")
    toy_task(tmp_path, LABELS)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["tasks"] = ["toy"]
    params["finetune"].update(model=str(tmp_path / "classifier"), epochs=0, max_length=16)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run = subprocess.run([sys.executable, *stage_argv("finetune.py", "toy")], cwd=tmp_path,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    if error:
        assert run.returncode == 2 and error in run.stderr and "ENTAILMENT, NEUTRAL, CONTRADICTION" in run.stderr
        assert not (tmp_path / "models").exists()
        return
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((tmp_path / "reports" / "tasks" / "toy" / "base.json").read_text())
    loaded, _ = load_any(str(tmp_path / "models" / "toy"))
    assert Anatomy.of(loaded).labels == LABELS
    texts = [r["claim"] for r in read_jsonl(tmp_path / "data" / "raw" / "toy" / "test.jsonl") if r["lang"] == "en"]
    gold = [r["label"] for r in read_jsonl(tmp_path / "data" / "raw" / "toy" / "test.jsonl") if r["lang"] == "en"]
    predicted = [LABELS[i] for i in predict_logits(model, tokenizer, texts, max_length=16).argmax(-1).tolist()]
    accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    assert report["test"]["accuracy_by_lang"]["en"] == pytest.approx(accuracy)
