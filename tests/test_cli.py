"""`mpn-edit edit` for a practitioner: translations on demand (offline bergamot, and a
real LibreTranslate-speaking server on 127.0.0.1), the before/after report per language,
and the model card written beside the weights."""
import hashlib
import json

import pytest
import yaml

from examples import THREE_LABELS as LABELS
from examples import TINY_CORPUS, other_label, write_jsonl
from mpn.cli import main
from mpn.translate.on_demand import OnDemandTranslator
from mpn.translate.settings import TranslateSettings

KEY = "sk-test-SECRET-0123456789abcdef"


def config(tmp_path, url, **extra) -> str:
    """--translate-config: the libre server, a cache in tmp_path, quick retries."""
    section = {"libre": {"url": url, "api_key_env": "LIBRE_API_KEY"}, "cache_dir": str(tmp_path / "cache"),
               "max_attempts": 2, "backoff_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 5.0, "rate_limit": None,
               **extra}
    path = tmp_path / "translate.yaml"
    path.write_text(yaml.safe_dump(section))
    return str(path)


def english_requests(tmp_path, model, tokenizer, n=2, **first_extra) -> tuple[str, list[str]]:
    targets = [other_label(model, tokenizer, t) for t in TINY_CORPUS[:n]]
    rows = [{"text": t, "target": target} for t, target in zip(TINY_CORPUS[:n], targets)]
    rows[0].update(first_extra)
    return write_jsonl(tmp_path / "requests.jsonl", rows), targets


def run_edit(model_folder, requests, out, *extra) -> None:
    main(["edit", "--model", str(model_folder), "--requests", requests, "--method", "mpn",
          "--set", "max_steps=300", "--out", str(out), *extra])


def read_report(out):
    return json.loads((out / "edit_report.json").read_text(encoding="utf-8"))


