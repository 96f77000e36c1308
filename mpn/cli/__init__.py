"""The `mpn-edit` command: edit any sequence classifier without writing Python.

    mpn-edit edit --model M --requests R.jsonl --method patcher [--set KEY=VALUE ...]
                  [--memory MEM.jsonl] --out DIR [--overwrite]
                  [--translate-to de,pt [--provider NAME] [--providers pt=bergamot,...]]
                  [--check-languages de,pt,ja] [--unrelated U.jsonl] [--translate-config T.yaml]
    mpn-edit predict --model DIR --texts T.jsonl

M: a folder from the pipeline (models/<task>), a folder `edit` wrote, or any Hugging
Face sequence classifier (hub name or folder); a causal LM (gemma-3-270m, a hub name or
folder) takes prompt/target requests instead (mpn/cli/lm.py). A request is one JSON object a line:

    {"text": "...", "target": "REFUTES", "translations": {"de": "...", "fr": "..."}}

the input as `text`, or `premise` and `hypothesis`, or the pipeline's `input` (a text or
a [premise, hypothesis] pair); the `target` label; optional `translations`, by language
code, which the +mpn methods train on. `--translate-to` fills the translations a request
lacks through mpn.translate's providers and cache (a request's own are used as given);
`--check-languages` translates the same way the texts the report checks but the edits
never train on. Every request is checked and every translation made before the first
edit; DIR is written only when every edit has run (atomically: temp folder, then
rename), with the model, README.md (its model card) and edit_report.{md,json}: the
predictions before and after, per request and language, and on `--unrelated` inputs.
DIR must be new or empty: `--overwrite` replaces a folder mpn-edit wrote (its
mpn_edit.json lists every file), never one holding anything else, nor `--model`'s.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm.auto import tqdm

from mpn.cli.lm import edit_lm
from mpn.editing.editor import Editor, is_language_code
from mpn.editing.resolver import ResolvedMethod, resolve_method
from mpn.experiment.edit_report import (Check, CheckedEdit, build_report, render_markdown, summary_lines, to_json,
                                        unrelated_summary)
from mpn.model.anatomy import Anatomy
from mpn.model.card import ModelCard
from mpn.model.classifier import predict_logits
from mpn.model.lm import is_causal_lm
from mpn.model.portable import load_any, logits_without_mpn, save_edited
from mpn.core import secrets
from mpn.core.errors import UserError
from mpn.core.knobs import assignments
from mpn.core.owned import check_writable
from mpn.core.params import MAX_LENGTH
from mpn.core.readers import jsonl_file
from mpn.pipeline.stage import setup_logging
from mpn.translate.on_demand import OnDemandTranslator
from mpn.translate.settings import TranslateSettings, check_language

INPUT_FIELDS = "text, premise and hypothesis, or input"


@dataclass
class Request:
    text: str | tuple
    target: str
    translations: dict


def read_inputs(path: str, with_target: bool, labels: list[str] = ()) -> list[Request]:
    """Every line of `path` as a request (or, without targets, an input to predict);
    the first bad line is a one-line UserError naming file:line and what is allowed."""
    rows = []
    for where, row in jsonl_file(path):
        target = row.get("target") if with_target else ""
        if with_target and target not in labels:
            shown = "missing" if target is None else repr(target)
            raise UserError(f"{where}: target {shown} is not a label of the model; allowed: {', '.join(labels)}")
        translations = row.get("translations") or {}
        if not isinstance(translations, dict):
            raise UserError(f"{where}: translations must be an object {{language: text}}, got {translations!r}")
        for lang in translations:
            if lang == "en" or not is_language_code(lang):
                raise UserError(f"{where}: translations key {lang!r} is not a language code other than en "
                                "(CLDR); allowed: codes like de, pt-BR, zh-Hant")
        rows.append(Request(_text(row, where), target,
                            {lang: _text({"input": t}, f"{where}: translations.{lang}") for lang, t in translations.items()}))
    if not rows:
        raise UserError(f"{path}: no requests (one JSON object a line)")
    return rows


def _text(row: dict, where: str) -> str | tuple:
    """A text, or a (premise, hypothesis) pair, from a row's input fields."""
    if "premise" in row or "hypothesis" in row:
        value = [row.get("premise"), row.get("hypothesis")]
    else:
        value = row.get("text", row.get("input"))
    pair = isinstance(value, list) and len(value) == 2
    parts = value if pair else [value]
    if not all(isinstance(p, str) and p.strip() for p in parts):
        raise UserError(f"{where}: no input: give {INPUT_FIELDS} as non-empty text")
    return tuple(value) if pair else value


def parse_sets(items: list[str], method: str, params_path: str | None) -> ResolvedMethod:
    """`--set key=value` items (YAML values) over the method's knobs: its defaults, or
    with --params, that file's `hparams` sections and `presets` (mpn.editing.resolver)."""
    return resolve_method(yaml_mapping(params_path, "--params", "params.yaml's sections"), method,
                          assignments(items), "--set:")


