"""Stage aggregate: every task's and method's reports -> summary.json, summary.md,
paired.json, figures/ and plots/ (see mpn/report/).

Usage: python stages/aggregate.py --tasks reports/tasks --timings reports/timings --out reports
"""
import argparse
from pathlib import Path

from mpn.pipeline.stage import load_params, run_stage, stage_parser
from mpn.report import aggregate
from mpn.report.inputs import ReportLayout


def parse_args() -> argparse.Namespace:
    parser = stage_parser(__doc__)
    parser.add_argument("--tasks", type=Path, required=True,
                        help="the per-task reports: <tasks>/<task>/base.json and <tasks>/<task>/<method>/")
    parser.add_argument("--timings", type=Path, required=True,
                        help="the edit stages' untracked timings: <timings>/<task>/<method>.json")
    parser.add_argument("--out", type=Path, required=True, help="the summaries' folder")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    aggregate(load_params(), ReportLayout(args.tasks, args.timings), args.out)


if __name__ == "__main__":
    run_stage(main)
