"""reports/summary.md: paper-style Markdown tables, per task.

Rates are shown in percent as `mean [low, high]` (95% bootstrap interval); a rate the
edit stage could not measure (null, e.g. MG on a task without rephrases) shows as n/a.
"""
from __future__ import annotations

from mpn.report.inputs import TaskReport
from mpn.report.paired import PAIRED_METRICS, PairedDifference
from mpn.report.relations import Relations

NA = "n/a"
Comparisons = dict[str, dict[str, dict[str, PairedDifference]]]

DEFINITIONS = """\
- **ES** (edit success): the English edit input has the target label right after its edit.
- **MG** (monolingual generalization): English rephrases of the edit input get the target label.
- **CLG** (cross-lingual generalization): translations of the edit input, and their rephrases, get the target label; only texts the method did not train on count (unseen). Which texts those are differs between methods, so CLG unseen is never compared across methods.
- **held-out** (the headline): CLG in the languages held out for that edit (fixed `edit.heldout.languages`, plus the per-edit rotation `edit.heldout.fraction`), the same draw for every method. No text in a held-out language enters any term of that edit's loss or stopping rule: not the batch, the memory, the validation memory, nor rows remembered from past edits.
- **paraphrase**: CLG on the translated rephrases in the languages not held out. No method trains on them, so methods compare like for like; for MPN they are in-language paraphrases of a translation it trained on.
- **seen**: CLG on the exact texts the method trained on during the edit (MPN's pool translations): recall, a sanity value, never generalization.
- **pre**: the same texts predicted right before the edit (after the stream's earlier edits): the control.
- **lift**: post minus pre, per edit, then averaged: what the edit itself did.
- **Locality**: on unrelated held-out inputs after the whole stream, agreement (share of predictions unchanged from the base model) and accuracy ratio (accuracy after / base accuracy).
- **ER** (edit retention): the stream's edit inputs still right at its end; **ER per language**: each made edit's translation into that language right at the end of the stream, beside right just after the edit."""


def fmt_rate(rate: dict[str, float] | None, decimals: int, signed: bool = False) -> str:
    if rate is None:
        return NA
    sign = "+" if signed else ""
    mean, low, high = (100 * rate[k] for k in ("mean", "low", "high"))
    text = f"{mean:{sign}.{decimals}f} [{low:{sign}.{decimals}f}, {high:{sign}.{decimals}f}]"
    if rate.get("sd"):
        text += f" ±{100 * rate['sd']:.{decimals}f}"
    return text


def fmt_difference(diff: PairedDifference, decimals: int) -> str:
    if diff.mean is None:
        return NA
    mean, low, high = (100 * v for v in (diff.mean, diff.low, diff.high))
    return f"{mean:+.{decimals}f} [{low:+.{decimals}f}, {high:+.{decimals}f}]"


def fmt_percent(value: float | None, decimals: int) -> str:
    return NA if value is None else f"{100 * value:.{decimals}f}"


def fmt_number(value: float | None, spec: str) -> str:
    return NA if value is None else format(value, spec)


def fmt_pre_post(pre: dict | None, post: dict | None, lift: dict | None, decimals: int) -> str:
    """pre -> post (lift [interval])."""
    if post is None:
        return NA
    return (f"{fmt_percent(pre and pre['mean'], decimals)} → {fmt_percent(post['mean'], decimals)} "
            f"({fmt_rate(lift, decimals, signed=True)})")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_summary_md(reports: list[TaskReport], comparisons: Comparisons, decimals: int,
                      relations: dict[str, Relations] | None = None) -> str:
    parts = ["# Editing results",
             "Rates in %, as mean [95% interval] ±between-seed standard deviation (left out "
             "when 0): the mean "
             "over seeds of each seed's mean; the interval resamples whole facts (the seeds edit the same "
             "facts), the same draw for every seed and method. "
             "n/a: not measurable (for example MG on a task without rephrases). Seconds per "
             "edit, which differ from run to run, are in reports/timings.md (not tracked).",
             DEFINITIONS]
    for report in reports:
        parts += task_sections(report, comparisons.get(report.task, {}), decimals)
        if (relations or {}).get(report.task):
            parts += ["### CLG held-out per relation: pre → post (lift); facts edited",
                      relation_table(relations[report.task], list(report.methods), decimals)]
    return "\n\n".join(parts) + "\n"


