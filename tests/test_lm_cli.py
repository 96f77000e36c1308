"""`mpn-edit edit` on causal LMs: the four tiny architectures edited through the command
line, saved, reloaded with transformers alone; a bad request is file:line, exit 2, and
nothing is written."""
import json

import pytest
from tiny import LM_KINDS, make_tiny_lm, make_tiny_lm_tokenizer

from mpn.cli import main

CORPUS = ["the currency of japan is the yen", "die währung von japan ist der yen",
          "la moneda de japón es el yen", "la monnaie du japon est le yen", "euro",
          "paris is a city in france", "a man is playing a guitar"]
REQUEST = {"prompt": "the currency of japan is the", "target": " euro",
           "translations": {"de": {"prompt": "die währung von japan ist der", "target": " euro"},
                            "es": {"prompt": "la moneda de japón es el", "target": " euro"},
                            "fr": {"prompt": "la monnaie du japon est le", "target": " euro"}}}


def write_lines(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture()
def lm_folder(request, tmp_path):
    tokenizer = make_tiny_lm_tokenizer(request.param, CORPUS)
    folder = tmp_path / request.param
    make_tiny_lm(request.param, len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("lm_folder", LM_KINDS, indirect=True)
def test_the_command_line_edits_a_causal_lm_and_the_folder_reloads_without_mpn(lm_folder, tmp_path, capsys):
    requests = write_lines(tmp_path / "requests.jsonl", [REQUEST])
    memory = write_lines(tmp_path / "memory.jsonl", [{"text": "paris is a city in france"}])
    unrelated = write_lines(tmp_path / "unrelated.jsonl", [{"text": "a man is playing a"}, {"text": "paris is a"}])
    out = tmp_path / "edited"
    main(["edit", "--model", str(lm_folder), "--requests", requests, "--method", "mpn", "--memory", memory,
          "--unrelated", unrelated, "--check-languages", "fr", "--set", "k_translations=1", "--out", str(out)])
    printed = capsys.readouterr().out
    difference = float(printed.split("to within ")[1].split(";")[0])
    assert difference < 1e-4 and "greedy tokens equal" in printed
    report = json.loads((out / "edit_report.json").read_text())
    edit = report["edits"][0]
    assert report["held_out"] == ["fr"] and not edit["languages"]["fr"]["trained"]
    assert edit["trained_languages"][0] == "en" and set(edit["trained_languages"][1:]) <= {"de", "es"}
    assert edit["languages"]["en"]["after"]["right"] == edit["success"]
    assert report["unrelated"]["prompts"] == 2
    card = (out / "README.md").read_text()
    assert "AutoModelForCausalLM.from_pretrained" in card and "pipeline_tag: text-generation" in card
    assert json.loads((out / "config.json").read_text())["mpn_extra_units"] == 1


@pytest.mark.parametrize("lm_folder", ["llama"], indirect=True)
def test_a_bad_request_line_is_one_error_and_nothing_is_written(lm_folder, tmp_path, capsys):
    bad = write_lines(tmp_path / "bad.jsonl", [REQUEST, {"prompt": "paris is a", "target": ""}])
    out = tmp_path / "edited"
    with pytest.raises(SystemExit) as exit_info:
        main(["edit", "--model", str(lm_folder), "--requests", bad, "--out", str(out)])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_info.value.code == 2 and error.startswith(f"error: {bad}:2: expected")
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["edit", "--model", str(lm_folder), "--requests", write_lines(tmp_path / "ok.jsonl", [REQUEST]),
              "--method", "rome", "--out", str(out)])
    assert "not a method for causal LMs; allowed: patcher, mpn, ft, ft+mpn" in capsys.readouterr().err
    with pytest.raises(SystemExit):   # GRACE edits, but nothing could hold them: refused before the model loads
        main(["edit", "--model", str(lm_folder), "--requests", write_lines(tmp_path / "ok.jsonl", [REQUEST]),
              "--method", "grace", "--out", str(out)])
    assert "GRACE's codebook" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("lm_folder", LM_KINDS, indirect=True)
def test_ft_l_through_the_command_line_saves_its_change_in_the_output_projection(lm_folder, tmp_path, capsys):
    """`--method ft+mpn`: the edits' change merged into the MLP's output projection (no
    unit added), the folder reloaded with transformers alone."""
    requests = write_lines(tmp_path / "requests.jsonl", [REQUEST])
    out = tmp_path / "edited"
    main(["edit", "--model", str(lm_folder), "--requests", requests, "--method", "ft+mpn",
          "--check-languages", "fr", "--set", "k_translations=1", "norm_bound=1", "lr=0.01", "--out", str(out)])
    printed = capsys.readouterr().out
    assert float(printed.split("to within ")[1].split(";")[0]) < 1e-4 and "greedy tokens equal" in printed
    edit = json.loads((out / "edit_report.json").read_text())["edits"][0]
    assert edit["success"] and edit["languages"]["en"]["after"]["right"] and not edit["languages"]["fr"]["trained"]
    config = json.loads((out / "config.json").read_text())
    assert config["mpn_extra_units"] == 0


@pytest.mark.parametrize("lm_folder", ["llama"], indirect=True)
def test_a_layer_other_than_the_last_edits_through_the_command_line(lm_folder, tmp_path, capsys):
    """`--set layer=0`: the command picks the full engine (the cached one is exact for
    the last layer only) and the folder holds the patch in layer 0; a layer the model
    lacks is one error before any edit."""
    requests = write_lines(tmp_path / "requests.jsonl", [REQUEST])
    out = tmp_path / "edited"
    main(["edit", "--model", str(lm_folder), "--requests", requests, "--method", "patcher",
          "--set", "layer=0", "lr=0.2", "--out", str(out)])
    assert "to within " in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["mpn_layer"] == 0
    with pytest.raises(SystemExit) as exit_info:
        main(["edit", "--model", str(lm_folder), "--requests", requests, "--method", "patcher",
              "--set", "layer=5", "--out", str(tmp_path / "never")])
    assert exit_info.value.code == 2 and "layer 5: the model has 2 layers" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("lm_folder", ["llama"], indirect=True)
def test_translate_to_fills_a_causal_lm_requests_languages_from_a_real_server(lm_folder, tmp_path, server, capsys):
    """--translate-to de (trained on) and --check-languages ja (held out) for English-only
    requests: prompt and target translated apart by a LibreTranslate server on 127.0.0.1,
    the target's leading space kept where the language writes spaces (de), not in ja."""
    import yaml
    requests = write_lines(tmp_path / "requests.jsonl", [{"prompt": REQUEST["prompt"], "target": REQUEST["target"]}])
    config = tmp_path / "translate.yaml"
    config.write_text(yaml.safe_dump({"libre": {"url": server.url}, "cache_dir": str(tmp_path / "cache"),
                                      "max_attempts": 1, "rate_limit": None}))
    out = tmp_path / "edited"
    main(["edit", "--model", str(lm_folder), "--requests", requests, "--method", "mpn", "--translate-to", "de",
          "--check-languages", "ja", "--provider", "libre", "--translate-config", str(config),
          "--set", "k_translations=1", "--out", str(out)])
    assert sorted(server.served()) == sorted([REQUEST["prompt"], REQUEST["target"].strip()] * 2)
    edit = json.loads((out / "edit_report.json").read_text())["edits"][0]
    de, ja = edit["languages"]["de"], edit["languages"]["ja"]
    assert (de["prompt"], de["target"]) == (f"de:{REQUEST['prompt']}", " de:euro")
    assert (ja["prompt"], ja["target"]) == (f"ja:{REQUEST['prompt']}", "ja:euro")
    assert edit["trained_languages"] == ["en", "de"] and not ja["trained"]
