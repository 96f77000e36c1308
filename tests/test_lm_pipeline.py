"""The pipeline on a completion task (xfacts-lm) with a tiny causal LM, end to end.

A copy of the project (as tests/test_pipeline.py makes one) with `tasks: [xfacts-lm]`, a
tiny random Gemma 3 saved as a local folder for `finetune.model`, and small sets; `dvc
repro` runs every stage. Then: the LM is saved as it was, base.json and every report
carry the classifiers' keys, no edit trained on a language held out for it, locality
comes with its KL, the summary shows the task, and a second `dvc repro` runs nothing.
"""
from __future__ import annotations

import csv
import json

import pytest

from mpn.core.io import read_json, read_jsonl
from test_pipeline import METRIC_KEYS, dvc, git_commit, shrunk_project
from tiny import make_tiny_lm, make_tiny_tokenizer

pytestmark = pytest.mark.slow

LANGUAGES = ["en", "de", "es", "fr"]
HELDOUT = ["fr"]
METHODS = ["patcher", "mpn"]
SEEDS = [0, 1]
# the stages after download (run first, for the tiny LM's vocabulary)
STAGES = {"translate@xfacts-lm", "finetune@xfacts-lm", "sample_edits@xfacts-lm", "features@xfacts-lm",
          "hparams@patcher", "hparams@mpn", "edit@xfacts-lm-patcher", "edit@xfacts-lm-mpn", "aggregate"}


def shrink(params: dict, tiny_lm) -> dict:
    params["tasks"], params["methods"], params["seeds"] = ["xfacts-lm"], METHODS, SEEDS
    params["data"]["xfacts-lm"] = {"languages": LANGUAGES}
    params["finetune"]["model"] = str(tiny_lm)
    params["lm"].update(n_eval_facts=4, stream_length=3, n_locality=4, n_memory=5)
    params["edit"].update(n_bootstrap=50, eval_every=2)
    params["edit"]["heldout"]["languages"] = HELDOUT
    params["aggregate"]["n_bootstrap"] = 100
    return params


def make_lm_folder(path, repo) -> None:
    """A tiny random Gemma 3 whose word-level vocabulary comes from the task's prompts and objects."""
    corpus = [row[key] for split in sorted((repo / "data/raw/xfacts-lm").glob("*.jsonl"))
              for row in read_jsonl(split) for key in ("prompt", "target", "new_target")]
    tokenizer = make_tiny_tokenizer(corpus)
    make_tiny_lm("gemma3", tokenizer.vocab_size).save_pretrained(path)
    tokenizer.save_pretrained(path)


@pytest.fixture(scope="module")
def lm_pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lm_pipeline")
    repo, env = shrunk_project(tmp, lambda params: shrink(params, tmp / "tiny-lm"))
    make_lm_folder(tmp / "tiny-lm", repo)
    output = dvc("repro", repo=repo, env=env)
    git_commit("shrunk pipeline run", repo, env)
    return repo, env, output


def test_every_stage_runs_and_the_lm_is_saved_as_it_was(lm_pipeline):
    repo, _, output = lm_pipeline
    assert {stage for stage in STAGES if f"Running stage '{stage}'" in output} == STAGES
    assert (repo / "models/xfacts-lm/config.json").exists()
    assert read_json(repo / "models/xfacts-lm/config.json")["architectures"] == ["Gemma3ForCausalLM"]
    base = read_json(repo / "reports/tasks/xfacts-lm/base.json")
    assert set(base["test"]["accuracy_by_lang"]) <= set(LANGUAGES) and "en" in base["test"]["accuracy_by_lang"]
    assert 0 <= base["majority_baseline"] <= 1 and base["test"]["n_facts"] == 4
    stats = read_json(repo / "data/edits/xfacts-lm/stats.json")
    assert stats["languages"][0] == "en" and stats["n_candidates"] > 0
    assert read_json(repo / "data/translated/xfacts-lm/summary.json")["translated"] == 0


@pytest.mark.parametrize("method", METHODS)
def test_each_edit_stage_reports_every_rate_and_keeps_held_out_languages_out(lm_pipeline, method):
    repo, _, _ = lm_pipeline
    report = read_json(repo / f"reports/tasks/xfacts-lm/{method}/report.json")
    assert set(report) >= METRIC_KEYS and report["seeds"] == SEEDS
    assert report["lm_method"] == method and report["heldout_languages"] == HELDOUT
    assert report["locality_kl"] >= 0 and set(report["locality_kl_by_lang"]) <= set(LANGUAGES)
    assert 1 <= report["n_edits"] <= 3 * len(SEEDS)
    with open(repo / f"reports/tasks/xfacts-lm/{method}/edits.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == report["n_edits"]
    for row in rows:
        trained, heldout = set(row["trained_languages"].split()), set(row["heldout_languages"].split())
        assert "fr" in heldout and not trained & heldout
        assert bool(trained) == (method == "mpn")


def test_the_summary_shows_the_task_and_a_second_repro_runs_nothing(lm_pipeline):
    repo, env, _ = lm_pipeline
    assert "## xfacts-lm" in (repo / "reports/summary.md").read_text()
    assert list(read_json(repo / "reports/summary.json")) == ["xfacts-lm"]
    assert "Running stage" not in dvc("repro", repo=repo, env=env)
    assert json.loads(dvc("status", "--json", repo=repo, env=env)) == {}