def yaml_mapping(path: str | None, flag: str, what: str) -> dict:
    """The mapping in the YAML file that `flag` names ({} when it names none)."""
    if not path:
        return {}
    if not Path(path).is_file():
        raise UserError(f"{flag}: missing file {path}")
    mapping = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(mapping, dict):
        raise UserError(f"{path}: expected {what}, got {mapping!r}")
    return mapping


def language_list(value: str | None, flag: str) -> list[str]:
    """"de,es, ja" -> ["de", "es", "ja"]; checked as the translate section checks codes."""
    langs = [lang.strip() for lang in (value or "").split(",") if lang.strip()]
    for lang in langs:
        check_language(lang, flag)
    return list(dict.fromkeys(langs))


def translate_settings(args) -> TranslateSettings:
    """--translate-config (the translate section's keys: provider options, retries,
    cache_dir), then --provider and --providers over it."""
    section = yaml_mapping(args.translate_config, "--translate-config", "the translate section's keys")
    if args.provider:
        section["provider"] = args.provider
    if args.providers:
        pairs = [item.partition("=") for item in args.providers.split(",") if item.strip()]
        bad = [item for item, sep, name in pairs if not sep or not name]
        if bad:
            raise UserError(f"--providers {args.providers!r}: expected LANG=PROVIDER,..., e.g. pt=bergamot")
        section["providers"] = {lang.strip(): name.strip() for lang, _, name in pairs}
    return TranslateSettings.from_params(section)


