"""What a calibrated gate costs: each patch's false-fire and flip rate on unrelated
inputs against the transfer it keeps, per language, at a range of target rates.

    python bench/gate_curve.py --task xfacts --variant mpn-tuned [--seeds 0 1 2] [--pool 400] \
        [--level 0] > results/gate_curve_<task>_<date>.jsonl

Runs the edit stage's streams for `--seeds` (variants in bench/transfer_study.py's
syntax). The pool: per language up to `--pool` rows of groups no edit set uses (no edit,
locality, memory or validation-memory fact; on xfacts the memory takes every train and
val group, so these are test and edit-split facts), split by fact into a calibration
half and a measurement half.

Right after each edit, the new patch's gate is set from the calibration half, in the
languages not held out for that edit (a held-out language is never read to set it): its
bias lowered until at most a share `rate` of those rows has a pre-activation above
`--level` (rate 0: none, the largest; at level 0 a fire is a positive pre-activation,
and a silent patch still adds GELU's dip), but no further than the edit stays right on
every text it trained on (mpn.editing.gate, as `silence_below`). Then, per rate, on the
measurement half (every language: measuring enters no loss), the share of rows the
patch fires on (false fires) and the share whose prediction it changes (flips: the
patch gated against no patch); and the edit's English input and translations (trained,
held out) with the gate. The bias is put back after reading, so the stream trains as the
variant does: these are each patch's rates right after its edit, not a long stream's.
The translations' predictions before each edit give the pre-edit rate.

One JSON line per rate (RATES; None: no gate): mean bias shift, the share of edits where
keeping the edit right capped it, ES, held-out and trained translations' lift, false
fires and flips per patch (mean, and per language), the share of patches with no false
fire, and (1 - flips)^1000, the agreement 1,000 such patches would leave if each flipped
rows independently of the others (docs/benchmarks.md, issue 43). Intervals resample
facts.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
from collections import defaultdict

import torch
from common import bench_main, by_fact, used_groups
from transfer_study import set_up

from mpn.core.schema import ENGLISH, as_text, model_input
from mpn.data import load_rows
from mpn.editing.features import FeatureStore
from mpn.editing.gate import largest_right_shift
from mpn.experiment.sequential import SequentialEditing
from mpn.pipeline.commands import stage_paths
from mpn.pipeline.stage import load_params
from mpn.report.paired import hierarchical

RATES = (None, 0.05, 0.01, 0.001, 0.0)   # None: the patch as trained, no gate
SILENT = -1e9                            # a bias no input reaches: the patch switched off
N_BOOTSTRAP = 1000


def pool_rows(task: str, used: set[str], per_lang: int, seed: int) -> dict[str, list[dict]]:
    """Up to `per_lang` rows a language of groups not in `used` (any split), split by group
    (a seeded half each) into "calibrate" and "measure"."""
    data = stage_paths("sample_edits", {"task": task})["data"]
    rows = [r for r in load_rows(task, data) if r["group"] not in used]
    groups = sorted({r["group"] for r in rows})
    calibrate = set(random.Random(f"gate_curve:{seed}").sample(groups, len(groups) // 2))
    by_lang = defaultdict(list)
    for r in rows:
        by_lang[r["lang"]].append(r)
    out = {"calibrate": [], "measure": []}
    for lang, lang_rows in sorted(by_lang.items()):
        for r in random.Random(f"gate_curve:{seed}:{lang}").sample(lang_rows, min(per_lang, len(lang_rows))):
            out["calibrate" if r["group"] in calibrate else "measure"].append(r)
    return out


class GateLog(SequentialEditing):
    """SequentialEditing that reads each new patch at a range of calibrated gates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows: list[dict] = []
        self.level = 0.0   # where the gate puts the calibration quantile (main: --level)
        edit = self.editor.edit

        def recorded(*args, **kwargs):   # keep each edit's result: its method's own figures
            self.last_result = edit(*args, **kwargs)
            return self.last_result
        self.editor.edit = recorded

    def set_pool(self, pool: dict[str, list[dict]]) -> None:
        engine = self.editor.engine
        self.calibrate = engine.features([model_input(r) for r in pool["calibrate"]])   # (rows, hidden)
        self.calibrate_langs = [r["lang"] for r in pool["calibrate"]]
        self.measure = engine.features([model_input(r) for r in pool["measure"]])       # (rows, hidden)
        self.measure_langs = [r["lang"] for r in pool["measure"]]

    def _edit(self, e: dict, stream: int, step: int) -> dict:
        translations = {lang: as_text(t) for lang, t in sorted(e["translations"].items())}
        texts = [as_text(e["input"]), *translations.values()]
        pre = [p == e["target"] for p in self.editor.predict(texts)]
        row = super()._edit(e, stream, step)
        patches = self.editor.engine.patches
        key, bias = patches.keys[-1], patches.biases[-1].item()
        heldout = set(row["heldout_languages"])
        seen = torch.tensor([lang not in heldout for lang in self.calibrate_langs], dtype=torch.bool)
        calibrate = self.calibrate[seen] @ key + bias                                     # (rows,)
        measure = self.measure @ key + bias                                               # (rows,)
        patches.biases.data[-1] = SILENT
        without = self.editor.engine.logits_from_features(self.measure).argmax(-1)
        trained = [as_text(e["input"])] + [translations[lang] for lang in row["trained_languages"]]

        def right(shift: float) -> bool:   # the edit still right on every text it trained on
            patches.biases.data[-1] = bias - shift
            return all(p == e["target"] for p in self.editor.predict(trained))

        by_rate = {}
        for rate in RATES:
            wanted = 0.0 if rate is None else max(0.0, torch.quantile(calibrate, 1 - rate).item() - self.level)
            shift = largest_right_shift(wanted, right)
            patches.biases.data[-1] = bias - shift
            post = [p == e["target"] for p in self.editor.predict(texts)]
            flips = (self.editor.engine.logits_from_features(self.measure).argmax(-1) != without).tolist()
            fires = (measure - shift > 0).tolist()
            by_rate[str(rate)] = {"shift": shift, "capped": shift < wanted, "post": post,
                                  "fires": per_lang(fires, self.measure_langs),
                                  "flips": per_lang(flips, self.measure_langs)}
        patches.biases.data[-1] = bias
        langs = [ENGLISH, *translations]
        self.rows.append({"group": e["group"], "langs": langs, "pre": pre, "heldout": sorted(heldout),
                          "trained": row["trained_languages"], "by_rate": by_rate,
                          "sharpened": self.last_result.extras.get("sharpened")})
        return row


