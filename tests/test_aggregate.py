"""The aggregate stage on small report files in the edit stage's formats (made here)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from mpn.core.errors import UserError
from mpn.core.params import section as read_section
from mpn.report import aggregate
from mpn.report.aggregate import AggregateParams
from mpn.data.xfacts.facts import relation_of
from mpn.report.inputs import METRIC_KEYS, MethodReport, ReportLayout, TaskReport
from mpn.report.relations import relation_lifts
from mpn.report.tables import relation_table
from mpn.pipeline.commands import stage_paths
from stage_argv import stage_argv

REPO = Path(__file__).resolve().parents[1]
TASKS = ["xfacts", "xnli"]
METHODS = ["patcher", "mpn"]
LANGS = ["de", "es", "sw"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rate(mean, low, high, sd=0.0):
    return {"mean": mean, "low": low, "high": high, "sd": sd}


def with_controls(name: str, post: dict | None, pre_mean: float) -> dict:
    """`name`, `name_pre` and `name_lift` for a rate with a +-0.05 interval."""
    if post is None:
        return {name: None, f"{name}_pre": None, f"{name}_lift": None}
    lift = round(post["mean"] - pre_mean, 4)
    return {name: post, f"{name}_pre": rate(pre_mean, pre_mean - 0.05, pre_mean + 0.05),
            f"{name}_lift": rate(lift, lift - 0.05, lift + 0.05)}


def by_lang(values: dict) -> dict:
    return {lang: None if v is None else rate(v, v - 0.1, v + 0.1) for lang, v in values.items()}


def metrics_for(task: str, method: str) -> dict:
    """mpn beats patcher on CLG by 0.2; xnli has no rephrases (mg null), and xnli's
    held-out language sw has no measurable CLG for patcher. Every pre rate is 0.3 (CLG)."""
    gain = 0.2 if method == "mpn" else 0.0
    clg = {lang: round(0.4 + gain + 0.05 * i, 4) for i, lang in enumerate(LANGS)}
    if task == "xnli" and method == "patcher":
        clg["sw"] = None
    pre = {lang: 0.3 for lang in LANGS}
    lift = {lang: None if v is None else round(v - 0.3, 4) for lang, v in clg.items()}
    out = {"es": rate(1.0, 0.95, 1.0)}
    out.update(with_controls("mg", None if task == "xnli" else rate(0.7 + gain, 0.6 + gain, 0.8 + gain), 0.2))
    out.update(with_controls("clg", rate(0.45 + gain, 0.4 + gain, 0.5 + gain), 0.3))
    out.update(with_controls("clg_heldout", rate(0.5 + gain, 0.4 + gain, 0.6 + gain, 0.02), 0.3))
    out.update(with_controls("clg_paraphrase", rate(0.4 + gain, 0.3 + gain, 0.5 + gain), 0.3))
    out.update(clg_seen=rate(0.95, 0.9, 1.0) if method == "mpn" else None,
               clg_by_lang=by_lang(clg), clg_by_lang_pre=by_lang(pre), clg_by_lang_lift=by_lang(lift),
               clg_heldout_by_lang=by_lang({**{l: None for l in LANGS}, "sw": clg["sw"]}),
               clg_heldout_by_lang_pre=by_lang({**{l: None for l in LANGS}, "sw": 0.3}),
               clg_heldout_by_lang_lift=by_lang({**{l: None for l in LANGS}, "sw": lift["sw"]}),
               heldout_languages=["sw"], heldout_fraction=0.0,
               heldout_edits_by_lang={"de": 0, "es": 0, "sw": 10},
               locality=rate(0.987654321, 0.97, 1.0), locality_agreement=rate(0.95, 0.9, 1.0),
               locality_by_lang={"en": rate(0.99, 0.98, 1.0), "de": rate(0.98, 0.96, 1.0)},
               er=rate(0.9 + gain / 4, 0.85, 0.95 + gain / 4),
               er_by_lang=by_lang({lang: 0.5 + gain for lang in LANGS}),
               er_by_lang_after_edit=by_lang({lang: 0.6 + gain for lang in LANGS}),
               n_facts=10, n_edits=10, patches=10, seeds=[0], n_edits_by_seed=[10], steps_per_edit=50)
    return out


def timing_for(method: str) -> dict:
    return {"sec_per_edit": 0.1234 if method == "patcher" else 0.2345, "feature_pass_seconds": 9.5,
            "peak_memory_mb": 512.0}


def base_for(task: str) -> dict:
    by_lang = {"en": 0.9, "de": 0.8, "es": 0.8, "sw": 0.6}
    return {"task": task, "labels": ["SUPPORTS", "REFUTES"], "majority_baseline": 0.5,
            "val": {"accuracy": 0.9, "accuracy_by_lang": by_lang},
            "test": {"accuracy": 0.88, "accuracy_by_lang": by_lang,
                     "per_class": {"SUPPORTS": {"precision": 0.9, "recall": 0.9,
                                                "f1": 0.9, "support": 50}}}}


def edit_rows(method: str) -> list[dict]:
    """2 streams x 5 edits; clg right after each edit is 0.4 (patcher) or 0.6 (mpn), 0.3 before."""
    clg = 0.6 if method == "mpn" else 0.4
    return [{"seed": 0, "stream": s, "step": step, "group": f"g{s}{step}", "es": 1, "mg_pre": "",
             "mg": "", "clg_pre": 0.3, "clg": clg, "clg_heldout_pre": 0.3, "clg_heldout": clg + 0.1,
             "clg_paraphrase_pre": 0.3, "clg_paraphrase": clg - 0.1, "patches": step}
            for s in range(2) for step in range(1, 6)]


def curve_rows(method: str) -> list[dict]:
    """Stream 0 checked at 2 and 4 edits, stream 1 only at 2."""
    drop = 0.1 if method == "patcher" else 0.0
    return [{"seed": 0, "stream": 0, "n_edits": 2, "locality": 1.0, "agreement": 1.0, "er": 1.0},
            {"seed": 0, "stream": 0, "n_edits": 4, "locality": 0.9 - drop, "agreement": 0.95 - drop, "er": 0.8},
            {"seed": 0, "stream": 1, "n_edits": 2, "locality": 0.8, "agreement": 0.9, "er": 0.9}]


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_reports(root: Path, tasks=TASKS, methods=METHODS) -> None:
    """Every task's finetune and edit reports under `root` (the pipeline's reports/tasks)."""
    for task in tasks:
        (root / task).mkdir(parents=True, exist_ok=True)
        (root / task / "base.json").write_text(json.dumps(base_for(task)))
        for method in methods:
            out = root / task / method
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(metrics_for(task, method)))
            write_csv(out / "edits.csv", edit_rows(method))
            write_csv(out / "curve.csv", curve_rows(method))
            timing = root.parent / "timings" / task / f"{method}.json"
            timing.parent.mkdir(parents=True, exist_ok=True)
            timing.write_text(json.dumps(timing_for(method)))


def params(**aggregate_section) -> dict:
    return {"tasks": list(TASKS), "methods": list(METHODS),
            "aggregate": {"n_bootstrap": 200, "seed": 0, "decimals": 1, "dpi": 50,
                          **aggregate_section}}


def aggregate_in(params: dict, reports: Path):
    """The stage's layout: inputs in reports/tasks, outputs beside it in reports."""
    return aggregate(params, ReportLayout(reports / "tasks", reports / "timings"), reports)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("agg") / "reports"
    write_reports(root / "tasks")
    return aggregate_in(params(), root)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- summary.json ---------------------------------------------------------------------

