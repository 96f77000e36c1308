"""How much of a held-out language's offset can a key erase with what the pool languages show?

    python bench/language_subspace.py --task xfacts [--ranks 1 8 32 128]

A patch fires on k.h + b. Between an English edit input and its translation into L the
FFN input moves by d_L = h_L - h_en; a key orthogonal to d_L fires on both alike. Fit on
unlabeled memory rows of the *other* languages (the pool: never L's rows), two subspaces:

- means: the span of the pool languages' mean offsets (mean h_l minus mean h_en),
  what the `erase_languages` knob on branch `erase30` projects out;
- pairs r: the top-r principal directions of the pool's paired differences
  h_l(x) - h_en(x) over memory groups x (the same fact in two languages).

For each held-out language L, on the edit inputs and their translations (texts the fit
never saw): the share of the energy sum ||d_L||^2 inside each subspace (what erasing it
removes from the key's view of the language change), the share of that energy in L's
mean shift (the most an exact erasure of L's own mean offset could remove), and the
cosine between h_en and h_L (centred on the memory mean) before and after. Prints one
JSON line per language and a mean line. Needs a pipeline run of the task (its features
and edit sets, where dvc.yaml puts them).
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import torch

from mpn.editing.features import FeatureStore
from mpn.pipeline.commands import stage_paths
from mpn.core.io import read_jsonl
from mpn.core.schema import ENGLISH, as_text


def paired_rows(rows: list[dict], index: dict, per_language: int) -> dict[str, torch.Tensor]:
    """{lang: (pairs, 2) indices of [English row, lang row]} over groups with both, at most
    `per_language` per language, in file order."""
    by_group = defaultdict(dict)
    for r in rows:
        key = as_text(r["input"])
        if key in index:
            by_group[r["group"]][r["lang"]] = index[key]
    pairs = defaultdict(list)
    for langs in by_group.values():
        for lang, row in langs.items():
            if lang != ENGLISH and ENGLISH in langs and len(pairs[lang]) < per_language:
                pairs[lang].append((langs[ENGLISH], row))
    return {lang: torch.tensor(p) for lang, p in pairs.items()}


def energy_share(d: torch.Tensor, basis: torch.Tensor) -> float:
    """Share of sum ||d||^2 inside the span of `basis` (orthonormal rows)."""
    return float((d @ basis.T).pow(2).sum() / d.pow(2).sum()) if basis.shape[0] else 0.0


def orthonormal(vectors: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of the rows' span, largest singular value first."""
    _, singular, vh = torch.linalg.svd(vectors, full_matrices=False)
    return vh[singular > singular[0] * 1e-6]


def mean_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b).mean())


def cosine_after_erasing(a: torch.Tensor, b: torch.Tensor, basis: torch.Tensor) -> float:
    """mean_cosine of the rows of `a` and `b` with the span of `basis` removed from both."""
    def erase(x):
        return x - (x @ basis.T) @ basis                            # (rows, hidden)
    return mean_cosine(erase(a), erase(b))


def average(lines: list[dict], *keys: str) -> float:
    """The mean over `lines` of line[keys[0]][keys[1]]..."""
    values = []
    for line in lines:
        for key in keys:
            line = line[key]
        values.append(line)
    return round(sum(values) / len(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="xfacts")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--per-language", type=int, default=200, help="memory pairs per pool language")
    args = parser.parse_args()
    paths = stage_paths("features", {"task": args.task})   # where dvc.yaml puts them
    store, edit_sets = FeatureStore.load(paths["out"]), paths["edits"]
    clean = store.clean.double()
    index = {t: i for i, t in enumerate(store.texts)}
    memory = read_jsonl(edit_sets / "memory.jsonl")
    pairs = paired_rows(memory, index, args.per_language)
    center = clean[torch.cat(list(pairs.values())).flatten().unique()].mean(0)
    diffs = {lang: clean[p[:, 1]] - clean[p[:, 0]] for lang, p in pairs.items()}
    edits = read_jsonl(edit_sets / "edits.jsonl")
    lines = []
    for held in sorted(diffs):
        pool = [lang for lang in sorted(diffs) if lang != held]
        test = [(index[as_text(e["input"])], index[as_text(e["translations"][held])])
                for e in edits if held in e["translations"] and as_text(e["translations"][held]) in index]
        en, tr = clean[[i for i, _ in test]] - center, clean[[j for _, j in test]] - center
        d = tr - en
        means = orthonormal(torch.stack([diffs[lang].mean(0) for lang in pool]))
        pooled = orthonormal(torch.cat([diffs[lang] for lang in pool]))      # (directions, hidden), by variance
        line = {"task": args.task, "heldout": held, "pool": pool, "n_test_pairs": len(test),
                "cos_before": round(mean_cosine(en, tr), 3),
                # the language's mean shift as a share of the per-item shifts' energy: all
                # that erasing its mean offset exactly (its own rows in the fit) could remove
                "mean_part": round(float(d.mean(0).pow(2).sum() / d.pow(2).sum(1).mean()), 3),
                "means": {"rank": means.shape[0], "share": round(energy_share(d, means), 3),
                          "mean_offset_share": round(energy_share(d.mean(0, keepdim=True), means), 3)}}
        for rank in args.ranks:
            basis = pooled[:rank]
            line[f"pairs_{rank}"] = {"share": round(energy_share(d, basis), 3),
                                     "cos_after": round(cosine_after_erasing(en, tr, basis), 3),
                                     "own_share": round(energy_share(diffs[held], basis), 3)}
        line["means"]["cos_after"] = round(cosine_after_erasing(en, tr, means), 3)
        print(json.dumps(line), flush=True)
        lines.append(line)
    summary = {"task": args.task, "heldout": "mean", "cos_before": average(lines, "cos_before"),
               "mean_part": average(lines, "mean_part"),
               "means": {"share": average(lines, "means", "share"), "cos_after": average(lines, "means", "cos_after")}}
    for rank in args.ranks:
        summary[f"pairs_{rank}"] = {"share": average(lines, f"pairs_{rank}", "share"),
                                    "cos_after": average(lines, f"pairs_{rank}", "cos_after")}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
