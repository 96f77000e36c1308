"""An HTML template that makes `dvc plots show` draw its Vega charts without internet.

DVC fills an HTML template's `{plot_divs}` with one `vegaEmbed(...)` call per plot and
its `{scripts}` with <script> tags that load Vega from a CDN. This template leaves out
`{scripts}` and carries vega, vega-lite and vega-embed inline instead (from vendor/),
so the page DVC writes is self-contained: it draws offline wherever `-o` puts it.

    python -m mpn.report.offline            # (re)write .dvc/plots/offline.html
    python -m mpn.report.offline --check    # exit 1 if the committed file is stale

`.dvc/config` sets `plots.html_template = plots/offline.html` (relative to .dvc/), so a
plain `dvc plots show` uses it; `dvc plots show --html-template <file>` overrides it.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mpn.core.errors import UserError
from mpn.core.io import write_text

log = logging.getLogger(__name__)

VENDOR_DIR = Path(__file__).parent / "vendor"
VENDOR_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
TEMPLATE_PATH = Path(".dvc") / "plots" / "offline.html"
# What DVC substitutes (dvc_render.html.HTML); {scripts} is left out on purpose.
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")

HEAD = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC plots (offline)</title>
    <!-- Built by `python -m mpn.report.offline` from mpn/report/vendor/: vega, vega-lite
         and vega-embed inlined (BSD-3-Clause, University of Washington Interactive Data
         Lab; see the LICENSE files there), so the page needs no CDN. -->
"""
TAIL = """    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def inline_script(name: str, source: str) -> str:
    # An inline script ends at the first "</script", and DVC would substitute a
    # placeholder found inside the JS; neither may occur in the vendored code.
    if "</script" in source.lower():
        raise UserError(f"{name}: contains '</script' and cannot be inlined")
    for placeholder in PLACEHOLDERS:
        if placeholder in source:
            raise UserError(f"{name}: contains DVC's placeholder {placeholder}")
    return f"    <script>/* {name} */\n{source}\n    </script>\n"


def build_template(vendor_dir: Path = VENDOR_DIR) -> str:
    scripts = []
    for name in VENDOR_SCRIPTS:
        path = vendor_dir / name
        if not path.is_file():
            raise UserError(f"missing {path}: see {vendor_dir / 'README.md'} for how to "
                            "fetch it from npm")
        scripts.append(inline_script(name, path.read_text(encoding="utf-8")))
    return HEAD + "".join(scripts) + TAIL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TEMPLATE_PATH)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if --out differs from a fresh build")
    args = parser.parse_args(argv)
    html = build_template()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != html:
            log.error("%s is stale: run python -m mpn.report.offline", args.out)
            return 1
        return 0
    write_text(args.out, html)
    log.info("wrote %s (%d KB)", args.out, len(html) // 1024)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    sys.exit(main())