def base_sentence(base: dict, decimals: int) -> str:
    """The base model's line: a classifier's test accuracy, or what a causal LM completes
    (a completion task: an edit's target is a prompt's new object, locality the next token
    after unrelated prompts, its KL in report.json)."""
    accuracy, majority = fmt_percent(base["test"]["accuracy"], decimals), fmt_percent(base["majority_baseline"], decimals)
    if base.get("kind") == "complete":
        return (f"A causal LM: it completes the true object after {accuracy}% of the test prompts, every "
                f"language (the train split's commonest object would be right on {majority}%); an edit's "
                "target is a prompt's new object, right when every token is the greedy next one; locality is "
                "the unedited model's next token kept after unrelated prompts (its KL in report.json). ")
    return f"Base model test accuracy {accuracy}% (majority baseline {majority}%). "


def task_sections(report: TaskReport, comparisons: dict[str, dict[str, PairedDifference]],
                  decimals: int) -> list[str]:
    base = report.base
    first = next(iter(report.methods.values())).metrics
    heldout = ", ".join(first["heldout_languages"]) or "none"
    sections = [f"## {report.task}", base_sentence(base, decimals) +
                f"Seeds {', '.join(map(str, first['seeds']))}. "
                f"Held out of MPN's pool: always {heldout}; per edit, a share "
                f"{first.get('heldout_fraction', 0)} of the other languages (rotation).",
                "### Editing results", main_table(report, decimals),
                "### CLG per language (unseen texts): pre → post (lift)",
                "Languages marked * are always held out of MPN's pool.",
                by_language_table(report, "clg_by_lang", decimals),
                "### CLG per language, held-out edits only: pre → post (lift)",
                by_language_table(report, "clg_heldout_by_lang", decimals, counts=True),
                "### Edit retention per language (translations at the end of the stream): after edit → end",
                retention_table(report, decimals),
                "### Locality per language (accuracy ratio)",
                locality_table(report, decimals),
                "### Base model accuracy per language", base_accuracy_table(report, decimals)]
    if comparisons:
        sections += ["### Paired differences on the same edits (lifts, on texts neither method trained on): "
                     "each method minus the first, each X+mpn minus its X; intervals resample facts "
                     "(locality agreement: streams)",
                     paired_table(comparisons, decimals)]
    return sections


MAIN_ROWS = (("ES", "es", False), ("MG pre", "mg_pre", False), ("MG post", "mg", False),
             ("MG lift", "mg_lift", True), ("CLG unseen pre", "clg_pre", False),
             ("CLG unseen post", "clg", False), ("CLG unseen lift", "clg_lift", True),
             ("CLG held-out pre", "clg_heldout_pre", False), ("CLG held-out post", "clg_heldout", False),
             ("CLG held-out lift", "clg_heldout_lift", True),
             ("CLG paraphrase pre", "clg_paraphrase_pre", False), ("CLG paraphrase post", "clg_paraphrase", False),
             ("CLG paraphrase lift", "clg_paraphrase_lift", True), ("CLG seen (recall)", "clg_seen", False),
             ("Locality agreement", "locality_agreement", False),
             ("Locality accuracy ratio", "locality", False), ("ER", "er", False))


def main_table(report: TaskReport, decimals: int) -> str:
    """One row per metric, one column per method."""
    methods = list(report.methods.values())
    rows = [[title, *(fmt_rate(r.metrics[key], decimals, signed) for r in methods)]
            for title, key, signed in MAIN_ROWS]
    rows.append(["Edits per seed", *(", ".join(map(str, r.metrics["n_edits_by_seed"])) for r in methods)])
    rows.append(["Distinct facts edited", *(str(r.metrics["n_facts"]) for r in methods)])
    rows.append(["Steps per edit (median)", *(fmt_number(r.metrics["steps_per_edit"], "g") for r in methods)])
    return markdown_table(["Metric", *report.methods], rows)