def test_summary_json_has_every_task_method_and_metric_key(outputs):
    summary = json.loads(outputs.summary_json.read_text())
    assert list(summary) == TASKS
    for task in TASKS:
        assert list(summary[task]) == METHODS
        for method in METHODS:
            assert set(summary[task][method]) == set(METRIC_KEYS)


def test_paired_json_has_every_comparison_summary_md_shows(outputs):
    paired = json.loads(outputs.paired_json.read_text())
    assert list(paired) == TASKS and list(paired["xfacts"]) == ["mpn − patcher"]
    held_out = paired["xfacts"]["mpn − patcher"]["clg_heldout_lift"]
    assert held_out == {"n_pairs": 10, "n_facts": 10, "mean": 0.2, "low": 0.2, "high": 0.2, "sd": 0.0}


def test_summary_json_values_come_from_the_metrics_files(outputs):
    summary = json.loads(outputs.summary_json.read_text())
    mpn = summary["xfacts"]["mpn"]
    assert mpn["clg"] == {"mean": 0.65, "low": 0.6, "high": 0.7, "sd": 0.0}
    assert mpn["clg_by_lang"]["es"]["mean"] == 0.65
    assert mpn["locality"]["mean"] == 0.9877  # rounded for dvc metrics show
    assert mpn["heldout_languages"] == ["sw"]
    assert summary["xnli"]["patcher"]["mg"] is None
    assert summary["xnli"]["patcher"]["clg_by_lang"]["sw"] is None
    assert "sec_per_edit" not in summary["xfacts"]["patcher"]  # timings stay out of metrics


