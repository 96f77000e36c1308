"""reports/summary.md: paper-style Markdown tables, per task.

Rates are shown in percent as `mean [low, high]` (95% bootstrap interval); a rate the
edit stage could not measure (null, e.g. MG on a task without rephrases) shows as n/a.
"""
from __future__ import annotations

from mpn.report.inputs import TaskReport
from mpn.report.paired import PAIRED_METRICS, PairedDifference

NA = "n/a"
MAIN_COLUMNS = (("es", "ES"), ("mg", "MG"), ("clg", "CLG"), ("clg_heldout", "CLG held-out"),
                ("locality", "Locality"), ("er", "ER"))
Comparisons = dict[str, dict[str, dict[str, PairedDifference]]]


def fmt_rate(rate: dict[str, float] | None, decimals: int) -> str:
    if rate is None:
        return NA
    mean, low, high = (100 * rate[k] for k in ("mean", "low", "high"))
    return f"{mean:.{decimals}f} [{low:.{decimals}f}, {high:.{decimals}f}]"


def fmt_difference(diff: PairedDifference, decimals: int) -> str:
    if diff.mean is None:
        return NA
    mean, low, high = (100 * v for v in (diff.mean, diff.low, diff.high))
    return f"{mean:+.{decimals}f} [{low:+.{decimals}f}, {high:+.{decimals}f}]"


def fmt_percent(value: float | None, decimals: int) -> str:
    return NA if value is None else f"{100 * value:.{decimals}f}"


def fmt_number(value: float | None, spec: str) -> str:
    return NA if value is None else format(value, spec)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_summary_md(reports: list[TaskReport], comparisons: Comparisons,
                      decimals: int) -> str:
    parts = ["# Editing results",
             "Rates in %, as mean [95% bootstrap interval]; n/a: not measurable "
             "(for example MG on a task without rephrases). Languages marked * are held "
             "out of MPN's sampling pool: their CLG is the honest measure of transfer."]
    for report in reports:
        parts += task_sections(report, comparisons.get(report.task, {}), decimals)
    return "\n\n".join(parts) + "\n"


def task_sections(report: TaskReport, comparisons: dict[str, dict[str, PairedDifference]],
                  decimals: int) -> list[str]:
    base = report.base
    sections = [f"## {report.task}",
                f"Base model test accuracy {fmt_percent(base['test']['accuracy'], decimals)}% "
                f"(majority baseline {fmt_percent(base['majority_baseline'], decimals)}%).",
                "### Editing results", main_table(report, decimals),
                "### CLG per language", by_language_table(report, "clg_by_lang", decimals),
                "### Locality per language",
                by_language_table(report, "locality_by_lang", decimals),
                "### Base model accuracy per language", base_accuracy_table(report, decimals)]
    if comparisons:
        baseline = next(iter(report.methods))
        sections += [f"### Paired difference to {baseline} on the same edits",
                     paired_table(comparisons, decimals)]
    return sections


def main_table(report: TaskReport, decimals: int) -> str:
    header = ["Method", *(title for _, title in MAIN_COLUMNS),
              "s/edit", "Edits", "Patches", "Peak MB"]
    rows = []
    for method, r in report.methods.items():
        m = r.metrics
        rows.append([method, *(fmt_rate(m[key], decimals) for key, _ in MAIN_COLUMNS),
                     fmt_number(m["sec_per_edit"], ".3g"), f"{m['n_edits']:.0f}",
                     f"{m['patches']:.0f}", fmt_number(m["peak_memory_mb"], ".0f")])
    return markdown_table(header, rows)


def by_language_table(report: TaskReport, key: str, decimals: int) -> str:
    heldout = report.heldout_languages
    langs = report.languages(key)
    rows = [[lang + ("*" if lang in heldout else ""),
             *(fmt_rate(r.metrics[key].get(lang), decimals) for r in report.methods.values())]
            for lang in langs]
    return markdown_table(["Language", *report.methods], rows)


def base_accuracy_table(report: TaskReport, decimals: int) -> str:
    val = report.base["val"]["accuracy_by_lang"]
    test = report.base["test"]["accuracy_by_lang"]
    langs = list(dict.fromkeys([*test, *val]))
    rows = [[lang, fmt_percent(val.get(lang), decimals), fmt_percent(test.get(lang), decimals)]
            for lang in langs]
    return markdown_table(["Language", "val", "test"], rows)


def paired_table(comparisons: dict[str, dict[str, PairedDifference]], decimals: int) -> str:
    header = ["Method", "Shared edits", *(f"Δ{m.upper()}" for m in PAIRED_METRICS)]
    rows = [[method, str(diffs["es"].n_pairs),
             *(fmt_difference(diffs[m], decimals) for m in PAIRED_METRICS)]
            for method, diffs in comparisons.items()]
    return markdown_table(header, rows)

