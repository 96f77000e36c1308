"""Stage aggregate: every task's and method's edit reports -> reports/summary.json,
reports/summary.md, reports/figures/, reports/plots/ (see mpn/report/)."""
from mpn.pipeline.stage import load_params, run_stage
from mpn.report import aggregate


def main() -> None:
    aggregate(load_params())


if __name__ == "__main__":
    run_stage(main)