# --- summary.md -----------------------------------------------------------------------

def test_summary_md_main_table_shows_pre_post_lift_and_na(outputs):
    md = outputs.summary_md.read_text()
    xfacts = md[md.index("## xfacts"):md.index("## xnli")]
    assert "| Metric | patcher | mpn |" in xfacts
    assert "| ES | 100.0 [95.0, 100.0] | 100.0 [95.0, 100.0] |" in xfacts
    assert "| CLG unseen pre | 30.0 [25.0, 35.0] | 30.0 [25.0, 35.0] |" in xfacts
    assert "| CLG unseen post | 45.0 [40.0, 50.0] | 65.0 [60.0, 70.0] |" in xfacts
    assert "| CLG unseen lift | +15.0 [+10.0, +20.0] | +35.0 [+30.0, +40.0] |" in xfacts
    assert "| CLG held-out post | 50.0 [40.0, 60.0] ±2.0 | 70.0 [60.0, 80.0] ±2.0 |" in xfacts
    assert "| CLG seen (recall) | n/a | 95.0 [90.0, 100.0] |" in xfacts
    assert "| Locality agreement | 95.0 [90.0, 100.0] | 95.0 [90.0, 100.0] |" in xfacts
    assert "| Locality accuracy ratio | 98.8 [97.0, 100.0] | 98.8 [97.0, 100.0] |" in xfacts
    assert "| Edits per seed | 10 | 10 |" in xfacts
    xnli = md[md.index("## xnli"):]
    assert "| MG post | n/a | n/a |" in xnli
    for word in ("**ES**", "**MG**", "**CLG**", "**held-out**", "**seen**", "**pre**", "**lift**",
                 "**Locality**", "**ER**"):
        assert md.count(word) == 1, word  # each metric defined once


def test_summary_md_has_clg_per_language_with_heldout_marked(outputs):
    md = outputs.summary_md.read_text()
    xfacts = md[md.index("## xfacts"):md.index("## xnli")]
    assert "| Language | patcher | mpn |" in xfacts
    assert "| de | 30.0 → 40.0 (+10.0 [+0.0, +20.0]) | 30.0 → 60.0 (+30.0 [+20.0, +40.0]) |" in xfacts
    assert "| sw* | 10 | 30.0 → 50.0 (+20.0 [+10.0, +30.0]) | 30.0 → 70.0 (+40.0 [+30.0, +50.0]) |" in xfacts
    xnli = md[md.index("## xnli"):]
    assert "| sw* | 30.0 → n/a" not in xnli and "| sw* | n/a | 30.0 → 70.0" in xnli


def test_summary_md_pairs_methods_on_the_same_edits(outputs):
    md = outputs.summary_md.read_text()
    assert "each method minus the first, each X+mpn minus its X" in md
    # held-out and paraphrase lifts are 0.2 apart on all 10 shared edits; mg is blank in
    # both logs; locality agreement at the streams' ends: +10 (stream 0) and 0 (stream 1)
    assert ("| mpn − patcher | 10 (10) | +0.0 [+0.0, +0.0] | n/a | +20.0 [+20.0, +20.0] | +20.0 [+20.0, +20.0] "
            "| +5.0 [+0.0, +10.0] |") in md


