"""The translate stage on small raw fixtures: carried languages (reference), offline
engines, back-translation, the output contract and bad input."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mpn.core.errors import UserError
from mpn.translate import (TaskTranslator, TranslateSettings, TranslationCache,
                           TranslationRunner, make_provider, write_translations)
from stage_argv import stage_argv

KEYS = ("id", "group", "lang", "variant", "split", "label")


def row(group, lang, variant, split, **texts):
    return {"id": f"{group}-{lang}-{variant}", "group": group, "lang": lang,
            "variant": variant, "split": split, "label": "SUPPORTS", **texts}


def write_raw(root: Path, task: str, rows: list[dict], fields=("claim",)) -> None:
    raw = root / "data" / "raw" / task
    raw.mkdir(parents=True)
    for split in sorted({r["split"] for r in rows}):
        with open(raw / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                if r["split"] == split:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (raw / "meta.json").write_text(json.dumps({"task": task, "text_fields": list(fields)}))


def xfacts_like_rows() -> list[dict]:
    """Every group in en (3 variants), fr and de (2 variants); es carries only g0."""
    rows = []
    for i in range(4):
        split = "train" if i < 2 else "test"
        rows += [row(f"g{i}", "en", v, split, claim=f"Fact {i} ({v}).")
                 for v in ("original", "rephrase1", "rephrase2")]
        rows += [row(f"g{i}", lang, v, split, claim=f"{lang} fact {i} ({v}).")
                 for lang in ("fr", "de") for v in ("original", "rephrase1")]
    rows.append(row("g0", "es", "original", "train", claim="Hecho 0."))
    return rows


def settings_for(server=None, **overrides) -> TranslateSettings:
    section = {"languages": ["pt"], "provider": "libre", "rate_limit": None,
               "max_attempts": 2, "backoff_s": 0.0, "timeout_s": 5.0,
               "libre": {"url": server.url if server else "http://127.0.0.1:9/"}}
    section.update(overrides)
    return TranslateSettings.from_params(section)


def translate(root: Path, task: str, settings: TranslateSettings):
    with TranslationCache(root / "cache.sqlite") as cache:
        runner = TranslationRunner(cache, settings.retry_policy(), settings.batch_size,
                                   None, settings.max_failures, progress=False)
        return TaskTranslator(task, settings, runner, root=root / "data").run(), runner


def test_carried_languages_need_no_provider(tmp_path, server, caplog):
    caplog.set_level(logging.INFO, logger="mpn.translate")
    write_raw(tmp_path, "xfacts", xfacts_like_rows())
    out, runner = translate(tmp_path, "xfacts", settings_for(server, languages=["fr", "de"]))
    assert server.log == [] and runner.failed == 0
    assert out.rows == {"fr": [], "de": []}
    assert out.summary["languages"]["fr"] == {"english_rows": 12, "carried_by_source": 12,
                                              "provider": "reference", "written": 0}
    assert "the raw data carries every group in fr (reference provider)" in caplog.text


def test_partly_carried_language_translates_only_the_rest(tmp_path, server):
    write_raw(tmp_path, "xfacts", xfacts_like_rows())
    out, _ = translate(tmp_path, "xfacts", settings_for(server, languages=["es"]))
    assert {r["group"] for r in out.rows["es"]} == {"g1", "g2", "g3"}
    assert len(server.served()) == 9  # 3 groups x 3 English variants
    first = out.rows["es"][0]
    assert first == {"id": "g1-en-original/es", "group": "g1", "lang": "es",
                     "variant": "original", "split": "train", "label": "SUPPORTS",
                     "claim": "es:Fact 1 (original)."}


def test_stage_default_style_run_writes_only_the_summary(tmp_path, server):
    write_raw(tmp_path, "xfacts", xfacts_like_rows())
    params = {"tasks": ["xfacts"], "translate": {"languages": ["fr", "de"],
                                                  "provider": "google"}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, *stage_argv("translate.py", "xfacts")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out_dir = tmp_path / "data" / "translated" / "xfacts"
    assert sorted(p.name for p in out_dir.iterdir()) == ["summary.json"]
    assert (tmp_path / "data/cache/translations/xfacts.sqlite").exists()


def test_two_text_fields_and_blank_texts(tmp_path, server):
    rows = [row("p0", "en", "original", "test", premise="A man sleeps.", hypothesis="He rests."),
            row("p1", "en", "original", "test", premise="Rain.", hypothesis=" ")]
    write_raw(tmp_path, "xnli", rows, fields=("premise", "hypothesis"))
    out, _ = translate(tmp_path, "xnli", settings_for(server, languages=["de"]))
    assert [(r["premise"], r["hypothesis"]) for r in out.rows["de"]] == [
        ("de:A man sleeps.", "de:He rests."), ("de:Rain.", " ")]
    assert sorted(server.served()) == ["A man sleeps.", "He rests.", "Rain."]


def test_backtranslation_rephrases_and_their_translations(tmp_path, server):
    rows = [row("c0", "en", "original", "train", claim="Paris is in France."),
            row("c1", "en", "original", "test", claim="Oslo is in Peru."),
            row("c1", "en", "rephrase1", "test", claim="Peru contains Oslo.")]
    write_raw(tmp_path, "fever", rows)
    out, _ = translate(tmp_path, "fever", settings_for(server, backtranslate_pivot="de"))
    assert [(r["id"], r["variant"], r["lang"], r["claim"]) for r in out.rows["en"]] == [
        ("c0-en-original/bt", "rephrase1", "en", "en:de:Paris is in France."),
        ("c1-en-original/bt", "rephrase2", "en", "en:de:Oslo is in Peru.")]
    assert out.rows["en"][1]["split"] == "test" and out.rows["en"][1]["group"] == "c1"
    pt_ids = [r["id"] for r in out.rows["pt"]]
    assert pt_ids == ["c0-en-original/pt", "c1-en-original/pt", "c1-en-rephrase1/pt",
                      "c0-en-original/bt/pt", "c1-en-original/bt/pt"]
    assert out.summary["backtranslation"]["written"] == 2


def test_explicit_reference_uses_carried_texts_and_fails_the_rest(tmp_path):
    rows = [row("a", "en", "original", "test", claim="Same claim."),
            row("a", "pt", "original", "test", claim="Mesma afirmação."),
            row("b", "en", "original", "test", claim="Same claim."),
            row("c", "en", "original", "test", claim="Other claim.")]
    write_raw(tmp_path, "fever", rows)
    out, runner = translate(tmp_path, "fever",
                            settings_for(providers={"pt": "reference"}, max_failures=5))
    assert [(r["group"], r["claim"]) for r in out.rows["pt"]] == [("b", "Mesma afirmação.")]
    assert runner.failed == 1
    assert "carries no pt translation of 'Other claim.'" in (
        out.summary["languages"]["pt"]["failed_examples"][0]["reason"])


def test_bergamot_translates_english_to_portuguese_offline(tmp_path):
    rows = [row("c0", "en", "original", "test", claim="Anne Rice was born in New Jersey."),
            row("c1", "en", "original", "test", claim="Fox 2000 Pictures released the film.")]
    write_raw(tmp_path, "fever", rows)
    settings = settings_for(provider="bergamot", backtranslate_pivot="pt")
    out, runner = translate(tmp_path, "fever", settings)
    assert runner.failed == 0
    assert "nasceu" in out.rows["pt"][0]["claim"] and "lançou" in out.rows["pt"][1]["claim"]
    there, back, to_pt = out.runs
    assert (there.target, back.target, to_pt.target) == ("pt", "en", "pt")
    assert back.translated == 2 and to_pt.from_cache == 2  # pivot work reused for pt rows


def test_bergamot_knows_only_english_portuguese():
    with pytest.raises(UserError, match="bergamot cannot translate en->fr; it knows en->pt, pt->en"):
        make_provider("bergamot", "en", "fr")


def test_apertium_missing_binary_is_a_clear_error():
    with pytest.raises(UserError, match="apertium is not installed .*apt-get install apertium"):
        make_provider("apertium", "en", "es", {"binary": "no-such-apertium-binary"})


@pytest.mark.skipif(shutil.which("apertium") is None, reason="Debian apertium not installed")
def test_apertium_translates_when_installed():
    try:
        provider = make_provider("apertium", "en", "es")
    except UserError as err:  # apertium without the eng-spa pair
        pytest.skip(str(err))
    out = provider.translate(["The cat is black.", "I have two\nhouses."])
    assert len(out) == 2 and "gato" in out[0].lower() and "casas" in out[1].lower()


def test_services_name_the_languages_they_know():
    with pytest.raises(UserError, match="libre cannot translate language 'sw'; languages it "
                                        "knows: ar, de, en, es"):
        make_provider("libre", "en", "sw", {"url": "http://127.0.0.1:9/"})
    assert make_provider("google", "en", "zh")._translator.target == "zh-CN"


def test_output_directory_is_replaced_whole(tmp_path):
    out_dir = tmp_path / "translated" / "fever"
    write_translations(out_dir, {"pt": [{"id": "x/pt"}], "es": [{"id": "x/es"}]}, {"n": 1})
    write_translations(out_dir, {"pt": [{"id": "y/pt"}], "es": []}, {"n": 2})
    assert sorted(p.name for p in out_dir.iterdir()) == ["pt.jsonl", "summary.json"]
    assert json.loads((out_dir / "pt.jsonl").read_text()) == {"id": "y/pt"}
    assert [p.name for p in out_dir.parent.iterdir()] == ["fever"]  # no temp dirs left


@pytest.mark.parametrize("section, message", [
    ({"provider": "babelfish"}, "unknown translation provider 'babelfish' in translate.provider; "
                                "allowed: apertium, bergamot, deepl, google, libre, mymemory, "
                                "reference"),
    ({"providers": {"pt": "yandex"}}, "unknown translation provider 'yandex' in "
                                      "translate.providers.pt"),
    ({"languages": ["Portuguese"]}, "bad language code 'Portuguese' in translate.languages"),
    ({"languages": ["en"]}, "names the source language 'en'"),
    ({"languages": "pt"}, "translate.languages must be a list"),
    ({"max_failures": -1}, "translate.max_failures must be an integer >= 0, got -1"),
    ({"rate_limit": 0}, "translate.rate_limit must be a number > 0, got 0"),
    ({"retries": 3}, "unknown key translate.retries; allowed: languages, provider"),
])
def test_bad_settings(section, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(".", r"\.")):
        TranslateSettings.from_params(section)


def test_missing_key_for_deepl(monkeypatch):
    monkeypatch.delenv("DEEPL_API_KEY", raising=False)
    with pytest.raises(UserError, match="deepl needs an API key in the environment variable "
                                        "DEEPL_API_KEY"):
        make_provider("deepl", "en", "pt")


@pytest.mark.parametrize("params, task, message", [
    ({"tasks": ["fever"], "translate": {"provider": "babelfish"}}, "fever",
     "error: unknown translation provider 'babelfish'"),
    ({"tasks": ["fever"], "translate": {}}, "xnli", "error: task 'xnli' is not in params.yaml tasks; allowed: fever"),
    ({"tasks": ["fever"], "translate": {}}, "fever",
     "error: no raw data for task 'fever': data/raw/fever/*.jsonl is missing"),
])
def test_stage_bad_input_is_one_line_and_exit_2(tmp_path, params, task, message):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, *stage_argv("translate.py", task)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(message)
    assert not (tmp_path / "data" / "translated").exists()


def test_each_task_can_set_its_own_languages_and_providers():
    """translate.tasks.<task>: its languages, provider and providers over the shared ones."""
    settings = TranslateSettings.from_params({"languages": ["es", "fr"], "provider": "google",
                                              "providers": {"pt": "bergamot"},
                                              "tasks": {"fever": {"languages": ["es", "pt"], "provider": "apertium"}}})
    fever, xnli = settings.for_task("fever"), settings.for_task("xnli")
    assert (fever.languages, fever.provider_for("es"), fever.provider_for("pt")) == (("es", "pt"), "apertium", "bergamot")
    assert (xnli.languages, xnli.provider_for("es")) == (("es", "fr"), "google")
    with pytest.raises(UserError, match="translate.tasks.fever = .*allowed: a mapping of languages, provider, providers"):
        TranslateSettings.from_params({"tasks": {"fever": {"timeout_s": 3}}})
    with pytest.raises(UserError, match="bad language code 'en' in translate.tasks.fever.languages|names the source"):
        TranslateSettings.from_params({"tasks": {"fever": {"languages": ["en"]}}})
