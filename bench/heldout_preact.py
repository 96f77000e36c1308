"""Where a held-out translation sits on its edit's patch: the patch's pre-activation.

    python bench/heldout_preact.py --task fever --variant "mpn-tuned:act_coef=15" [--max-edits 400] [--seed 0]

Runs the edit stage's streams for one seed (as bench/transfer_study.py, variants in its
syntax) and, right after each edit, reads the new patch's pre-activation k.h + b on the
edit's translations: trained (the pool) and held out. Prints one JSON line: for each
kind, how many are right after the edit, and of the wrong ones how many the patch
fires on (above 0) or nearly fires on (above -1, where GELU's dip pushes them the wrong
way), with the median pre-activation of the right and the wrong ones.
"""
import argparse
import json
import statistics

from common import bench_main
from transfer_study import set_up

from mpn.editing.features import FeatureStore
from mpn.experiment.sequential import SequentialEditing
from mpn.pipeline.commands import stage_paths
from mpn.core.schema import ENGLISH, as_text
from mpn.pipeline.stage import load_params


class PreactLog(SequentialEditing):
    """SequentialEditing that keeps each edit's patch pre-activation on its translations."""

    def __init__(self, editor, locality: list[dict], **kwargs):
        super().__init__(editor, locality, **kwargs)
        self.rows: list[dict] = []

    def _edit(self, e: dict, stream: int, step: int) -> dict:
        row = super()._edit(e, stream, step)
        engine = self.editor.engine
        langs = sorted(e["translations"])
        h = engine.features([as_text(e["input"])] + [as_text(e["translations"][lang]) for lang in langs])
        preact = (h @ engine.patches.keys[-1] + engine.patches.biases[-1]).tolist()    # (1 + langs,)
        self.rows.append({"preact": dict(zip([ENGLISH, *langs], preact)), "right": row["translation_post"],
                          "heldout": row["heldout_languages"]})
        return row


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def summary(pairs: list[tuple[float, int]]) -> dict:
    """(pre-activation, right after the edit) pairs -> counts and medians."""
    wrong = [a for a, right in pairs if not right]
    right = [a for a, right in pairs if right]
    return {"n": len(pairs), "right": len(right), "wrong": len(wrong),
            "wrong_firing": sum(a > 0 for a in wrong), "wrong_above_minus_1": sum(a > -1 for a in wrong),
            "median_preact_right": median(right), "median_preact_wrong": median(wrong)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--variant", default="mpn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-edits", type=int, default=None)
    args = parser.parse_args()
    params = load_params()
    features = FeatureStore.load(stage_paths("features", {"task": args.task})["out"])
    setup = set_up(args.variant, args.task, params, args.max_edits, features, runner_class=PreactLog)
    runner = setup.runner
    setup.run([args.seed], processes=1)  # in this process, so the rows stay here
    kinds = {"heldout": [], "trained": []}
    for row in runner.rows:
        for lang, a in row["preact"].items():
            if lang != ENGLISH:
                kinds["heldout" if lang in row["heldout"] else "trained"].append((a, row["right"][lang]))
    print(json.dumps({"task": args.task, "variant": args.variant, "seed": args.seed, "edits": len(runner.rows),
                      **{kind: summary(pairs) for kind, pairs in kinds.items()},
                      "median_preact_english": median([r["preact"][ENGLISH] for r in runner.rows])}))


if __name__ == "__main__":
    bench_main(main)
