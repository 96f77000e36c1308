"""Stage `download`: write data/raw/<task>/ for every task in params `tasks`.

    python stages/download.py --out data/raw                   # as dvc.yaml runs it
    python stages/download.py --params p.yaml --out /tmp/raw
"""
from __future__ import annotations

import argparse
import logging

from mpn.data.build import download_tasks
from mpn.core.params import pipeline
from mpn.pipeline.stage import load_params, run_stage

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--out", required=True, help="output root: one folder per task")
    args = parser.parse_args()
    params = load_params(args.params)
    metas = download_tasks(pipeline(params).tasks, params.get("data") or {}, args.out)  # data.<task>: read by the task module
    for task, meta in metas.items():
        log.info("wrote %s/%s: groups per split %s", args.out, task, meta["groups"])


if __name__ == "__main__":
    run_stage(main)
