"""The aggregate stage as a function: every task's and method's reports in, the
summary, tables, figures and DVC plot data out.

All inputs are read and checked before the first output is written, and every output
is written atomically, so a bad input leaves the previous outputs untouched.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mpn.data import get_task
from mpn.editing.method_names import like_for_like, read_presets
from mpn.core.io import atomic_folder, write_json, write_text
from mpn.core.knobs import knob
from mpn.core.params import pipeline, section
from mpn.report.figures import write_figures
from mpn.report.inputs import ReportLayout, TaskReport, load_reports
from mpn.report.paired import compare_to_baseline
from mpn.report.plot_data import write_plot_data
from mpn.report.relations import relation_lifts
from mpn.report.summary import build_paired, build_summary
from mpn.report.tables import Comparisons, render_summary_md, render_timings_md

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregateParams:
    """params.yaml `aggregate:` section."""
    SECTION: ClassVar[str] = "aggregate"  # its key in params.yaml

    n_bootstrap: int = knob(1000, ge=100, le=1_000_000)
    seed: int = knob(0, ge=0, le=2**32 - 1)
    decimals: int = knob(1, ge=0, le=4)
    dpi: int = knob(120, ge=50, le=600)


@dataclass(frozen=True)
class AggregateOutputs:
    root: Path  # reports/ in dvc.yaml

    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    @property
    def paired_json(self) -> Path:
        return self.root / "paired.json"

    @property
    def summary_md(self) -> Path:
        return self.root / "summary.md"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def plots(self) -> Path:
        return self.root / "plots"


def paired_comparisons(reports: list[TaskReport], settings: AggregateParams, presets: dict) -> Comparisons:
    """Per task: every method against the first one in params `methods`, and every
    `X+mpn` against its like-for-like X (mpn-tuned against patcher-tuned) where both ran;
    keyed "method − baseline"."""
    comparisons: Comparisons = {}
    for report in reports:
        first, *others = report.methods
        pairs = [(m, first) for m in others]
        pairs += [(m, base) for m in others
                  if (base := like_for_like(m, presets)) != m and base != first and base in report.methods]
        comparisons[report.task] = {
            f"{m} − {base}": compare_to_baseline(report.methods[m], report.methods[base],
                                                  settings.n_bootstrap, settings.seed)
            for m, base in pairs}
    return comparisons


def aggregate(params: dict[str, Any], inputs: ReportLayout, outputs_dir: Path) -> AggregateOutputs:
    """Per-task reports (and timings) from `inputs` -> summary, tables, figures and plot
    data in `outputs_dir` (reports)."""
    settings = section(params, AggregateParams)
    top = pipeline(params)
    reports = load_reports(top.tasks, top.methods, inputs)
    outputs = AggregateOutputs(outputs_dir)
    comparisons = paired_comparisons(reports, settings, read_presets(params))
    relations = {r.task: relation_lifts(r, get_task(r.task).relation, settings.n_bootstrap, settings.seed)
                 for r in reports}

    # Folders first (both swapped in only if both were built), the summary files last.
    with atomic_folder(outputs.plots) as plots_tmp, atomic_folder(outputs.figures) as figures_tmp:
        n_csv = len(write_plot_data(reports, plots_tmp))
        n_png = len(write_figures(reports, figures_tmp, settings.dpi))
    write_text(outputs.summary_md, render_summary_md(reports, comparisons, settings.decimals, relations))
    write_json(outputs.summary_json, build_summary(reports))
    write_json(outputs.paired_json, build_paired(comparisons))
    write_text(outputs.root / "timings.md", render_timings_md(reports))  # untracked: machine-local
    log.info("wrote %s, %s, %s, %d plot CSVs, %d figures", outputs.summary_json,
             outputs.paired_json, outputs.summary_md, n_csv, n_png)
    return outputs
