"""`dvc plots show` must draw its charts without internet: the shipped HTML template
inlines vega, vega-lite and vega-embed. Checked in a real headless browser on a small
DVC repo built here (never the real pipeline), with every host name unresolvable."""
from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvc_render.html import HTML, PAGE_HTML

from mpn.core.errors import UserError
from mpn.report.figures import write_figures
from mpn.report.inputs import MethodReport, TaskReport
from mpn.report.offline import TEMPLATE_PATH, build_template, inline_script
from mpn.report.plot_data import write_plot_data

REPO = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run",
                  "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no CDN reachable
                  "--virtual-time-budget=5000"]


def test_committed_template_is_built_from_the_vendored_scripts():
    assert (REPO / TEMPLATE_PATH).read_text(encoding="utf-8") == build_template(), (
        "stale .dvc/plots/offline.html: run python -m mpn.report.offline")


def test_template_fills_plots_and_loads_nothing_from_the_network():
    template = build_template()
    assert "{plot_divs}" in template
    assert "{scripts}" not in template  # where DVC would put its CDN <script src> tags
    assert not re.search(r"<script[^>]+src=", template)
    cdn_tag = "<script src='https://cdn.example/vega.js'></script>"
    page = HTML(template).with_scripts(cdn_tag).with_element("<div id='x'></div>").embed()
    assert "<div id='x'></div>" in page and cdn_tag not in page


def test_dvc_config_makes_the_offline_template_the_default():
    config = configparser.ConfigParser()
    config.read(REPO / ".dvc" / "config")
    relative = config["plots"]["html_template"]  # DVC resolves it against .dvc/
    assert (REPO / ".dvc" / relative).resolve() == (REPO / TEMPLATE_PATH).resolve()


@pytest.mark.parametrize("source", ["a='</script>'", "a='</SCRIPT >'", "x='{plot_divs}'"])
def test_code_that_would_break_the_page_is_refused(source):
    with pytest.raises(UserError, match="bad.js: contains"):
        inline_script("bad.js", source)


def rate(mean):
    return {"mean": mean, "low": mean - 0.1, "high": mean + 0.1}


def tiny_report() -> TaskReport:
    """One task, two methods, in memory: enough for every kind of plot."""
    methods = {}
    for method, clg in (("patcher", 0.4), ("mpn", 0.6)):
        metrics = {"clg_by_lang": {"de": rate(clg), "sw": rate(clg - 0.1)},
                   "clg_by_lang_pre": {"de": rate(0.3), "sw": rate(0.3)},
                   "heldout_languages": ["sw"]}
        curve = [{"seed": 0, "stream": "0", "n_edits": n, "locality": 1 - n / 50, "agreement": 1 - n / 60,
                  "er": 1 - n / 40}
                 for n in (2, 4, 6)]
        methods[method] = MethodReport(method, metrics, [], curve)
    by_lang = {"en": 0.9, "de": 0.8, "sw": 0.6}
    base = {"majority_baseline": 0.5, "val": {"accuracy_by_lang": by_lang},
            "test": {"accuracy_by_lang": by_lang}}
    return TaskReport("xfacts", base, methods)


def run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory) -> Path:
    """git + DVC repo with the project's plot definitions, templates and config, and
    plot data written by the real report code."""
    repo = tmp_path_factory.mktemp("plots_repo")
    run(["git", "init", "-q"], repo)
    run([DVC, "init", "-q"], repo)
    shutil.copytree(REPO / ".dvc" / "plots", repo / ".dvc" / "plots")
    shutil.copy(REPO / ".dvc" / "config", repo / ".dvc" / "config")
    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"plots": plots}))
    write_plot_data([tiny_report()], repo / "reports" / "plots")
    write_figures([tiny_report()], repo / "reports" / "figures", dpi=40)
    return repo


def vega_div_ids(page: str) -> list[str]:
    return re.findall(r'<div id = "([^"]+)">\s*<script', page)


def rendered_ids(dom: str, ids: list[str]) -> list[str]:
    """Plot divs that hold a drawn chart: a canvas or SVG with a non-zero size."""
    drawn = []
    for div_id in ids:
        start = dom.index(f'id="{div_id}"')
        end = dom.find('<div id="', start + 1)
        chunk = dom[start:end if end > 0 else len(dom)]
        if re.search(r'<(canvas|svg)[^>]*width="[1-9]', chunk):
            drawn.append(div_id)
    return drawn


def dump_dom(page: Path, profile: Path) -> str:
    return run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                page.as_uri()], page.parent)


@pytest.mark.slow  # runs dvc and a headless browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: install Debian's "
                    "chromium to check that dvc plots show draws offline")
def test_dvc_plots_show_draws_every_chart_offline(plots_repo, tmp_path):
    run([DVC, "plots", "show"], plots_repo)  # no flags: the template comes from .dvc/config
    page = plots_repo / "dvc_plots" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in html
    ids = vega_div_ids(html)
    assert len(ids) == 1 + 1 + 2  # clg_by_lang, base_accuracy, curves for 2 methods
    assert html.count('<img src="static/') == 4  # the PNG figures, as image plots
    assert rendered_ids(dump_dom(page, tmp_path / "profile"), ids) == ids


@pytest.mark.slow  # runs dvc and a headless browser
@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")
def test_dvc_default_page_draws_nothing_offline(plots_repo, tmp_path):
    """The control: DVC's own template (CDN scripts) draws no chart when offline, so the
    check above can fail and does measure the offline template."""
    default = tmp_path / "default.html"
    default.write_text(PAGE_HTML)
    run([DVC, "plots", "show", "-o", str(tmp_path / "out"), "--html-template", str(default)],
        plots_repo)
    page = tmp_path / "out" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert "cdn.jsdelivr" in html
    ids = vega_div_ids(html)
    assert ids and rendered_ids(dump_dom(page, tmp_path / "profile"), ids) == []