def per_lang(flags: list[bool], langs: list[str]) -> dict[str, float]:
    out = defaultdict(list)
    for flag, lang in zip(flags, langs):
        out[lang].append(flag)
    return {lang: statistics.mean(v) for lang, v in sorted(out.items())}


def lift(row: dict, gated: dict, kind: str) -> float | None:
    """Mean post - pre over the edit's held-out (or trained) translations, gated."""
    chosen = set(row["heldout"] if kind == "heldout" else row["trained"])
    lifts = [post - pre for lang, pre, post in zip(row["langs"][1:], row["pre"][1:], gated["post"][1:])
             if lang in chosen]
    return statistics.mean(lifts) if lifts else None


def interval(rows: list[dict], value) -> dict | None:
    """A per-edit value's mean with a 95% interval resampling facts."""
    return hierarchical([by_fact(rows, value)], N_BOOTSTRAP, 0)


def summary(rows: list[dict], rate: str) -> dict:
    """The edits' rates with every patch gated at `rate`."""
    def gated(row: dict) -> dict:
        return row["by_rate"][rate]

    def by_lang(name: str) -> dict[str, float]:
        values = defaultdict(list)
        for row in rows:
            for lang, v in gated(row)[name].items():
                values[lang].append(v)
        return {lang: round(statistics.mean(v), 6) for lang, v in sorted(values.items())}

    flips = interval(rows, lambda r: statistics.mean(gated(r)["flips"].values()))
    fires = [statistics.mean(gated(r)["fires"].values()) for r in rows]
    return {"rate": None if rate == "None" else float(rate), "edits": len(rows),
            "facts": len({r["group"] for r in rows}),
            "shift_mean": round(statistics.mean(gated(r)["shift"] for r in rows), 4),
            "capped": round(statistics.mean(gated(r)["capped"] for r in rows), 4),
            # the share of patches `sharpen` scaled (the others stayed as trained; null: knob off)
            "sharpened": (round(statistics.mean(r["sharpened"] for r in rows), 4)
                          if all(r["sharpened"] is not None for r in rows) else None),
            "es": interval(rows, lambda r: float(gated(r)["post"][0])),
            "heldout_lift": interval(rows, lambda r: lift(r, gated(r), "heldout")),
            "trained_lift": interval(rows, lambda r: lift(r, gated(r), "trained")),
            "false_fires": round(statistics.mean(fires), 6),
            "patches_without_false_fire": round(statistics.mean(f == 0 for f in fires), 4),
            "flips": flips,
            # what 1,000 such patches would keep if each flipped rows independently of the others
            "agreement_1000_if_independent": round((1 - flips["mean"]) ** 1000, 4),
            "false_fires_by_lang": by_lang("fires"), "flips_by_lang": by_lang("flips")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--variant", default="mpn-tuned")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pool", type=int, default=400, help="unrelated rows a language, both halves")
    parser.add_argument("--max-edits", type=int, default=None)
    parser.add_argument("--level", type=float, default=0.0,
                        help="put the calibration quantile here (0: at zero; -3: below most of GELU's dip)")
    args = parser.parse_args()
    params = load_params()
    features = FeatureStore.load(stage_paths("features", {"task": args.task})["out"])
    setup = set_up(args.variant, args.task, params, args.max_edits, features, runner_class=GateLog)
    pool = pool_rows(args.task, used_groups(setup, args.task), args.pool, 0)
    setup.runner.set_pool(pool)
    setup.runner.level = args.level
    setup.run(args.seeds, processes=1)  # in this process, so the rows stay here
    print(json.dumps({"task": args.task, "variant": args.variant, "seeds": args.seeds, "level": args.level,
                      "pool": {half: len(rows) for half, rows in pool.items()}}), flush=True)
    for rate in RATES:
        print(json.dumps(summary(setup.runner.rows, str(rate))), flush=True)


if __name__ == "__main__":
    bench_main(main)