def test_every_augmented_method_is_also_paired_with_its_own_base(tmp_path):
    methods = ["patcher", "mpn", "ft", "ft+mpn"]
    write_reports(tmp_path / "reports" / "tasks", tasks=["xfacts"], methods=methods)
    outputs = aggregate_in({**params(), "tasks": ["xfacts"], "methods": methods}, tmp_path / "reports")
    pairs = [line.split(" | ")[0][2:] for line in outputs.summary_md.read_text().splitlines() if " − " in line]
    assert pairs == ["mpn − patcher", "ft − patcher", "ft+mpn − patcher", "ft+mpn − ft"]


def test_timings_go_to_their_own_untracked_file(outputs):
    timings = (outputs.root / "timings.md").read_text()
    assert "| xfacts | patcher | 0.123 | 9.5 | 512 |" in timings
    assert "0.123" not in outputs.summary_md.read_text()


def test_summary_md_base_accuracy_per_language(outputs):
    md = outputs.summary_md.read_text()
    assert "Base model test accuracy 88.0% (majority baseline 50.0%)." in md
    assert "| sw | 60.0 | 60.0 |" in md


# --- figures and plot data ------------------------------------------------------------

@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", ["clg_by_lang.png", "curves.png", "base_accuracy.png",
                                  "clg_heatmap.png"])
def test_figures_are_valid_pngs(outputs, task, name):
    path = outputs.figures / task / name
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.05  # something was drawn, not a blank canvas


def test_clg_plot_data_has_a_row_per_language_and_method(outputs):
    rows = read_csv(outputs.plots / "clg_by_lang" / "xfacts.csv")
    assert list(rows[0]) == ["lang", "method", "clg", "low", "high", "pre"]
    assert [(r["lang"], r["method"]) for r in rows] == [
        (lang, method) for lang in LANGS for method in METHODS]
    assert rows[1] == {"lang": "de", "method": "mpn", "clg": "0.6", "low": "0.5",
                       "high": "0.7", "pre": "0.3"}
    # An unmeasured CLG (xnli, patcher, sw) is left out rather than drawn as 0.
    xnli = read_csv(outputs.plots / "clg_by_lang" / "xnli.csv")
    assert ("sw", "patcher") not in {(r["lang"], r["method"]) for r in xnli}
    assert len(xnli) == len(LANGS) * len(METHODS) - 1


def test_curve_plot_data_averages_every_stream_up_to_the_shortest(outputs):
    # stream 0 measured at 2 and 4 edits, stream 1 only at 2: a point at 4 would be
    # stream 0's alone, drawn on the same line as the mean of both
    rows = read_csv(outputs.plots / "curves" / "xfacts-patcher.csv")
    assert rows == [{"n_edits": "2", "agreement": "0.95", "er": "0.95", "locality": "0.9", "streams": "2"}]


def test_base_accuracy_plot_data(outputs):
    rows = read_csv(outputs.plots / "base_accuracy" / "xnli.csv")
    assert rows == [{"lang": "en", "accuracy": "0.9"}, {"lang": "de", "accuracy": "0.8"},
                    {"lang": "es", "accuracy": "0.8"}, {"lang": "sw", "accuracy": "0.6"}]


def test_outputs_are_deterministic_and_drop_stale_files(tmp_path, outputs):
    root = tmp_path / "reports"
    write_reports(root / "tasks")
    stale = root / "figures" / "old_task" / "clg_by_lang.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    again = aggregate_in(params(), root)
    assert not stale.exists()
    for path in (again.summary_json, again.summary_md,
                 again.plots / "curves" / "xnli-mpn.csv",
                 again.figures / "xfacts" / "clg_heatmap.png"):
        assert path.read_bytes() == (outputs.root / path.relative_to(root)).read_bytes()


