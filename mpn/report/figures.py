"""Matplotlib figures (PNG, Agg backend) under reports/figures/<task>/.

    clg_by_lang.png     CLG per language, pre and post bars per method, 95% intervals
    curves.png          locality and edit retention against the number of edits
    base_accuracy.png   base model accuracy per language (val, test), majority baseline
    clg_heatmap.png     language x method heatmap of CLG
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on pipeline machines; set before pyplot loads
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mpn.report.inputs import TaskReport  # noqa: E402
from mpn.report.plot_data import shared_points  # noqa: E402

HELDOUT_NOTE = "* always held out of MPN's pool"
# No software/date metadata: the same inputs give byte-identical PNGs.
PNG_METADATA = {"Software": None}


def method_colors(methods: list[str]) -> dict[str, Any]:
    palette = plt.get_cmap("tab10")
    return {method: palette(i % 10) for i, method in enumerate(methods)}


def lang_labels(report: TaskReport, langs: list[str]) -> list[str]:
    heldout = report.heldout_languages
    return [lang + ("*" if lang in heldout else "") for lang in langs]


def no_data_figure(title: str) -> plt.Figure:
    """Said plainly, rather than an empty or failing chart (e.g. no translations)."""
    fig, ax = plt.subplots(figsize=(6.0, 2.0))
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, "nothing measured", ha="center", va="center")
    return fig


def clg_by_lang_figure(report: TaskReport) -> plt.Figure:
    """Per language, for each method: CLG right before its edits (pale) and right after
    (solid, with its 95% interval), on unseen texts."""
    langs = report.languages()
    if not langs:
        return no_data_figure(f"{report.task}: cross-lingual generalization per language")
    methods = list(report.methods)
    colors = method_colors(methods)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(langs) * len(methods) + 2), 4.5))
    width = 0.8 / (2 * len(methods))
    x = np.arange(len(langs))
    for i, method in enumerate(methods):
        metrics = report.methods[method].metrics
        for j, (key, alpha, label) in enumerate((("clg_by_lang_pre", 0.35, "pre"), ("clg_by_lang", 1.0, "post"))):
            means, errors = _bars_with_errors([metrics[key].get(lang) for lang in langs])
            offsets = x + (2 * i + j - (2 * len(methods) - 1) / 2) * width
            ax.bar(offsets, means, width, yerr=errors if label == "post" else None, capsize=2,
                   label=f"{method} {label}", color=colors[method], alpha=alpha, ecolor="black")
            for offset in offsets[np.isnan(means)]:
                ax.text(offset, 1, "n/a", ha="center", va="bottom", fontsize=7)
    finish_percent_bars(ax, x, lang_labels(report, langs),
                        f"Language ({HELDOUT_NOTE})" if report.heldout_languages else "Language",
                        "CLG, unseen texts (%)",
                        f"{report.task}: CLG per language before and after the edit (95% CI)",
                        "Method, before (pre) and after (post) the edit")
    return fig


def finish_percent_bars(ax: plt.Axes, x: np.ndarray, ticks: list[str], xlabel: str, ylabel: str,
                        title: str, legend_title: str) -> None:
    """What every per-language bar chart shares: 0-100% axis, labels, legend, grid."""
    ax.set_xticks(x, ticks)
    ax.set_ylim(0, 105)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    legend_below(ax, legend_title)
    ax.grid(axis="y", alpha=0.3)


def legend_below(ax: plt.Axes, title: str) -> None:
    """Below the axes, where it cannot hide a bar that reaches 100%."""
    ax.legend(title=title, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4,
              frameon=False)


def _bars_with_errors(rates: list[dict | None]) -> tuple[np.ndarray, np.ndarray]:
    """Bar heights and asymmetric error bars in %; unmeasured rates draw no bar."""
    means = np.array([100 * r["mean"] if r else np.nan for r in rates])
    low = np.array([100 * (r["mean"] - r["low"]) if r else 0.0 for r in rates])
    high = np.array([100 * (r["high"] - r["mean"]) if r else 0.0 for r in rates])
    return means, np.vstack([np.clip(low, 0, None), np.clip(high, 0, None)])


def curves_figure(report: TaskReport) -> plt.Figure:
    colors = method_colors(list(report.methods))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharex=True)
    for ax, metric, title in ((axes[0], "agreement", "Locality: agreement with the base model"),
                              (axes[1], "er", "Edit retention")):
        streams = 0
        for method, r in report.methods.items():
            n, mean, low, high, streams = stream_band(r.curve, metric)
            ax.plot(n, mean, marker="o", markersize=3, label=method, color=colors[method])
            ax.fill_between(n, low, high, color=colors[method], alpha=0.2, linewidth=0)
        ax.set_title(f"{report.task}: {title.lower()}")
        ax.set_xlabel(f"Edits made in the stream (every point: all {streams} streams)")
        ax.set_ylabel(f"{title.split(':')[0]} (%)")
        ax.set_ylim(top=100.5)  # both are shares of items, never above 100
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        legend_below(ax, "Method (line: mean; band: min to max over streams)")
    return fig


def stream_band(curve: list[dict[str, Any]], metric: str) -> tuple[Any, ...]:
    """At each number of edits every stream reached (streams differ in length, so a
    point past the shortest would average a different set of streams): n_edits, and
    the mean, min and max over streams of `metric` there (in %); and the stream count."""
    points = shared_points(curve, metric)
    n = np.array(sorted(points))
    values = [100 * np.array(points[k]) for k in n]
    return (n, np.array([v.mean() for v in values]), np.array([v.min() for v in values]),
            np.array([v.max() for v in values]), len(values[0]) if values else 0)


def base_accuracy_figure(report: TaskReport) -> plt.Figure:
    base = report.base
    splits = ("val", "test")
    langs = list(dict.fromkeys(lang for s in splits for lang in base[s]["accuracy_by_lang"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.8 * len(langs) + 2), 4.5))
    x = np.arange(len(langs))
    for i, split in enumerate(splits):
        acc = [100 * base[split]["accuracy_by_lang"].get(lang, np.nan) for lang in langs]
        ax.bar(x + (i - 0.5) * 0.4, acc, 0.4, label=split)
    ax.axhline(100 * base["majority_baseline"], color="black", linestyle="--",
               label="majority baseline")
    finish_percent_bars(ax, x, langs, "Language", "Accuracy (%)",
                        f"{report.task}: base model accuracy per language", "Split")
    return fig


def clg_heatmap_figure(report: TaskReport) -> plt.Figure:
    langs = report.languages()
    if not langs:
        return no_data_figure(f"{report.task}: CLG (%) per language")
    methods = list(report.methods)
    grid = np.array([[_mean_percent(report.methods[m].metrics["clg_by_lang"].get(lang))
                      for m in methods] for lang in langs])
    fig, ax = plt.subplots(figsize=(2.0 + 1.6 * len(methods), 1.5 + 0.4 * len(langs)))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=100,
                      aspect="auto")
    ax.set_facecolor("lightgrey")  # masked (unmeasured) cells
    for (row, col), value in np.ndenumerate(grid):
        text = "n/a" if np.isnan(value) else f"{value:.0f}"
        color = "black" if np.isnan(value) or value > 60 else "white"
        ax.text(col, row, text, ha="center", va="center", color=color, fontsize=9)
    ax.set_xticks(range(len(methods)), methods)
    ax.set_yticks(range(len(langs)), lang_labels(report, langs))
    ax.set_xlabel("Method")
    ax.set_ylabel("Language")
    ax.set_title(f"{report.task}: CLG (%) per language")
    fig.colorbar(image, ax=ax, label="CLG (%)")
    return fig


def _mean_percent(rate: dict | None) -> float:
    return np.nan if rate is None else 100 * rate["mean"]


FIGURES = {"clg_by_lang.png": clg_by_lang_figure, "curves.png": curves_figure,
           "base_accuracy.png": base_accuracy_figure, "clg_heatmap.png": clg_heatmap_figure}


def write_figures(reports: list[TaskReport], out_dir: Path, dpi: int) -> list[Path]:
    written = []
    for report in reports:
        for name, make in FIGURES.items():
            path = out_dir / report.task / name
            path.parent.mkdir(parents=True, exist_ok=True)
            fig = make(report)
            fig.tight_layout()
            fig.savefig(path, dpi=dpi, metadata=PNG_METADATA)
            plt.close(fig)
            written.append(path)
    return written
