"""`mpn-edit edit` for a causal language model (mpn.cli dispatches here when --model is
one: mpn.model.lm.is_causal_lm). A request is one JSON object a line, a prompt and its
new completion, with translations by language:

    {"prompt": "The currency of Japan is the", "target": " euro",
     "translations": {"de": {"prompt": "Die Währung Japans ist der", "target": " Euro"}}}

`--method patcher` (or `ft`, FT-L) trains on the English prompt alone, `mpn` (`ft+mpn`)
also on `k_translations` translations a step (2 unless --set), drawn from the request's
languages that `--check-languages` does not name: those are held out, checked and never
trained on (mpn.editing.lm_methods; GRACE is refused: its codebook is no MLP unit).
`--translate-to` (and `--check-languages`) fill the languages a request lacks through
the translation providers (mpn.translate.on_demand), prompt and target apart.
Every request is checked before the model loads (file:line, exit 2, nothing written);
the folder is written when every edit has run, atomically, with edit_report.{md,json}
(per request and language: the greedy completion before and after, and whether the
target is completed, a trained language marked) and the model card; then it is reloaded
with transformers alone and its next-token logits compared with the editor's.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from mpn.core import secrets
from mpn.core.errors import UserError
from mpn.core.knobs import assignments, parse
from mpn.core.owned import check_writable
from mpn.core.readers import jsonl_file
from mpn.editing.lm_base import LMEditorBase, locality
from mpn.editing.lm_methods import DEFAULT_K_TRANSLATIONS, LM_METHODS
from mpn.model.card import ModelCard
from mpn.model.lm import load_causal_lm
from mpn.model.lm_portable import check_layer, next_token_logits_without_mpn, save_edited_lm
from mpn.translate.on_demand import OnDemandTranslator
from mpn.translate.settings import TranslateSettings, check_language

WRITTEN_WITHOUT_SPACES = frozenset({"zh", "ja", "th", "lo", "km", "my"})   # a translated target gets no leading space


@dataclass
class LMRequest:
    prompt: str
    target: str
    translations: dict[str, tuple[str, str]]   # {lang: (prompt, target)}


def _completion(value: object, where: str) -> tuple[str, str]:
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) and value[k].strip()
                                              for k in ("prompt", "target")):
        raise UserError(f"{where}: expected {{\"prompt\": text, \"target\": text}} with non-empty texts, got {value!r}")
    return value["prompt"], value["target"]


def read_lm_requests(path: str) -> list[LMRequest]:
    """Every line of `path` as a prompt/target request; the first bad one is a one-line
    UserError naming file:line."""
    requests = []
    for where, row in jsonl_file(path):
        prompt, target = _completion(row, where)
        translations = row.get("translations") or {}
        if not isinstance(translations, dict):
            raise UserError(f"{where}: translations must be an object {{language: {{prompt, target}}}}, "
                            f"got {translations!r}")
        for lang in translations:
            check_language(lang, f"{where}: translations")
        requests.append(LMRequest(prompt, target, {lang: _completion(value, f"{where}: translations.{lang}")
                                                   for lang, value in sorted(translations.items())}))
    if not requests:
        raise UserError(f"{path}: no requests (one JSON object a line)")
    return requests


def read_texts(path: str | None) -> list[str]:
    """The `text` (or `prompt`) of every line of a jsonl file ([] without one)."""
    texts = []
    for where, row in jsonl_file(path) if path else ():
        text = row.get("text", row.get("prompt"))
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{where}: expected a non-empty \"text\" (or \"prompt\")")
        texts.append(text)
    return texts


def lm_hparams(method: str, sets: list[str]):
    """The method's typed hyperparameters from --set; a method that cannot save, refused."""
    saved = [name for name, m in LM_METHODS.items() if m.unsaved is None]
    if method not in LM_METHODS:
        raise UserError(f"--method {method!r} is not a method for causal LMs; allowed: {', '.join(saved)}")
    if LM_METHODS[method].unsaved:
        raise UserError(f"--method {method}: {LM_METHODS[method].unsaved}; allowed: {', '.join(saved)}")
    k = DEFAULT_K_TRANSLATIONS if LM_METHODS[method].translations else 0
    return parse(LM_METHODS[method].hparams, {"k_translations": k} | assignments(sets), "--set")


def check(editor: LMEditorBase, prompt: str, target: str) -> dict:
    """The greedy completion as long as the target and whether it is the target."""
    return {"completion": editor.greedy(prompt, editor.n_target_tokens(target)),
            "right": editor.completes(prompt, target)}


def translated(requests: list[LMRequest], languages: list[str], settings: TranslateSettings) -> list[LMRequest]:
    """Each request with its missing translations into `languages`, prompt and target
    translated apart (on_demand's pair form); a translated target keeps the English
    one's leading space where the language writes spaces."""
    if not languages:
        return requests
    filled = OnDemandTranslator(settings, progress=True).fill(
        [(r.prompt, r.target.strip()) for r in requests], [r.translations for r in requests], languages)
    out = []
    for request, pairs in zip(requests, filled):
        own = dict(request.translations)
        for lang, (prompt, target) in pairs.items():
            if lang not in own:
                space = " " if request.target[:1].isspace() and lang not in WRITTEN_WITHOUT_SPACES else ""
                own[lang] = (prompt.rstrip(), space + target.strip())
        out.append(LMRequest(request.prompt, request.target, dict(sorted(own.items()))))
    return out