def by_language_table(report: TaskReport, key: str, decimals: int, counts: bool = False) -> str:
    heldout = report.heldout_languages
    langs = report.languages(key)
    methods = list(report.methods.values())
    rows = []
    for lang in langs:
        row = [lang + ("*" if lang in heldout else "")]
        if counts:
            row.append(str(methods[0].metrics["heldout_edits_by_lang"].get(lang, 0)))
        row += [fmt_pre_post(r.metrics[f"{key}_pre"].get(lang), r.metrics[key].get(lang),
                             r.metrics[f"{key}_lift"].get(lang), decimals) for r in methods]
        rows.append(row)
    header = ["Language", *(["Edits held out (all seeds)"] if counts else []), *report.methods]
    return markdown_table(header, rows)


def relation_table(relations: Relations, methods: list[str], decimals: int) -> str:
    rows = []
    for relation, by_method in relations.items():
        n_facts = max(r["n_facts"] for r in by_method.values())
        rows.append([relation, str(n_facts), *(fmt_pre_post(by_method[m]["pre"], by_method[m]["post"],
                                                              by_method[m]["lift"], decimals)
                                                 if m in by_method else "n/a" for m in methods)])
    return markdown_table(["Relation", "Facts", *methods], rows)


def retention_table(report: TaskReport, decimals: int) -> str:
    langs = report.languages("er_by_lang")
    rows = [[lang, *(f"{fmt_percent((r.metrics['er_by_lang_after_edit'].get(lang) or {}).get('mean'), decimals)} → "
                     f"{fmt_rate(r.metrics['er_by_lang'].get(lang), decimals)}" for r in report.methods.values())]
            for lang in langs]
    return markdown_table(["Language", *report.methods], rows)


def locality_table(report: TaskReport, decimals: int) -> str:
    langs = report.languages("locality_by_lang")
    rows = [[lang, *(fmt_rate(r.metrics["locality_by_lang"].get(lang), decimals)
                     for r in report.methods.values())] for lang in langs]
    return markdown_table(["Language", *report.methods], rows)


def base_accuracy_table(report: TaskReport, decimals: int) -> str:
    val = report.base["val"]["accuracy_by_lang"]
    test = report.base["test"]["accuracy_by_lang"]
    langs = list(dict.fromkeys([*test, *val]))
    rows = [[lang, fmt_percent(val.get(lang), decimals), fmt_percent(test.get(lang), decimals)]
            for lang in langs]
    return markdown_table(["Language", "val", "test"], rows)


PAIRED_TITLES = {"es": "ΔES", "mg_lift": "ΔMG lift", "clg_heldout_lift": "ΔCLG held-out lift",
                 "clg_paraphrase_lift": "ΔCLG paraphrase lift", "locality_agreement": "ΔLocality agreement"}


def paired_table(comparisons: dict[str, dict[str, PairedDifference]], decimals: int) -> str:
    header = ["Comparison", "Shared edit rows (facts)", *(PAIRED_TITLES[m] for m in PAIRED_METRICS)]
    rows = [[pair, f"{diffs['es'].n_pairs} ({diffs['es'].n_facts})",
             *(fmt_difference(diffs[m], decimals) for m in PAIRED_METRICS)]
            for pair, diffs in comparisons.items()]
    return markdown_table(header, rows)


def render_timings_md(reports: list[TaskReport]) -> str:
    """reports/timings.md: this machine's costs (not tracked: they differ run to run)."""
    rows = []
    for report in reports:
        for method, r in report.methods.items():
            t = r.timing or {}
            rows.append([report.task, method, fmt_number(t.get("sec_per_edit"), ".3g"),
                         fmt_number(t.get("feature_pass_seconds"), ".1f"),
                         fmt_number(t.get("peak_memory_mb"), ".0f")])
    return ("# Timings (this machine, last run of each edit stage)\n\n"
            + markdown_table(["Task", "Method", "s/edit (median)", "Feature pass s", "Peak MB"], rows) + "\n")
