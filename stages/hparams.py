"""Stage hparams@<method>: the method's hyperparameters as its edit stages run them.

Usage: python stages/hparams.py <method> --out data/hparams/<method>.json
Reads params.yaml (`hparams.<X>`, and `hparams.mpn` for X+mpn, over the dataclass
defaults; and the held-out rotation, `hparams.mpn.heldout_languages` and
`heldout_fraction`, which every method is measured on); writes data/hparams/<method>.json.
Every edit@<task>-<method> stage reads that file and DVC tracks it instead of the whole
`hparams` section, so a knob reruns only the methods whose file it changes.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from mpn.editing.methods import method_hparams
from mpn.pipeline.io import write_json
from mpn.pipeline.stage import check_listed, load_params, run_stage, stage_parser

log = logging.getLogger(__name__)


def resolve(params: dict, method: str) -> dict:
    """{method, hparams: every field of its dataclass, heldout: {languages, by_task, fraction}}."""
    hparams = method_hparams(params, method)
    rotation = method_hparams(params, "mpn")  # the same held-out draw for every method
    return {"method": method, "hparams": dataclasses.asdict(hparams),
            "heldout": {"languages": sorted(rotation.heldout_languages), "by_task": rotation.heldout_by_task,
                        "fraction": rotation.heldout_fraction}}


def parse_args() -> argparse.Namespace:
    parser = stage_parser(__doc__)
    parser.add_argument("method", help="a method from params.yaml `methods`")
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    params = load_params()
    method = check_listed(params, "methods", "method", args.method)
    resolved = resolve(params, method)
    write_json(args.out, resolved)
    log.info("%s: %s", method, resolved)


if __name__ == "__main__":
    run_stage(main)
