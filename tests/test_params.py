"""Bad params: every stage says so in one line (key, value, what is allowed), exits 2,
prints no traceback and writes nothing, before it loads any model or data.

Each row breaks one knob of the repository's own params.yaml and runs the stage that
reads it in an otherwise empty project folder: the first row of each stage script as DVC
would, in its own process; the others in this one (the same script, its module code run
afresh by runpy), since a stage process spends seconds importing torch and transformers
before it reads its params.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from stage_argv import stage_argv

REPO = Path(__file__).resolve().parents[1]

BAD = [  # (stage args, section.key, bad value, what the error line must say)
    (["hparams.py", "sgd"], "methods", ["patcher"], "method 'sgd' is not in params.yaml methods; allowed: patcher"),
    (["hparams.py", "grace"], "hparams.grace", [1], "hparams.grace: expected a mapping of keys to values, got [1]"),
    (["hparams.py", "patcher"], "hparams.patcher.lr", "fast", "hparams.patcher.lr = 'fast'; allowed: a number >= 0"),
    (["hparams.py", "patcher"], "hparams.patcher.max_steps", -5, "hparams.patcher.max_steps = -5; allowed: an integer >= 1"),
    (["hparams.py", "patcher"], "hparams.patcher.n_views", 1.5, "hparams.patcher.n_views = 1.5; allowed: an integer >= 0"),
    (["hparams.py", "patcher"], "hparams.patcher.stop_on", "all", "allowed: one of batch, english"),
    (["hparams.py", "patcher"], "hparams.patcher.value_norm_max", 0, "allowed: a number > 0 or null"),
    (["hparams.py", "patcher"], "hparams.patcher.min_delta", 2, "hparams.patcher.min_delta = 2; allowed: a number >= 0 and <= 1"),
    (["hparams.py", "patcher"], "hparams.patcher.lr_factor", 0, "hparams.patcher.lr_factor = 0; allowed: a number > 0 and <= 1"),
    (["hparams.py", "patcher"], "hparams.patcher.learning_rate", 0.1, "hparams.patcher.learning_rate: unknown key; allowed: act_coef"),
    (["hparams.py", "mpn"], "hparams.mpn.k_translations", -1, "hparams.mpn.k_translations = -1; allowed: an integer >= 0"),
    (["edit.py", "xfacts", "mpn"], "edit.heldout.languages", ["xx"], "edit.heldout.languages: 'xx' is not a language of task xfacts; allowed: de, es"),
    (["edit.py", "xfacts", "patcher"], "edit.heldout.languages", "ja", "edit.heldout.languages = 'ja'; allowed: a list of strings"),
    (["edit.py", "xfacts", "mpn"], "edit.heldout.by_task", {"xfacts": ["ur"]}, "edit.heldout.by_task.xfacts: 'ur' is not a language of task xfacts"),
    (["edit.py", "xfacts", "mpn"], "edit.heldout.by_task", {"xnli": "ur"}, "edit.heldout.by_task.xnli = 'ur'; allowed: a list of language codes"),
    (["hparams.py", "mpn-tuned"], "presets.mpn-tuned.set.act_coef", -1, "presets.mpn-tuned.set.act_coef = -1; allowed: a number >= 0"),
    (["hparams.py", "patcher"], "presets.patcher-tuned.set.act_coef", 50.0, "presets.mpn-tuned.baseline = 'patcher-tuned': its set is"),
    (["hparams.py", "mpn-tuned"], "presets.mpn-tuned.method", "sgd", "presets.mpn-tuned.method = 'sgd'; allowed: patcher"),
    (["hparams.py", "mpn-tuned"], "presets.mpn-tuned.sets", {}, "presets.mpn-tuned.sets: unknown key; allowed: baseline, method, set"),
    (["translate.py", "xfacts"], "translate.tasks", {"fever": {"languages": ["pt"], "provider": "babel"}}, "unknown translation provider 'babel' in translate.tasks.fever.provider"),
    (["edit.py", "xfacts", "mpn"], "edit.heldout.fraction", 1.5, "edit.heldout.fraction = 1.5; allowed: a number >= 0 and <= 1"),
    (["edit.py", "xfacts", "mpn"], "hparams.mpn.pool_languages", ["en"], "hparams.mpn.pool_languages: 'en' is not a language of task xfacts"),
    (["edit.py", "xfacts", "mpn"], "edit.eval_evry", 5, "edit.eval_evry: unknown key; allowed: device, engine, eval_every"),
    (["edit.py", "xfacts", "mpn"], "edit.engine", "gpu", "edit.engine = 'gpu'; allowed: one of cached, full"),
    (["edit.py", "xfacts", "mpn"], "edit.n_bootstrap", 0, "edit.n_bootstrap = 0; allowed: an integer >= 1"),
    (["edit.py", "xfacts", "mpn"], "edit.device", "tpu", "edit.device = 'tpu': unknown device; allowed: auto, cpu"),
    (["hparams.py", "ft"], "hparams.ft.norm_bound", 0, "hparams.ft.norm_bound = 0; allowed: a number > 0"),
    (["hparams.py", "grace+mpn"], "hparams.grace.radius", -1, "hparams.grace.radius = -1; allowed: a number > 0"),
    (["hparams.py", "grace+mpn"], "hparams.mpn.k_translations", "two", "hparams.mpn.k_translations = 'two'; allowed: an integer >= 0"),
    (["edit.py", "xfacts", "mpn"], "seeds", [0, 0], "seeds = [0, 0]; must be a non-empty list of distinct integers >= 0"),
    (["download.py"], "data.split_ratios", {"train": 0.9, "val": 0.2, "edit": 0.2, "test": 0.2},
     "sums to 1.5; the ratios must sum to 1"),
    (["translate.py", "xfacts"], "translate.timeout_s", None, "translate.timeout_s must be a number > 0, got None"),
    (["finetune.py", "xfacts"], "finetune.epochs", -1, "finetune.epochs"),
    (["sample_edits.py", "xfacts"], "sample_edits.n_streams", 0, "sample_edits.n_streams = 0; allowed: an integer >= 1"),
    (["aggregate.py"], "aggregate.dpi", "high", "aggregate.dpi = 'high'; allowed: an integer >= 50 and <= 600"),
]


def broken_params(key: str, value) -> dict:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    *sections, name = key.split(".")
    where = params
    for section in sections:  # hparams.patcher.lr: two levels down
        where = where.setdefault(section, {})
    where[name] = value
    return params


FIRST_ROW_OF_SCRIPT = {}  # stage script -> the row run in its own process
for row in BAD:
    FIRST_ROW_OF_SCRIPT.setdefault(row[0][0], row)


def run_stage(args: list[str], folder: Path, own_process: bool, monkeypatch, capsys) -> tuple[int, str]:
    """Stage script `args[0]` with its arguments, in `folder`: (exit code, stdout + stderr)."""
    script, *rest = stage_argv(*args)
    if own_process:
        proc = subprocess.run([sys.executable, script, *rest], cwd=folder, capture_output=True, text=True,
                              timeout=120)
        return proc.returncode, proc.stdout + proc.stderr
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "argv", [script, *rest])
    capsys.readouterr()
    try:
        runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("args, key, value, message", BAD, ids=[row[1] for row in BAD])
def test_bad_param_is_one_line_exit_2_and_nothing_written(tmp_path, args, key, value, message, monkeypatch,
                                                          capsys, caplog):
    own_process = FIRST_ROW_OF_SCRIPT[args[0]] == (args, key, value, message)
    params = broken_params(key, value)
    method = {"edit.py": args[-1], "hparams.py": args[-1]}.get(args[0])
    if method and key != "methods" and method not in params["methods"]:
        params["methods"] = params["methods"] + [method]  # a method the default run does not list
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    stats = tmp_path / "data" / "edits" / "xfacts" / "stats.json"  # what sample_edits found
    stats.parent.mkdir(parents=True)
    stats.write_text(json.dumps({"languages": ["en", "de", "es"]}))
    if args[0] == "edit.py":  # what stage hparams@<method> writes for it (those params are valid)
        code, output = run_stage(["hparams.py", method], tmp_path, own_process, monkeypatch, capsys)
        assert code == 0, output
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    caplog.clear()
    code, output = run_stage(args, tmp_path, own_process, monkeypatch, capsys)
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    lines += [record.getMessage() for record in caplog.records]  # in this process, logs go to caplog
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert message in lines[0]
    assert "Traceback" not in output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def plain(value):
    """A default as YAML writes it: tuples as lists, paths as strings."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return str(value) if isinstance(value, Path) else value