def test_task_with_nothing_measured_still_aggregates(tmp_path):
    """No translations and no edit made (the base model was right on every edit example)."""
    write_reports(tmp_path / "tasks", tasks=["xfacts"])
    for method in METHODS:
        out = tmp_path / "tasks" / "xfacts" / method
        metrics = json.loads((out / "report.json").read_text())
        metrics.update(clg_by_lang={}, clg_by_lang_pre={}, clg_by_lang_lift={}, clg_heldout_by_lang={},
                       clg_heldout_by_lang_pre={}, clg_heldout_by_lang_lift={}, locality_by_lang={},
                       heldout_edits_by_lang={}, clg=None, clg_heldout=None)
        (out / "report.json").write_text(json.dumps(metrics))
        (out / "edits.csv").write_text(",".join(edit_rows(method)[0]) + "\n")
        (out / "curve.csv").write_text(",".join(curve_rows(method)[0]) + "\n")
    outputs = aggregate_in({**params(), "tasks": ["xfacts"]}, tmp_path)
    md = outputs.summary_md.read_text()
    assert "| mpn − patcher | 0 (0) | n/a | n/a | n/a | n/a | n/a |" in md
    assert "| CLG unseen post | n/a | n/a |" in md and "| MG post | 70.0 [60.0, 80.0] | 90.0 [80.0, 100.0] |" in md
    assert (outputs.figures / "xfacts" / "clg_heatmap.png").read_bytes()[:8] == PNG_SIGNATURE
    assert read_csv(outputs.plots / "clg_by_lang" / "xfacts.csv") == []


# --- bad input ------------------------------------------------------------------------

def test_missing_input_is_one_line_naming_path_and_stage(tmp_path):
    write_reports(tmp_path / "reports" / "tasks")
    (tmp_path / "reports" / "tasks" / "xnli" / "mpn" / "report.json").unlink()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params()))
    result = subprocess.run([sys.executable, *stage_argv("aggregate.py")],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: missing reports/tasks/xnli/mpn/report.json: it is made by stage "
        "edit@xnli-mpn (run `dvc repro edit@xnli-mpn`)")
    # Nothing written: the inputs are checked before the first output.
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["tasks", "timings"]  # the inputs
    assert sorted(p.name for p in (tmp_path / "reports" / "tasks").iterdir()) == TASKS


def test_missing_base_report_names_the_finetune_stage(tmp_path):
    write_reports(tmp_path / "tasks")
    (tmp_path / "tasks" / "xfacts" / "base.json").unlink()
    with pytest.raises(UserError, match=r"missing .*/tasks/xfacts/base\.json: it is made by "
                                        r"stage finetune@xfacts"):
        aggregate_in(params(), tmp_path)


