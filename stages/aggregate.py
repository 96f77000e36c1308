"""Stage aggregate: every task's and method's reports -> summary.json, summary.md,
paired.json, figures/ and plots/ (see mpn/report/).

Usage: python stages/aggregate.py --tasks reports/tasks --timings reports/timings --out reports
"""

from mpn.pipeline.stage import run_stage, stage_args
from mpn.report import aggregate
from mpn.report.inputs import ReportLayout


PATHS = {"tasks": "the per-task reports: <tasks>/<task>/base.json and <tasks>/<task>/<method>/",
         "timings": "the edit stages' untracked timings: <timings>/<task>/<method>.json",
         "out": "the summaries' folder"}


def main() -> None:
    args, params = stage_args(__doc__, paths=PATHS)
    aggregate(params, ReportLayout(args.tasks, args.timings), args.out)


if __name__ == "__main__":
    run_stage(main)