def code_defaults() -> dict[str, dict]:
    """Every params.yaml section as the code's defaults see it (the library's behaviour
    when a caller passes nothing)."""
    from mpn import data as tasks
    from mpn.data.settings import DataConfig
    from mpn.editing.lm_methods import LM_METHODS, LMAugmentHParams
    from mpn.editing.methods import base_name, hparams_class
    from mpn.experiment.edit_sets import EditSetConfig
    from mpn.experiment.lm_sets import LMTaskSettings
    from mpn.experiment.finetune import FinetuneParams
    from mpn.core.params import EditSettings, Pipeline
    from mpn.report.aggregate import AggregateParams
    from mpn.translate.settings import TranslateSettings
    sections = (DataConfig, TranslateSettings, FinetuneParams, EditSetConfig, EditSettings, LMTaskSettings,
                AggregateParams)
    out = {cls.SECTION: dataclasses.asdict(cls()) for cls in sections}
    out["top"] = dataclasses.asdict(Pipeline())
    for name in tasks.task_names():  # each task's own data.<task> section
        out[f"data.{name}"] = importlib.import_module(tasks.get_task(name).prepare.__module__).DEFAULTS
    for method in ("patcher", "ft", "grace"):
        out[f"hparams.{method}"] = dataclasses.asdict(hparams_class(base_name(method))())
    out["hparams.mpn"] = dataclasses.asdict(hparams_class("mpn")())
    for method in ("patcher", "ft", "grace"):
        out[f"lm.hparams.{method}"] = dataclasses.asdict(LM_METHODS[method].hparams())
    out["lm.hparams.mpn"] = dataclasses.asdict(LMAugmentHParams())
    return out


