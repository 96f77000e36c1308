"""The whole DVC pipeline, end to end, on a shrunken configuration.

The project's tracked files are copied into a fresh git repository under tmp_path; its
params.yaml is shrunk (120 xfacts claims in 4 languages, a tiny encoder instead of
e5-small, a handful of edits and steps) and `dvc repro` runs every stage for real. Then:
every stage's outputs carry the keys the next stage and the user rely on; a second
`dvc repro` runs nothing; `dvc exp run -S hparams.patcher.max_steps=...` reruns exactly the
stages that read the param, shows in `dvc params diff`, and the new value reaches the
editor.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mpn.editing.features import FeatureStore, as_text, edit_texts
from mpn.core.io import read_json, read_jsonl
from mpn.experiment.summary import HEADLINE, headline
from tiny import make_tiny_encoder
from stage_argv import stage_argv

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent          # the venv's python and dvc
# Stage outputs and local state: never copied from the working tree.
NOT_COPIED = ("data/", "models/", "reports/", "dvc_plots/", ".venv", "dvc.lock")
LANGUAGES = ["en", "de", "es", "fr"]
HELDOUT = ["fr"]
METHODS = ["patcher", "mpn"]
MAX_EDITS = 6
STAGES = {"download", "translate@xfacts", "finetune@xfacts", "sample_edits@xfacts", "features@xfacts",
          "hparams@patcher", "hparams@mpn", "edit@xfacts-patcher", "edit@xfacts-mpn", "aggregate"}
RATE_KEYS = {"mean", "low", "high"}
METRIC_KEYS = {"es", "mg", "mg_pre", "mg_lift", "clg", "clg_pre", "clg_lift", "clg_by_lang",
               "clg_by_lang_pre", "clg_by_lang_lift", "clg_heldout", "clg_heldout_pre", "clg_heldout_lift",
               "clg_heldout_by_lang", "clg_seen", "locality", "locality_agreement", "locality_by_lang",
               "er", "n_edits", "n_edits_by_seed", "seeds", "patches"}
SEEDS = [0, 1]
FIGURES = {"clg_by_lang.png", "curves.png", "base_accuracy.png", "clg_heatmap.png"}


def shrink(params: dict, tiny_model: Path) -> dict:
    """params.yaml cut down to seconds per stage; every other knob keeps its default."""
    params["tasks"], params["methods"], params["seeds"] = ["xfacts"], METHODS, SEEDS
    params["data"]["xfacts"].update(languages=LANGUAGES, max_facts=120)
    # Only languages the raw data carries: nothing goes to a translation provider.
    params["translate"]["languages"] = [lang for lang in LANGUAGES if lang != "en"]
    params["finetune"].update(model=str(tiny_model), epochs=1, batch_size=16, num_threads=1,
                              device="cpu")
    params["sample_edits"].update(n_streams=2, stream_length=4, n_locality=20, n_memory=30,
                                  n_memory_val=10)
    params["edit"].update(max_edits=MAX_EDITS, n_bootstrap=50, eval_every=2, num_threads=1)
    params["hparams"]["patcher"]["max_steps"] = 300  # enough for some edits to succeed on the tiny model
    params["edit"]["heldout"]["languages"] = HELDOUT
    params["aggregate"]["n_bootstrap"] = 100  # the smallest the aggregate stage accepts
    return params


# --- helpers ----------------------------------------------------------------------

def project_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    return [f for f in listed if f and not f.startswith(NOT_COPIED) and (REPO / f).is_file()]


def copy_project(dest: Path) -> None:
    for name in project_files():
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)


def environment(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=str(tmp / "repo"),   # the copy's mpn, not the editable install's
               MPN_CACHE=str(tmp / "mpn-cache"), HOME=str(tmp / "home"),
               DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.com",
               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.com")
    return env


def run(cmd: list[str], repo: Path, env: dict[str, str]) -> str:
    result = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(cmd)} exited {result.returncode}:\n{output[-4000:]}"
    return output


def dvc(*args: str, repo: Path, env: dict[str, str]) -> str:
    return run([str(BIN / "dvc"), *args], repo, env)


def git_commit(message: str, repo: Path, env: dict[str, str]) -> None:
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", message], repo, env)


def claims(repo: Path) -> list[str]:
    return [row["claim"] for split in sorted((repo / "data/raw/xfacts").glob("*.jsonl"))
            for row in read_jsonl(split)]


def shrunk_project(tmp: Path, shrink_params) -> tuple[Path, dict[str, str]]:
    """A git copy of the project under `tmp` whose params.yaml `shrink_params` cut down
    (committed unshrunk first), after `dvc repro download`: (repo, env)."""
    repo, env = tmp / "repo", environment(tmp)
    (tmp / "home").mkdir()
    copy_project(repo)
    run(["git", "init", "-q"], repo, env)
    git_commit("project", repo, env)
    params_file = repo / "params.yaml"
    params_file.write_text(yaml.safe_dump(shrink_params(yaml.safe_load(params_file.read_text())), sort_keys=False))
    dvc("repro", "download", repo=repo, env=env)
    return repo, env


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> tuple[Path, dict[str, str], str]:
    """A copy of the project after one full `dvc repro`: (repo, env, repro output)."""
    tmp = tmp_path_factory.mktemp("pipeline")
    repo, env = shrunk_project(tmp, lambda params: shrink(params, tmp / "tiny-encoder"))
    # The tiny encoder's word-level vocabulary comes from the generated claims themselves.
    make_tiny_encoder(tmp / "tiny-encoder", claims(repo))
    output = dvc("repro", repo=repo, env=env)
    git_commit("shrunk pipeline run", repo, env)
    return repo, env, output


# --- tests ------------------------------------------------------------------------

def test_every_stage_writes_its_outputs(pipeline):
    repo, _, _ = pipeline
    meta = read_json(repo / "data/raw/xfacts/meta.json")
    assert meta["task"] == "xfacts" and meta["languages"] == LANGUAGES
    assert set(meta["counts"]) == {"train", "val", "edit", "test"}
    assert (repo / "data/translated/xfacts").is_dir()
    assert (repo / "models/xfacts/config.json").exists()

    base = read_json(repo / "reports/tasks/xfacts/base.json")
    assert set(base) >= {"task", "labels", "majority_baseline", "val", "test"}
    assert set(base["test"]["accuracy_by_lang"]) == set(LANGUAGES)

    edits = read_jsonl(repo / "data/edits/xfacts/edits.jsonl")
    assert len(edits) >= 2, "the tiny base model should make mistakes to edit"
    for edit in edits:
        assert set(edit) >= {"edit_id", "group", "stream", "input", "target", "rephrases",
                             "translations", "translated_rephrases"}
        assert set(edit["translations"]) <= set(LANGUAGES) - {"en"}
    features = FeatureStore.load(repo / "data/features/xfacts")
    assert set(features.view_texts) == {as_text(e["input"]) for e in edits}
    assert set(edit_texts(edits)) <= set(features.texts)


@pytest.mark.parametrize("method", METHODS)
def test_edit_stage_metrics(pipeline, method):
    repo, _, _ = pipeline
    metrics = read_json(repo / f"reports/tasks/xfacts/{method}/report.json")
    assert set(metrics) >= METRIC_KEYS
    assert all(1 <= n <= MAX_EDITS for n in metrics["n_edits_by_seed"]) and len(metrics["n_edits_by_seed"]) == 2
    assert metrics["patches"] == metrics["n_edits"] == sum(metrics["n_edits_by_seed"])
    assert set(metrics["es"]) >= RATE_KEYS and 0 <= metrics["es"]["mean"] <= 1
    assert set(metrics["clg_by_lang"]) <= set(LANGUAGES) - {"en"}
    assert set(metrics["locality_by_lang"]) == set(LANGUAGES)
    assert metrics["heldout_languages"] == HELDOUT and metrics["seeds"] == SEEDS
    assert "sec_per_edit" not in metrics  # timings vary run to run: they live in reports/timings/
    assert read_json(repo / f"reports/timings/xfacts/{method}.json")["sec_per_edit"] > 0
    for name in ("edits.csv", "curve.csv"):
        assert (repo / f"reports/tasks/xfacts/{method}/{name}").read_text().count("\n") >= 2
    # the headline for DVC's views: the report's means, intervals and counts
    assert read_json(repo / f"reports/tasks/xfacts/{method}/metrics.json") == headline(metrics)


def test_some_edits_succeed(pipeline):
    # The tiny random model is hard to edit; one success in either method shows the
    # patches train and reach the model that is measured.
    repo, _, _ = pipeline
    successes = [read_json(repo / f"reports/tasks/xfacts/{method}/metrics.json")["es"]
                 for method in METHODS]
    assert max(successes) > 0, f"no edit succeeded (es {successes})"


def test_aggregate_outputs(pipeline):
    repo, env, _ = pipeline
    summary = read_json(repo / "reports/summary.json")
    assert list(summary) == ["xfacts"] and list(summary["xfacts"]) == METHODS
    assert set(summary["xfacts"]["mpn"]) >= METRIC_KEYS
    markdown = (repo / "reports/summary.md").read_text()
    assert "## xfacts" in markdown and "| mpn |" in markdown and "| patcher |" in markdown
    figures = repo / "reports/figures/xfacts"
    assert {p.name for p in figures.iterdir()} >= FIGURES
    for name in FIGURES:
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_data = {p.relative_to(repo / "reports/plots").as_posix() for p in (repo / "reports/plots").rglob("*.csv")}
    assert plot_data >= {"clg_by_lang/xfacts.csv", "base_accuracy/xfacts.csv",
                         "curves/xfacts-patcher.csv", "curves/xfacts-mpn.csv"}
    shown = json.loads(dvc("metrics", "show", "--json", repo=repo, env=env))
    files = shown[""]["data"]
    assert set(files) == {"reports/tasks/xfacts/base_metrics.json", "reports/tasks/xfacts/patcher/metrics.json",
                          "reports/tasks/xfacts/mpn/metrics.json"}
    assert files["reports/tasks/xfacts/mpn/metrics.json"]["data"]["n_edits"] >= 1
    assert set(files["reports/tasks/xfacts/base_metrics.json"]["data"]) == {
        "accuracy_en", "accuracy_other_languages", "majority_baseline"}
    # DVC's tables leave the ci95 lists out; the file keeps them for the reports.
    assert set(files["reports/tasks/xfacts/mpn/metrics.json"]["data"]) == {*HEADLINE, "n_edits", "n_facts"}
    headline = read_json(repo / "reports/tasks/xfacts/mpn/metrics.json")
    assert set(headline["ci95"]) <= set(HEADLINE) and "es" in headline["ci95"]


def test_first_run_ran_every_stage(pipeline):
    _, _, output = pipeline
    for stage in STAGES - {"download"}:  # download ran on its own, before the tiny encoder
        assert f"Running stage '{stage}'" in output


def test_second_repro_runs_nothing(pipeline):
    repo, env, _ = pipeline
    metrics = repo / "reports/tasks/xfacts/mpn/metrics.json"
    before = metrics.stat().st_mtime_ns
    output = dvc("repro", repo=repo, env=env)
    assert "Running stage" not in output
    assert "Data and pipelines are up to date" in output
    assert metrics.stat().st_mtime_ns == before
    assert json.loads(dvc("status", "--json", repo=repo, env=env)) == {}


def test_experiment_with_a_changed_param_reruns_only_what_reads_it(pipeline):
    repo, env, _ = pipeline
    resolve = {"hparams@patcher", "hparams@mpn"}  # a second each; their files decide the rest
    try:
        output = dvc("exp", "run", "-S", "hparams.patcher.max_steps=20", repo=repo, env=env)
        ran = {stage for stage in STAGES if f"Running stage '{stage}'" in output}
        assert ran == resolve | {"edit@xfacts-patcher", "edit@xfacts-mpn", "aggregate"}  # both read `patcher`
        diff = json.loads(dvc("params", "diff", "--json", repo=repo, env=env))
        assert diff == {"params.yaml": {"hparams.patcher.max_steps": {"old": 300, "new": 20, "diff": -280}}}
        for method in METHODS:  # the new value reached the editor
            steps = [int(row["steps"]) for row in csv.DictReader(
                (repo / f"reports/tasks/xfacts/{method}/edits.csv").open())]
            assert steps and max(steps) <= 20
        assert "reports/tasks/xfacts/patcher/metrics.json" in dvc("metrics", "diff", repo=repo, env=env)
        run(["git", "checkout", "--", "."], repo, env)

        # an MPN-only knob leaves Transformer-Patcher's stage up to date
        output = dvc("exp", "run", "-S", "hparams.mpn.k_translations=1", repo=repo, env=env)
        ran = {stage for stage in STAGES if f"Running stage '{stage}'" in output}
        # (aggregate runs only if MPN's results changed: with this tiny pool, k=1 samples what k=4 did)
        assert ran - {"aggregate"} == resolve | {"edit@xfacts-mpn"}, output
    finally:  # back to the committed run for the other tests
        run(["git", "checkout", "--", "."], repo, env)
        dvc("checkout", repo=repo, env=env)  # data/hparams/*.json are DVC outs, not git files
    assert json.loads(dvc("status", "--json", repo=repo, env=env)) == {}


def test_killed_edit_stage_resumes_finished_streams_with_the_same_metrics(pipeline):
    """kill -9 once a stream is checkpointed; `dvc repro` then loads it instead of
    redoing it, and the metrics are those of the uninterrupted run, byte for byte."""
    repo, env, _ = pipeline
    metrics = repo / "reports/tasks/xfacts/mpn/report.json"
    straight = metrics.read_bytes()
    checkpoints = repo / "data/checkpoints/edit/xfacts-mpn"
    shutil.rmtree(checkpoints)
    for name in ("report.json", "metrics.json", "edits.csv", "curve.csv"):  # as if the stage's first run was killed
        (repo / "reports/tasks/xfacts/mpn" / name).unlink()
    proc = subprocess.Popen([sys.executable, *stage_argv("edit.py", "xfacts", "mpn", root=repo)], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(checkpoints.glob("seed*.json")) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the stage and its seed workers, as Ctrl-C on dvc would
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(list(checkpoints.glob("seed*.json")))
    total = len(SEEDS) * 2  # 2 streams per seed
    assert 1 <= done < total, f"{done} of {total} streams were checkpointed when the stage was killed"
    output = dvc("repro", "edit@xfacts-mpn", repo=repo, env=env)
    assert f"resumed: {done} of {total} streams loaded" in output
    assert metrics.read_bytes() == straight
    assert run(["git", "status", "--porcelain"], repo, env) == ""


def test_forced_rerun_gives_identical_files_and_a_clean_git_status(pipeline):
    """Same params, same machine: `dvc repro -f` rewrites every output byte for byte, so
    dvc.lock and every tracked file stay as committed (timings are not tracked)."""
    repo, env, _ = pipeline
    dvc("repro", "-f", repo=repo, env=env)
    status = run(["git", "status", "--porcelain"], repo, env)
    assert status == "", status
    assert json.loads(dvc("status", "--json", repo=repo, env=env)) == {}


def test_queued_experiments_run_with_two_workers(pipeline):
    """`dvc exp run --queue` twice, `dvc queue start -j 2`: both finish, each with its
    own params and metrics, and the workspace is untouched."""
    repo, env, _ = pipeline
    for steps in (20, 40):
        dvc("exp", "run", "--queue", "-S", f"hparams.patcher.max_steps={steps}", "-n", f"steps{steps}", repo=repo, env=env)
    dvc("queue", "start", "-j", "2", repo=repo, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = dvc("queue", "status", repo=repo, env=env)
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(2)
    dvc("queue", "stop", "--kill", repo=repo, env=env)
    assert status.count("Success") == 2, status
    shown = json.loads(dvc("exp", "show", "--json", repo=repo, env=env))
    revs = {exp["name"]: exp for commit in shown for exp in (commit.get("experiments") or [])
            for exp in exp["revs"] if exp["name"] in ("steps20", "steps40")}  # other tests make experiments too
    runs = {name: exp["data"] for name, exp in revs.items()}
    assert set(runs) == {"steps20", "steps40"}
    for name, data in runs.items():
        assert data["params"]["params.yaml"]["data"]["hparams"]["patcher"]["max_steps"] == int(name[5:])
        assert "es" in data["metrics"]["reports/tasks/xfacts/patcher/metrics.json"]["data"]
    assert run(["git", "status", "--porcelain"], repo, env) == ""

    # One table of both experiments (and the baseline): the param that differs, then
    # each one's own summary rates.
    out = run([sys.executable, "-m", "mpn.report.experiments", "--metrics", "es", "clg_heldout_lift"], repo, env)
    header, _, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in out.splitlines()]
    assert {"Experiment", "hparams.patcher.max_steps", "task", "method", "es", "clg_heldout_lift"} <= set(header)
    rows = [dict(zip(header, cells)) for cells in rows if cells[0] in runs]
    assert {(row["Experiment"], row["method"]) for row in rows} == {(n, m) for n in runs for m in METHODS}
    for row in rows:
        assert row["hparams.patcher.max_steps"] == row["Experiment"][5:] and row["task"] == "xfacts"
        committed = f"{revs[row['Experiment']]['rev']}:reports/tasks/xfacts/{row['method']}/metrics.json"
        headline = json.loads(run(["git", "show", committed], repo, env))
        assert row["es"] == f"{100 * headline['es']:.1f} [{100 * headline['ci95']['es'][0]:.1f}, " \
                            f"{100 * headline['ci95']['es'][1]:.1f}]", (row, headline)
    bad = subprocess.run([sys.executable, "-m", "mpn.report.experiments", "--metrics", "speed"], cwd=repo, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --metrics: 'speed' is not a rate"), bad.stderr


def test_a_second_clone_pulls_from_a_local_remote_and_reproduces_nothing(pipeline, tmp_path):
    """`dvc push` to a folder remote; a fresh git clone, `dvc pull`: every stage is up
    to date, so `dvc repro` runs none."""
    repo, env, _ = pipeline
    dvc("remote", "add", "-d", "shared", str(tmp_path / "remote"), repo=repo, env=env)
    git_commit("a local-folder remote", repo, env)
    dvc("push", repo=repo, env=env)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    clone_env = dict(env, PYTHONPATH=str(clone))
    dvc("pull", repo=clone, env=clone_env)
    assert json.loads(dvc("status", "--json", repo=clone, env=clone_env)) == {}
    output = dvc("repro", repo=clone, env=clone_env)
    assert "Running stage" not in output, output
    assert run(["git", "status", "--porcelain"], clone, clone_env) == ""
