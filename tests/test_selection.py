"""The one selection rule (mpn.report.selection): locality eligibility and the held-out
lift are read on the choosing fold only, and nothing of the other fold moves a choice;
and the confirmatory run's two-level interval (base models, then facts)."""
import numpy as np

from mpn.report.paired import compare_to_baseline, hierarchical
from mpn.report.selection import LOCALITY_SLACK, Run, choose, folds, locality_agreement

FACTS = [f"fact{i}" for i in range(8)]
ITEMS = [f"item{i}" for i in range(10)]


def run(lift: dict[str, float], agreement: dict[str, int], seeds=(0, 1)) -> Run:
    """Held-out lift `lift[fact]` on every edit (pre 0.2); `agreement[item]` at every stream end."""
    edits = [{"seed": s, "stream": 0, "group": f, "clg_heldout_pre": 0.2, "clg_heldout": 0.2 + lift[f],
              "es": 1, "mg_pre": 0.0, "mg": 1.0, "clg_paraphrase_pre": None, "clg_paraphrase": None}
             for s in seeds for f in FACTS]
    locality = [{"seed": s, "stream": 0, "group": i, "agreement": agreement[i]} for s in seeds for i in ITEMS]
    return Run(edits, [], locality)


def flat(value: float) -> dict[str, float]:
    return dict.fromkeys(FACTS, value)


ALL_AGREE = dict.fromkeys(ITEMS, 1)


def test_folds_split_every_key_once_and_depend_on_the_seed():
    a, b = folds(FACTS, 0)
    assert a | b == set(FACTS) and not a & b and len(a) == len(b) == 4
    assert folds(FACTS, 0) == (a, b)
    assert any(folds(FACTS, seed)[0] != a for seed in range(1, 5))


def test_the_largest_lift_among_candidates_that_keep_locality_wins():
    runs = {"base": run(flat(0.1), ALL_AGREE),
            "better": run(flat(0.3), ALL_AGREE),
            "best_but_breaks_locality": run(flat(0.6), {**ALL_AGREE, "item0": 0, "item1": 0})}
    facts, items = set(FACTS), set(ITEMS)
    assert locality_agreement(runs["best_but_breaks_locality"], items) == 0.8
    assert choose(runs, list(runs), "base", facts, items) == "better"


def test_locality_within_the_slack_is_eligible():
    """One item of 100 lost is 1 point: exactly the slack, still eligible."""
    items = [f"item{i}" for i in range(100)]
    base = Run([], [], [{"seed": 0, "stream": 0, "group": i, "agreement": 1} for i in items])
    lossy = Run([], [], [{"seed": 0, "stream": 0, "group": i, "agreement": int(i != "item0")} for i in items])
    edits = [{"seed": 0, "stream": 0, "group": "f", "clg_heldout_pre": 0.0, "clg_heldout": x} for x in (0.1, 0.5)]
    base.edits, lossy.edits = [edits[0]], [edits[1]]
    assert LOCALITY_SLACK == 0.01
    assert choose({"base": base, "lossy": lossy}, ["base", "lossy"], "base", {"f"}, set(items)) == "lossy"


def test_the_choice_reads_only_the_choosing_fold():
    """A variant that wins only on the other fold's facts, or loses locality only on the
    other fold's items, is judged on the choosing fold alone."""
    fold_a, fold_b = folds(FACTS, 0)
    items_a, items_b = folds(ITEMS, 0)
    wins_on_b = {f: (0.9 if f in fold_b else 0.0) for f in FACTS}
    breaks_on_b = {i: (0 if i in items_b else 1) for i in ITEMS}
    runs = {"base": run(flat(0.1), ALL_AGREE),
            "steady": run(flat(0.3), ALL_AGREE),
            "wins_on_b": run(wins_on_b, ALL_AGREE),
            "local_on_a_only": run(flat(0.5), breaks_on_b)}
    assert choose(runs, list(runs), "base", fold_a, items_a) == "local_on_a_only"
    assert choose(runs, list(runs), "base", fold_b, items_b) == "wins_on_b"


def test_ties_go_to_the_earlier_candidate():
    runs = {"base": run(flat(0.1), ALL_AGREE), "x": run(flat(0.3), ALL_AGREE), "y": run(flat(0.3), ALL_AGREE)}
    assert choose(runs, ["base", "x", "y"], "base", set(FACTS), set(ITEMS)) == "x"
    assert choose(runs, ["base", "y", "x"], "base", set(FACTS), set(ITEMS)) == "y"


def test_a_run_on_one_fold_compares_locality_on_its_items_only():
    """Run.only rebuilds the stream ends from the fold's items, so the paired locality
    difference is the one on those items."""
    items_a, items_b = folds(ITEMS, 0)
    base = run(flat(0.1), ALL_AGREE)
    lossy = run(flat(0.1), {i: (0 if i in items_b else 1) for i in ITEMS})
    on_a = compare_to_baseline(lossy.only(set(FACTS), items_a), base.only(set(FACTS), items_a), 100, 0)
    on_b = compare_to_baseline(lossy.only(set(FACTS), items_b), base.only(set(FACTS), items_b), 100, 0)
    assert on_a["locality_agreement"].mean == 0.0
    assert on_b["locality_agreement"].mean == -1.0


def test_the_hierarchical_interval_widens_with_the_spread_between_base_models():
    """Same facts' spread within each model; base models that disagree give a wider
    interval than models that agree, around the mean of the models' means."""
    rng = np.random.default_rng(0)
    within = [rng.normal(0, 0.1, 100) for _ in range(3)]
    agree = hierarchical([w + 0.2 for w in within], 1000, 0)
    disagree = hierarchical([w + shift for w, shift in zip(within, (0.0, 0.2, 0.4))], 1000, 0)
    assert abs(agree["mean"] - disagree["mean"]) < 1e-9
    assert agree["low"] < agree["mean"] < agree["high"]
    assert disagree["high"] - disagree["low"] > 3 * (agree["high"] - agree["low"])
    assert hierarchical([[], []], 10, 0) is None