def test_translations_come_from_the_server_once_then_from_the_cache(model_dir, tokenizer, tmp_path, server,
                                                                      capsys, monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", KEY)
    folder, model = model_dir
    requests, targets = english_requests(tmp_path, model, tokenizer)
    settings = config(tmp_path, server.url)
    common = ["--translate-to", "de", "--check-languages", "de,ja", "--provider", "libre",
              "--translate-config", settings]
    run_edit(folder, requests, tmp_path / "first", *common)
    served = server.served()
    assert sorted(served) == sorted(TINY_CORPUS[:2] * 2)  # each English text once into de, once into ja
    report = read_report(tmp_path / "first")
    first = report["requests"][0]
    assert first["checks"]["de"]["text"] == f"de:{TINY_CORPUS[0]}" and first["checks"]["de"]["trained"]
    assert first["checks"]["ja"]["text"] == f"ja:{TINY_CORPUS[0]}" and not first["checks"]["ja"]["trained"]
    assert "de" in first["trained_languages"] and "ja" not in first["trained_languages"]
    assert report["by_language"]["de"]["n"] == 0  # trained in de: no transfer figure from it
    assert report["by_language"]["ja"]["n"] == 2
    last_lines = capsys.readouterr().out.strip().splitlines()[-3:]  # the command's summary
    assert last_lines[0] == f"{report['n_success']}/2 edits succeeded"
    assert last_lines[1].startswith("de: ") and last_lines[1].endswith("on 2 requests trained in de (not transfer)")
    assert last_lines[2].startswith("ja: target label") and last_lines[2].endswith("on 2 requests not trained in ja")

    run_edit(folder, requests, tmp_path / "second", *common)
    assert server.served() == served  # the second run asked the provider nothing
    assert read_report(tmp_path / "second")["requests"][0]["checks"]["ja"]["text"] == f"ja:{TINY_CORPUS[0]}"


def test_a_requests_own_translation_is_used_as_given(model_dir, tokenizer, tmp_path, server):
    folder, model = model_dir
    own = "la moneda de japón es el yen"
    requests, _ = english_requests(tmp_path, model, tokenizer, translations={"es": own})
    run_edit(folder, requests, tmp_path / "out", "--translate-to", "es", "--provider", "libre",
             "--translate-config", config(tmp_path, server.url))
    assert server.served() == [TINY_CORPUS[1]]  # only the request without its own es
    report = read_report(tmp_path / "out")
    assert report["requests"][0]["checks"]["en"]["text"] == TINY_CORPUS[0]
    assert "es" in report["requests"][0]["trained_languages"]


def test_an_unreachable_provider_stops_before_the_first_edit(model_dir, tokenizer, tmp_path, capsys):
    folder, model = model_dir
    requests, _ = english_requests(tmp_path, model, tokenizer)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        run_edit(folder, requests, out, "--translate-to", "de", "--provider", "libre",
                 "--translate-config", config(tmp_path, "http://127.0.0.1:9/"))  # port 9: nothing listens
    assert stop.value.code == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "could not be translated" in error_lines[0] and "en->de via libre" in error_lines[0]
    assert "edit 1/" not in err and not out.exists()


def test_bad_languages_and_providers_are_one_line_errors(model_dir, tokenizer, tmp_path, capsys):
    folder, model = model_dir
    requests, _ = english_requests(tmp_path, model, tokenizer)
    for extra, message in [(["--translate-to", "english"], "bad language code 'english' in --translate-to"),
                           (["--check-languages", "en"], "--check-languages names the source language"),
                           (["--translate-to", "pt", "--provider", "babel"], "unknown translation provider 'babel'"),
                           (["--translate-to", "ja", "--provider", "bergamot"], "bergamot cannot translate en->ja"),
                           (["--translate-to", "pt", "--providers", "pt"], "expected LANG=PROVIDER")]:
        with pytest.raises(SystemExit):
            run_edit(folder, requests, tmp_path / "out", *extra)
        err = capsys.readouterr().err
        assert message in err and "edit 1/" not in err, err
        assert not (tmp_path / "out").exists()


def test_offline_bergamot_fills_portuguese(tmp_path):
    translator = OnDemandTranslator(TranslateSettings(provider="bergamot", cache_dir=str(tmp_path)))
    filled = translator.fill(["The cat is black.", ("A man plays.", "Nobody plays.")],
                             [{}, {"pt": ("Um homem toca.", "Ninguém toca.")}], ["pt"])
    assert filled[1]["pt"] == ("Um homem toca.", "Ninguém toca.")  # given: kept
    assert isinstance(filled[0]["pt"], str) and filled[0]["pt"] and filled[0]["pt"] != "The cat is black."
    assert "gato" in filled[0]["pt"].lower()


def test_report_matches_predict_before_and_after_and_the_card_sits_beside_the_weights(
        model_dir, tokenizer, tmp_path, capsys, server, monkeypatch):
    monkeypatch.setenv("LIBRE_API_KEY", KEY)
    folder, model = model_dir
    requests, targets = english_requests(tmp_path, model, tokenizer)
    unrelated = write_jsonl(tmp_path / "unrelated.jsonl", [{"text": t} for t in TINY_CORPUS[2:]])
    before_files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    out = tmp_path / "edited"
    run_edit(folder, requests, out, "--translate-to", "de", "--check-languages", "fr", "--provider", "libre",
             "--translate-config", config(tmp_path, server.url), "--unrelated", unrelated)
    capsys.readouterr()
    report = read_report(out)
    checks = report["requests"][0]["checks"]  # the languages trained on (marked), then the checked ones
    assert [(lang, c["trained"]) for lang, c in checks.items()] == [("en", True), ("de", True), ("fr", False)]
    texts = [{"text": c["text"]} for r in report["requests"] for c in r["checks"].values()]
    texts += [{"text": t} for t in TINY_CORPUS[2:]]
    listed = write_jsonl(tmp_path / "texts.jsonl", texts)

    def predicted(model_folder):
        main(["predict", "--model", str(model_folder), "--texts", listed])
        return [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    before, after = predicted(folder), predicted(out)
    checks = [c for r in report["requests"] for c in r["checks"].values()]
    assert [c["before"] for c in checks] == before[:len(checks)]
    assert [c["after"] for c in checks] == after[:len(checks)]
    flipped = [t for t, b, a in zip(TINY_CORPUS[2:], before[len(checks):], after[len(checks):]) if a != b]
    assert [f["text"] for f in report["unrelated"]["flipped"]] == flipped
    assert report["unrelated"]["unchanged"] == len(TINY_CORPUS[2:]) - len(flipped)

    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "transformers" and "mpn-edit" in meta["tags"]
    assert meta["language"] == ["en", "de", "fr"] and "base_model" not in meta  # a local folder is no hub id
    assert f"| 1 | {TINY_CORPUS[0]} | {targets[0]} |" in card and "## Checks" in card
    assert "edit_report.md" in {p.name for p in out.iterdir()}
    for name in ("README.md", "edit_report.md", "edit_report.json"):
        assert KEY not in (out / name).read_text(encoding="utf-8")
    # the base folder is as it was; the edited folder, edited again, keeps its own files
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()} == before_files
    saved = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()}
    again = write_jsonl(tmp_path / "again.jsonl", [{"text": TINY_CORPUS[3], "target": LABELS[0]}])
    main(["edit", "--model", str(out), "--requests", again, "--out", str(tmp_path / "twice"), "--no-check"])
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()} == saved
    assert (tmp_path / "twice" / "README.md").exists()