def test_missing_metric_key_is_named(tmp_path):
    write_reports(tmp_path / "tasks")
    path = tmp_path / "tasks" / "xfacts" / "mpn" / "report.json"
    metrics = json.loads(path.read_text())
    del metrics["clg_heldout"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(UserError, match=r"mpn/report\.json: missing keys \['clg_heldout'\]"):
        aggregate_in(params(), tmp_path)


def test_bad_csv_cell_names_file_and_line(tmp_path):
    write_reports(tmp_path / "tasks")
    path = tmp_path / "tasks" / "xfacts" / "patcher" / "curve.csv"
    path.write_text("seed,stream,n_edits,locality,agreement,er\n0,0,2,1.0,1.0,1.0\n0,0,4,high,0.9,0.8\n")
    with pytest.raises(UserError, match=r"curve\.csv:3: column locality value 'high' "
                                        r"is not a number"):
        aggregate_in(params(), tmp_path)


@pytest.mark.parametrize("section, message", [
    ({"dpi": "high"}, r"aggregate\.dpi = 'high'; allowed: an integer >= 50 and <= 600"),
    ({"decimals": 9}, r"aggregate\.decimals = 9; allowed: an integer >= 0 and <= 4"),
    ({"colour": 1}, r"aggregate\.colour: unknown key; allowed: decimals, dpi, n_bootstrap, seed"),
])
def test_bad_aggregate_params(section, message):
    with pytest.raises(UserError, match=message):
        read_section({"aggregate": {**params()["aggregate"], **section}}, AggregateParams)


@pytest.mark.parametrize("tasks", ["xfacts", [], ["../etc"], ["xfacts", "xfacts"]])
def test_bad_task_list(tmp_path, tasks):
    with pytest.raises(UserError, match=r"params tasks: |^tasks = 'xfacts'; allowed: a list of strings"):
        aggregate_in({**params(), "tasks": tasks}, tmp_path)


# --- the pipeline wiring --------------------------------------------------------------

def out_paths(entries: list) -> set[str]:
    return {next(iter(e)) if isinstance(e, dict) else e for e in entries}


def test_every_per_task_report_is_under_the_aggregate_dep_folder():
    """aggregate depends on reports/tasks, whatever params `tasks` holds: every report
    of finetune@<task> and edit@<task>-<method> must lie in it, and nothing aggregate
    writes may."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    aggregate_paths = stage_paths("aggregate", dvc_yaml=REPO / "dvc.yaml")
    assert aggregate_paths["tasks"].as_posix() in stages["aggregate"]["deps"]
    item = {"task": "${item.task}", "method": "${item.method}"}
    edit_paths = stage_paths("edit", item, REPO / "dvc.yaml")
    layout = ReportLayout(aggregate_paths["tasks"], aggregate_paths["timings"])
    assert edit_paths["timings"] == layout.timing(item["task"], item["method"])  # where aggregate reads them
    assert edit_paths["out"] / "report.json" == layout.report(item["task"], item["method"]).path
    for name in ("finetune", "edit"):
        reports = set().union(*(out_paths(stages[name].get(k, []))
                                for k in ("outs", "metrics", "plots")))
        reports = {p for p in reports if p.startswith("reports")}
        assert reports, f"{name} declares no reports"
        assert all(p.startswith("reports/tasks/${item.task}/") for p in reports), reports
    aggregate_outs = out_paths(stages["aggregate"]["outs"] + stages["aggregate"].get("metrics", []))
    assert not [p for p in aggregate_outs if p.startswith("reports/tasks")]


def test_dvc_yaml_declares_outputs_and_plots_of_aggregate():
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    repo_params = yaml.safe_load((REPO / "params.yaml").read_text())
    stage = dvc_yaml["stages"]["aggregate"]
    outs = out_paths(stage["outs"])
    assert outs == {"reports/summary.md", "reports/figures", "reports/plots", "reports/summary.json",
                    "reports/paired.json"}
    assert "metrics" not in stage  # DVC's views list the edit stages' headline files instead
    plot_ids = out_paths(dvc_yaml["plots"])
    assert plot_ids == {"reports/plots/clg_by_lang", "reports/plots/base_accuracy",
                        "reports/plots/curves", "reports/figures"}
    read_section(repo_params, AggregateParams)  # the repo's params are valid


def test_held_out_lift_per_relation_counts_each_relations_own_facts():
    def rows(lift_by_relation):
        return [{"seed": seed, "group": f"xfacts-{relation}-Fact{i}", "clg_heldout_pre": 0.25,
                 "clg_heldout": 0.25 + lift + (0.1 if i == 0 else 0.0)}  # one fact of each is off the mean
                for seed in (0, 1) for relation, lift in lift_by_relation.items() for i in range(4)]
    patcher = MethodReport("patcher", {}, rows({"currency": 0.2, "city": 0.4}) + [
        {"seed": 0, "group": "xfacts-city-NoHeldOut", "clg_heldout_pre": None, "clg_heldout": None},
        {"seed": 0, "group": "fever-123", "clg_heldout_pre": 0.0, "clg_heldout": 1.0}], [])
    mpn = MethodReport("mpn", {}, rows({"currency": 0.5, "city": 0.5}), [])
    report = TaskReport("xfacts", {}, {"patcher": patcher, "mpn": mpn})
    relations = relation_lifts(report, relation_of, 200, 0)
    assert list(relations) == ["city", "currency"]  # fever-123 names no relation
    assert relations["currency"]["patcher"]["lift"]["mean"] == 0.225 and relations["city"]["mpn"]["n_facts"] == 4
    lift = relations["currency"]["mpn"]["lift"]
    assert lift["low"] < 0.525 < lift["high"] and lift["sd"] == 0.0  # facts vary, seeds agree
    assert relation_of("xfacts-city_continent-America.Menominee-142") == "city_continent"
    assert relation_of("fever-123") is None and relation_lifts(report, None, 200, 0) == {}
    table = relation_table(relations, ["patcher", "mpn"], 1)
    assert "| currency | 4 | 25.0 → 47.5 (+22.5 [" in table
