"""Stage hparams@<method>: the method's hyperparameters as its edit stages run them.

Usage: python stages/hparams.py <method> --out data/hparams/<method>.json
Reads params.yaml (`hparams.<X>`, and `hparams.mpn` for X+mpn, over the dataclass
defaults; and the held-out rotation, `hparams.mpn.heldout_languages` and
`heldout_fraction`, which every method is measured on); writes data/hparams/<method>.json.
Every edit@<task>-<method> stage reads that file and DVC tracks it instead of the whole
`hparams` section, so a knob reruns only the methods whose file it changes.
"""
from __future__ import annotations

import dataclasses
import logging

from mpn.editing.methods import method_hparams
from mpn.pipeline.io import write_json
from mpn.pipeline.stage import run_stage, stage_args

log = logging.getLogger(__name__)


def resolve(params: dict, method: str) -> dict:
    """{method, hparams: every field of its dataclass, heldout: {languages, by_task, fraction}}."""
    hparams = method_hparams(params, method)
    rotation = method_hparams(params, "mpn")  # the same held-out draw for every method
    return {"method": method, "hparams": dataclasses.asdict(hparams),
            "heldout": {"languages": sorted(rotation.heldout_languages), "by_task": rotation.heldout_by_task,
                        "fraction": rotation.heldout_fraction}}


PATHS = {"out": "the JSON file to write"}


def main() -> None:
    args, params = stage_args(__doc__, ("method",), PATHS)
    method = args.method
    resolved = resolve(params, method)
    write_json(args.out, resolved)
    log.info("%s: %s", method, resolved)


if __name__ == "__main__":
    run_stage(main)