def edit_lm(args, translate_to: list[str], check_languages: list[str], settings: TranslateSettings) -> None:
    if args.params:
        raise UserError("--params is for classifiers; a causal LM's knobs come from --set")
    held_out = [lang for lang in check_languages if lang not in translate_to]
    hparams = lm_hparams(args.method, args.set)
    out = Path(args.out)
    check_writable(out, args.overwrite, f"--out {out}", {"--model": args.model})
    # every translation before the model loads: a provider that fails stops the run here
    requests = translated(read_lm_requests(args.requests), list(dict.fromkeys([*translate_to, *held_out])), settings)
    memory, unrelated = read_texts(args.memory), read_texts(args.unrelated)
    if not memory:
        tqdm.write("warning: no --memory: nothing keeps the patches silent on unrelated prompts")
    model, tokenizer = load_causal_lm(args.model)
    layer = check_layer(model, hparams.layer)
    # the cached engine is exact for the last layer only (mpn.model.lm)
    engine = "cached" if layer == model.config.num_hidden_layers - 1 else "full"
    editor = LM_METHODS[args.method].editor(model, tokenizer, hparams, memory, engine)

    def checks() -> list[dict]:
        return [{lang: check(editor, *pair) for lang, pair in [("en", (r.prompt, r.target)), *r.translations.items()]}
                for r in requests]

    before, unrelated_before = checks(), editor.next_token_logits(unrelated) if unrelated else None
    results = []
    for i, request in enumerate(tqdm(requests, desc="edits", unit="edit"), 1):
        results.append(editor.edit(request.prompt, request.target, request.translations, heldout=held_out))
        tqdm.write(f"edit {i}/{len(requests)}: {'success' if results[-1].success else 'FAILED'}  "
                   f"steps {results[-1].steps}  {results[-1].seconds:.3f} s  {request.prompt!r} -> {request.target!r}")
    after = checks()
    report = {"model": args.model, "method": args.method, "held_out": held_out, "edits": [
        {"prompt": r.prompt, "target": r.target, "success": res.success, "steps": res.steps,
         "trained_languages": ["en", *res.languages],
         "languages": {lang: {"prompt": prompt, "target": target, "before": b[lang], "after": a[lang],
                              "trained": lang in ["en", *res.languages]}
                       for lang, (prompt, target) in [("en", (r.prompt, r.target)), *r.translations.items()]}}
        for r, res, b, a in zip(requests, results, before, after)]}
    if unrelated:
        report["unrelated"] = {"prompts": len(unrelated)} | locality(unrelated_before, editor.next_token_logits(unrelated))
    lines = summary_lines(report)
    card = ModelCard(args.model, Path(args.model).is_dir(), args.method, dataclasses.asdict(hparams), [],
                     [{"text": e["prompt"], "target": e["target"], "success": e["success"], "steps": e["steps"],
                       "trained_languages": e["trained_languages"][1:]} for e in report["edits"]],
                     sorted({lang for e in report["edits"] for lang in e["languages"]}), lines,
                     auto_class="AutoModelForCausalLM", pipeline_tag="text-generation")
    save_edited_lm(editor, tokenizer, out, card, {
        "edit_report.json": secrets.scrub(json.dumps(report, indent=2, ensure_ascii=False) + "\n"),
        "edit_report.md": secrets.scrub(render_markdown(report, lines))}, overwrite=args.overwrite)
    if args.check:
        prompts = [r.prompt for r in requests]
        reloaded, expected = next_token_logits_without_mpn(out, editor, prompts), editor.next_token_logits(prompts)
        same = reloaded.argmax(-1).tolist() == expected.argmax(-1).tolist()
        tqdm.write(f"reload check: {out} loaded by transformers alone (mpn blocked) gives the edited model's "
                   f"next-token logits after the {len(prompts)} prompts to within "
                   f"{(reloaded - expected).abs().max().item():.2g}; greedy tokens {'equal' if same else 'DIFFER'}")
    tqdm.write(f"edited model, tokenizer, model card (README.md) and edit_report.md in {out}")
    for line in lines:
        tqdm.write(line)


def summary_lines(report: dict) -> list[str]:
    """One line for English, one per other language (trained or held out), one for unrelated prompts."""
    edits = report["edits"]
    lines = [f"en: {sum(e['success'] for e in edits)}/{len(edits)} edits succeed "
             f"(target completed before: {sum(e['languages']['en']['before']['right'] for e in edits)})"]
    for lang in sorted({lang for e in edits for lang in e["languages"]} - {"en"}):
        rows = [e["languages"][lang] for e in edits if lang in e["languages"]]
        kind = "held out" if lang in report["held_out"] else f"trained on in {sum(r['trained'] for r in rows)}"
        lines.append(f"{lang} ({kind}): target completed {sum(r['before']['right'] for r in rows)} -> "
                     f"{sum(r['after']['right'] for r in rows)} of {len(rows)}")
    if "unrelated" in report:
        u = report["unrelated"]
        lines.append(f"unrelated prompts: next token kept on {u['top1_agreement']:.0%} of "
                     f"{u['prompts']} (mean KL {u['kl']:.3g})")
    return lines


def render_markdown(report: dict, lines: list[str]) -> str:
    out = [f"# Edit report: {report['model']}, {report['method']}", "", *[f"- {line}" for line in lines], "",
           "| # | language | prompt | target | before | after | trained |", "|---|---|---|---|---|---|---|"]
    for i, e in enumerate(report["edits"], 1):
        for lang, c in e["languages"].items():
            out.append(f"| {i} | {lang} | {_cell(c['prompt'])} | {_cell(c['target'])} | "
                       f"{_cell(c['before']['completion'])}{' ✓' if c['before']['right'] else ''} | "
                       f"{_cell(c['after']['completion'])}{' ✓' if c['after']['right'] else ''} | "
                       f"{'yes' if c['trained'] else 'no'} |")
    return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