def edit(args) -> None:
    if is_causal_lm(args.model):
        return edit_lm(args, language_list(args.translate_to, "--translate-to"),
                       language_list(args.check_languages, "--check-languages"), translate_settings(args))
    resolved = parse_sets(args.set, args.method, args.params)
    out = Path(args.out)
    check_writable(out, args.overwrite, f"--out {out}", {"--model": args.model})
    translate_to = language_list(args.translate_to, "--translate-to")
    # the report checks every language the edits train on too (marked), then the others
    check_languages = list(dict.fromkeys([*translate_to, *language_list(args.check_languages, "--check-languages")]))
    settings = translate_settings(args)
    model, tokenizer = load_any(args.model)
    labels = Anatomy.of(model).labels
    requests = read_inputs(args.requests, True, labels)
    memory = [r.text for r in read_inputs(args.memory, False)] if args.memory else []
    unrelated = [r.text for r in read_inputs(args.unrelated, False)] if args.unrelated else []
    if not memory:
        tqdm.write("warning: no --memory: nothing keeps the patches silent on unrelated inputs", file=sys.stderr)

    # Every translation before the first edit: a provider that fails stops the run here.
    inputs = [r.text for r in requests]
    translator = OnDemandTranslator(settings, progress=True)
    trainable = translator.fill(inputs, [r.translations for r in requests], translate_to)
    checked = translator.fill(inputs, trainable, check_languages)

    n_val = max(1, len(memory) // 10) if memory else 0   # held out: the early stop watches it
    editor = Editor(model, tokenizer, resolved.method, resolved.hparams, memory=memory[n_val:], val_memory=memory[:n_val],
                    max_length=args.max_length, device=args.device)
    check_texts = [[text, *(own[lang] for lang in check_languages)] for text, own in zip(inputs, checked)]
    flat = [t for texts in check_texts for t in texts] + unrelated
    editor.warm([*flat, *(t for own in trainable for t in own.values())], inputs)
    before = editor.predict(flat)
    results = []
    for i, (request, translations) in enumerate(zip(tqdm(requests, desc="edits", unit="edit"), trainable), 1):
        result = editor.edit(request.text, request.target, translations)
        results.append(result)
        tqdm.write(f"edit {i}/{len(requests)}: {'success' if result.success else 'FAILED'}  "
                   f"steps {result.steps}  {result.seconds:.3f} s  target {request.target}  {request.text!r}")
    after = editor.predict(flat)

    edits, at = [], 0
    for request, result, texts in zip(requests, results, check_texts):
        checks = {lang: Check(text, before[at + j], after[at + j], lang == "en" or lang in result.languages)
                  for j, (lang, text) in enumerate(zip(["en", *check_languages], texts))}
        at += len(texts)
        edits.append(CheckedEdit(request.text, request.target, result.success, result.steps,
                                 list(result.languages), checks))
    n_checked = len(flat) - len(unrelated)
    report = build_report(edits, check_languages,
                          unrelated_summary(unrelated, before[n_checked:], after[n_checked:]) if unrelated else None,
                          {"model": args.model, "method": args.method,
                           "translated_by": {lang: settings.provider_for(lang) for lang in check_languages}})
    card = ModelCard(args.model, Path(args.model).is_dir(), args.method, dataclasses.asdict(editor.hparams), labels,
                     [{"text": e.text, "target": e.target, "success": e.success, "steps": e.steps,
                       "trained_languages": e.trained_languages} for e in edits],
                     ["en", *check_languages], summary_lines(report))
    save_edited(editor, tokenizer, out, card, {"edit_report.json": secrets.scrub(to_json(report)),
                                               "edit_report.md": secrets.scrub(render_markdown(report))},
                overwrite=args.overwrite)
    if args.check:
        difference = (logits_without_mpn(out, inputs, args.max_length) - editor.engine.predict(inputs).cpu()).abs().max()
        tqdm.write(f"reload check: {out} loaded by transformers alone (mpn blocked) gives the edited "
                   f"model's logits on the {len(inputs)} requests to within {difference.item():.2g}")
    tqdm.write(f"edited model, tokenizer, model card (README.md) and edit_report.md in {out}")
    for line in summary_lines(report):
        tqdm.write(line)


def predict(args) -> None:
    model, tokenizer = load_any(args.model)
    labels = Anatomy.of(model).labels
    texts = [r.text for r in read_inputs(args.texts, False)]
    probabilities = predict_logits(model, tokenizer, texts, max_length=args.max_length).softmax(-1)
    for text, probs in zip(texts, probabilities.tolist()):
        best = max(range(len(labels)), key=probs.__getitem__)
        print(json.dumps({"input": text, "label": labels[best],
                          "probabilities": {label: round(p, 6) for label, p in zip(labels, probs)}},
                         ensure_ascii=False))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mpn-edit", description="Edit a sequence classifier's mistakes, one example each.")
    commands = top.add_subparsers(dest="command", required=True)
    e = commands.add_parser("edit", help="edit a classifier with requests from a jsonl file, save it to --out")
    e.add_argument("--model", required=True, help="pipeline folder, folder saved by mpn-edit, or hub name / folder")
    e.add_argument("--requests", required=True, help="jsonl: text (or premise, hypothesis), target, translations; "
                   "for a causal LM: prompt, target, translations {lang: {prompt, target}}")
    e.add_argument("--method", default="patcher", help="an editing method: patcher, mpn, ft, grace, X+mpn, "
                   "or a preset of --params (mpn-tuned)")
    e.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", help="method hyperparameters, e.g. max_steps=500")
    e.add_argument("--params", metavar="YAML", help="a params.yaml whose `hparams` sections and `presets` (e.g. "
                   "--method mpn-tuned) set the method's knobs before --set; default: the method's defaults")
    e.add_argument("--memory", help="jsonl of unrelated inputs the edits must leave alone (a tenth is held out for early stopping)")
    e.add_argument("--out", required=True, help="a new (or empty) folder for the edited model and tokenizer")
    e.add_argument("--overwrite", action="store_true", help="replace --out if it is a folder mpn-edit wrote "
                   "(its mpn_edit.json lists every file in it); any other folder is refused")
    e.add_argument("--translate-to", metavar="LANGS", help="languages to translate each request into and train "
                   "the +mpn methods on, e.g. de,es,ja (a request's own translations are kept)")
    e.add_argument("--provider", help="translation provider for every language (default: the translate section's, "
                   "google); offline: bergamot (en->pt), apertium")
    e.add_argument("--providers", metavar="LANG=NAME,...", help="a provider per language, e.g. pt=bergamot")
    e.add_argument("--translate-config", metavar="YAML", help="the translate section's keys (provider options such as "
                   "libre.url, timeout_s, max_attempts, cache_dir); default: params.yaml's defaults")
    e.add_argument("--check-languages", metavar="LANGS", help="more languages the report checks each request in "
                   "(beside --translate-to's), translated the same way, before and after; never trained on "
                   "(a causal LM: the requests' own translations in these languages, held out of every edit)")
    e.add_argument("--unrelated", help="jsonl of inputs the report checks for flipped predictions")
    e.add_argument("--no-check", dest="check", action="store_false",
                   help="skip reloading --out with transformers alone to compare logits (a few seconds)")
    p = commands.add_parser("predict", help="print each input's label and probabilities as JSON lines")
    p.add_argument("--model", required=True)
    p.add_argument("--texts", required=True, help="jsonl: text, or premise and hypothesis, or input")
    for sub in (e, p):
        sub.add_argument("--max-length", type=int, default=MAX_LENGTH, help="tokens per input (longer ones are cut)")
    e.add_argument("--device", default="cpu", help="auto, cpu or cuda[:N]")
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    setup_logging()
    try:
        {"edit": edit, "predict": predict}[args.command](args)
    except UserError as err:
        print(f"error: {secrets.scrub(err)}", file=sys.stderr)
        sys.exit(2)
