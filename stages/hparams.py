"""Stage hparams@<method>: the method's hyperparameters as its edit stages run them.

Usage: python stages/hparams.py <method> --out data/hparams/<method>.json
    --needs data/feature_needs/<method>.json
Reads params.yaml's `hparams` sections and `presets` (mpn.editing.resolver: `hparams.<X>`,
`hparams.mpn` for X+mpn, a preset's settings, over the dataclass defaults); writes
data/hparams/<method>.json: {name, method (what runs: mpn-tuned -> patcher+mpn), hparams,
lm (what it runs on a causal LM, from `lm.hparams` and the preset: mpn.editing.lm_methods)},
which edit@<task>-<method> reads, and data/feature_needs/<method>.json: the knobs
features@<task> reads (n_views, memory_per_language; a causal LM's layer). DVC tracks
these files instead of the whole `hparams` section, so a knob reruns only the stages
whose file it changes.
"""
from __future__ import annotations

import logging

from mpn.editing.lm_methods import resolve_lm_method
from mpn.editing.resolver import resolve_method
from mpn.core.io import write_json
from mpn.pipeline.stage import run_stage, stage_args

log = logging.getLogger(__name__)
PATHS = {"out": "the resolved hyperparameters (JSON)",
         "needs": "what the features stage needs of them (JSON): n_views, memory_per_language"}


def main() -> None:
    args, params = stage_args(__doc__, ("method",), PATHS)
    resolved = resolve_method(params, args.method)
    lm = resolve_lm_method(params, args.method)
    hparams = resolved.hparams
    write_json(args.needs, {"n_views": hparams.n_views, "memory_per_language": hparams.memory_per_language,
                            "lm_layer": lm["hparams"]["layer"]})
    write_json(args.out, resolved.as_dict() | {"lm": lm})
    log.info("%s: %s", args.method, resolved.as_dict() | {"lm": lm})


if __name__ == "__main__":
    run_stage(main)
