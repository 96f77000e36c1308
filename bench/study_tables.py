"""Markdown tables from a bench/transfer_study.py output (its JSON lines), as docs/benchmarks.md
shows them: one row per variant, one row per fold choice, and the choices' spread.

    python bench/study_tables.py results/transfer_xnli_fair_2026-12-06.jsonl

Rates in %, differences in points with their 95% fact-level interval.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

SIDES = {"patcher": "Transformer-Patcher", "patcher+mpn": "MPN"}


def points(x: float | None) -> str:
    return "" if x is None else f"{100 * x:+.1f}"


def interval(diff: dict | None) -> str:
    if not diff or diff.get("mean") is None:
        return ""
    return f"{points(diff['mean'])} [{points(diff['low'])}, {points(diff['high'])}]"


def rate(r: dict | None) -> str:
    return "" if not r or r.get("mean") is None else f"{100 * r['mean']:.1f}"


def read_lines(path: Path) -> tuple[list[dict], list[dict], dict]:
    variants, folds, spread = [], [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "variant" in row:
            variants.append(row)
        elif "fold_seed" in row:
            folds.append(row)
        elif "spread" in row:
            spread = row["spread"]
    return variants, folds, spread


def variant_table(variants: list[dict]) -> list[str]:
    kinds = sorted({k for v in variants for k in v.get("near_agreement", {})})
    head = ["Variant", "Held-out pre -> post (lift)", "minus patcher: held-out lift",
            "minus patcher: locality agreement", "minus its like-for-like: held-out lift",
            "Locality agreement"] + [f"near: {k}" for k in kinds] + \
           [f"minus patcher: near {k}" for k in kinds] + ["ES", "Steps (median)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in variants:
        vs = v.get("vs_patcher", {})
        like = f"{interval(v['vs_like_for_like']['clg_heldout_lift'])} (`{v.get('like_for_like', '')}`)" \
            if "vs_like_for_like" in v else ""
        cells = [f"`{v['variant']}`",
                 f"{rate(v['clg_heldout_pre'])} -> {rate(v['clg_heldout'])} ({points(v['clg_heldout_lift']['mean'])})",
                 interval(vs.get("clg_heldout_lift")), interval(vs.get("locality_agreement")), like,
                 rate(v["locality_agreement"])]
        cells += [f"{100 * v['near_agreement'][k]:.1f}" if k in v.get("near_agreement", {}) else "" for k in kinds]
        cells += [interval(vs.get(f"near_{k}_agreement")) for k in kinds]
        cells += [rate(v["es"]), f"{v['steps_per_edit']:g}"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def fold_table(folds: list[dict]) -> list[str]:
    head = ["Fold seed", "Chosen on", "Transformer-Patcher's choice", "MPN's choice",
            "its choice minus patcher (other half)", "MPN's choice minus patcher (other half)",
            "**MPN's choice minus Transformer-Patcher's**: held-out lift", "the same: locality agreement"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f in folds:
        chosen, other = f["chosen"], f["vs_patcher_on_other_fold"]
        both = f.get("patcher+mpn_minus_patcher_chosen", {})
        out.append("| " + " | ".join([
            str(f["fold_seed"]), f["fold"], f"`{chosen.get('patcher')}`", f"`{chosen.get('patcher+mpn')}`",
            interval(other.get("patcher", {}).get("clg_heldout_lift")),
            interval(other.get("patcher+mpn", {}).get("clg_heldout_lift")),
            interval(both.get("clg_heldout_lift")), interval(both.get("locality_agreement"))]) + " |")
    return out


def spread_lines(spread: dict) -> list[str]:
    out = []
    for side, counts in spread.get("times_chosen", {}).items():
        picked = ", ".join(f"`{spec}` {n}" for spec, n in sorted(counts.items(), key=lambda x: -x[1]) if n)
        out.append(f"- {SIDES.get(side, side)}: chosen {picked} (of {spread['choices']}); "
                   f"frozen: `{spread.get('frozen', {}).get(side)}`")
    for key, r in spread.get("heldout_lift_on_other_fold", {}).items():
        if r:
            out.append(f"- {key}: held-out lift on the other half {points(r['mean'])} "
                       f"({points(r['min'])} to {points(r['max'])}, n={r['n']})")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="bench/transfer_study.py's output (JSON lines)")
    args = parser.parse_args()
    variants, folds, spread = read_lines(args.study)
    print("\n".join(variant_table(variants) + [""] + fold_table(folds) + [""] + spread_lines(spread)))


if __name__ == "__main__":
    main()