def test_code_defaults_equal_params_yaml():
    """One set of defaults: every value in params.yaml is also the code's default, so the
    library, the command line and the pipeline behave alike."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    defaults = code_defaults()
    yaml_sections = {"top": {k: params[k] for k in ("tasks", "methods", "seeds")}}
    for name, values in params.items():
        if name == "presets":  # named settings, not defaults: no code holds them
            continue
        if name == "hparams":
            yaml_sections.update({f"hparams.{m}": v for m, v in values.items()})
        elif name == "lm":
            yaml_sections["lm"] = {k: v for k, v in values.items() if k != "hparams"}
            yaml_sections.update({f"lm.hparams.{m}": v for m, v in values["hparams"].items()})
        elif name == "data":
            yaml_sections["data"] = {k: v for k, v in values.items() if not isinstance(v, dict) or k == "split_ratios"}
            yaml_sections.update({f"data.{t}": v for t, v in values.items() if isinstance(v, dict) and t != "split_ratios"})
        elif isinstance(values, dict):
            yaml_sections[name] = values
    differ = [f"{name}.{key}: params.yaml {value!r}, code {plain(defaults[name].get(key))!r}"
              for name, values in yaml_sections.items() for key, value in values.items()
              if plain(defaults[name].get(key)) != value]
    assert not differ, "\n".join(differ)
