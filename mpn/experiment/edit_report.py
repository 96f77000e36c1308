"""What a batch of edits changed, per request and per language: the predictions before
and after on the request, its translations and unrelated inputs (`mpn-edit edit`'s
edit_report.json and edit_report.md, and the model card's checks).

A language an edit trained on (its translation was in the edit's batch) is marked and
left out of that language's transfer figure: only texts the edit never saw count.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Union

Text = Union[str, tuple]


@dataclass
class Check:
    """One text of a request in one language, and the model's label on it."""
    text: Text
    before: str
    after: str
    trained: bool  # the edit trained on this very text (the English input; a translation in its batch)


@dataclass
class CheckedEdit:
    text: Text
    target: str
    success: bool
    steps: int
    trained_languages: list[str]
    checks: dict[str, Check] = field(default_factory=dict)  # "en" first, then the checked languages


def language_summary(edits: list[CheckedEdit], lang: str) -> dict:
    """Share of requests predicted as their target before and after, over those whose edit
    did not train on `lang` (for "en": the edited inputs themselves)."""
    rows = [e for e in edits if lang in e.checks and (lang == "en" or not e.checks[lang].trained)]
    trained = [e for e in edits if lang != "en" and lang in e.checks and e.checks[lang].trained]

    def share(items, when):
        return round(sum(getattr(e.checks[lang], when) == e.target for e in items) / len(items), 4) if items else None
    return {"n": len(rows), "target_before": share(rows, "before"), "target_after": share(rows, "after"),
            "n_trained": len(trained), "target_before_trained": share(trained, "before"),
            "target_after_trained": share(trained, "after")}


def unrelated_summary(texts: list[Text], before: list[str], after: list[str]) -> dict:
    flipped = [{"text": t, "before": b, "after": a} for t, b, a in zip(texts, before, after) if a != b]
    n = len(texts)
    return {"n": n, "unchanged": n - len(flipped),
            "share_unchanged": round((n - len(flipped)) / n, 4) if n else None, "flipped": flipped}


def build_report(edits: list[CheckedEdit], languages: list[str], unrelated: dict | None, about: dict) -> dict:
    """The JSON report: `about` (model, method, ...), per-language summary, per request, unrelated."""
    return {**about, "n_edits": len(edits), "n_success": sum(e.success for e in edits),
            "languages": ["en", *languages],
            "by_language": {lang: language_summary(edits, lang) for lang in ["en", *languages]},
            "requests": [_request_json(e) for e in edits],
            "unrelated": unrelated}


def _request_json(edit: CheckedEdit) -> dict:
    row = asdict(edit)
    row["checks"] = {lang: asdict(check) for lang, check in edit.checks.items()}
    return row


def render_markdown(report: dict) -> str:
    lines = [f"# Edit report: {report['method']} on {report['model']}", "",
             f"{report['n_success']}/{report['n_edits']} edits succeeded (the English input has its target "
             "label afterwards).", "",
             "## Target label by language, before → after", "",
             "Over requests whose edit did not train on the language: only texts the edit never saw. "
             "A language an edit trained on is counted apart (not transfer).", "",
             "| language | requests | before | after | trained on: requests, before → after |", "|---|---|---|---|---|"]
    for lang, s in report["by_language"].items():
        trained = (f"{s['n_trained']}, {_pct(s['target_before_trained'])} → {_pct(s['target_after_trained'])}"
                   if s["n_trained"] else "–")
        lines.append(f"| {lang} | {s['n']} | {_pct(s['target_before'])} | {_pct(s['target_after'])} | {trained} |")
    unrelated = report.get("unrelated")
    if unrelated:
        lines += ["", "## Unrelated inputs", "",
                  f"{unrelated['unchanged']}/{unrelated['n']} predictions unchanged "
                  f"({_pct(unrelated['share_unchanged'])})."]
        for flip in unrelated["flipped"]:
            lines.append(f"- flipped {flip['before']} → {flip['after']}: {_show(flip['text'])}")
    lines += ["", "## Per request", ""]
    for i, edit in enumerate(report["requests"], 1):
        outcome = "success" if edit["success"] else "FAILED"
        lines += [f"### {i}. → {edit['target']} ({outcome}, {edit['steps']} steps)", "",
                  "| language | text | before | after | |", "|---|---|---|---|---|"]
        for lang, check in edit["checks"].items():
            mark = "edited" if lang == "en" else ("trained on" if check["trained"] else "")
            lines.append(f"| {lang} | {_show(check['text'])} | {check['before']} | {check['after']} | {mark} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def summary_lines(report: dict) -> list[str]:
    """The command's last lines: success, then each language's before → after."""
    out = [f"{report['n_success']}/{report['n_edits']} edits succeeded"]
    for lang, s in report["by_language"].items():
        if lang == "en":
            continue
        parts = []
        if s["n"]:
            parts.append(f"target label {_pct(s['target_before'])} → {_pct(s['target_after'])} "
                         f"on {s['n']} requests not trained in {lang}")
        if s["n_trained"]:
            parts.append(f"{_pct(s['target_before_trained'])} → {_pct(s['target_after_trained'])} "
                         f"on {s['n_trained']} requests trained in {lang} (not transfer)")
        out.append(f"{lang}: " + "; ".join(parts))
    unrelated = report.get("unrelated")
    if unrelated:
        out.append(f"unrelated inputs: {unrelated['unchanged']}/{unrelated['n']} unchanged, "
                   f"{len(unrelated['flipped'])} flipped")
    return out


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, default=list) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _show(text: Text) -> str:
    shown = " / ".join(text) if isinstance(text, (list, tuple)) else text
    return shown.replace("|", "\\|").replace("\n", " ")
