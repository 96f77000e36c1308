"""report.json and metrics.json from the streams' logs: every rate over seeds with its
pre-edit control and a fact-level 95% interval; locality, retention, steps and timing."""
from __future__ import annotations

import statistics

from mpn.experiment.metrics import rate, ratio
from mpn.experiment.scoring import lift
from mpn.experiment.stream_log import StreamLog
from mpn.core.schema import ENGLISH, fact_of


RATE_KEYS = ("mg", "clg", "clg_heldout", "clg_paraphrase")  # each reported as post, _pre and _lift
# What DVC's own views list (metrics.json): each with its pre-edit control beside it.
HEADLINE = ("es", "mg_pre", "mg", "mg_lift", "clg_pre", "clg", "clg_lift", "clg_heldout_pre", "clg_heldout",
            "clg_heldout_lift", "locality_agreement", "locality", "er")


def summarize(logs: list[StreamLog], n_bootstrap: int, seed: int, facts: list[str] | None = None) -> dict:
    """report.json: every rate over seeds (mean, between-seed sd, and a 95% interval from
    resampling whole facts, the same draw for every seed and method: `facts`, the edit
    set's groups, is the universe drawn from); each generalization rate with its
    pre-edit control; the counts of facts and of edit rows."""
    edits = [row for lg in logs for row in lg.edits]
    seeds = [row["seed"] for row in edits]
    groups = [row["group"] for row in edits]
    universe = sorted(set(facts if facts is not None else groups))

    def over_edits(values) -> dict | None:
        return rate(values, seeds, groups, n_bootstrap, seed, universe)

    out = {"es": over_edits([r["es"] for r in edits])}
    for key in RATE_KEYS:
        out[key] = over_edits([r[key] for r in edits])
        out[f"{key}_pre"] = over_edits([r[f"{key}_pre"] for r in edits])
        out[f"{key}_lift"] = over_edits([lift(r[key], r[f"{key}_pre"]) for r in edits])
    out["clg_seen"] = over_edits([r["clg_seen"] for r in edits])
    out["clg_seen_pre"] = over_edits([r["clg_seen_pre"] for r in edits])
    langs = sorted({lang for r in edits for lang in r["by_lang"] if lang != ENGLISH})
    for name, only_heldout in (("clg_by_lang", False), ("clg_heldout_by_lang", True)):
        for suffix, value in (("", lambda x: x["post"]), ("_pre", lambda x: x["pre"]),
                              ("_lift", lambda x: lift(x["post"], x["pre"]))):
            out[name + suffix] = {lang: over_edits([value(r["by_lang"][lang])
                                                    if lang in r["by_lang"] and (r["by_lang"][lang]["heldout"] or not only_heldout)
                                                    else None for r in edits])
                                  for lang in langs}
    out["heldout_edits_by_lang"] = {lang: sum(lang in r["heldout_languages"] for r in edits) for lang in langs}
    out.update(_locality(logs, n_bootstrap, seed))
    out["er"] = rate([x for lg in logs for x in lg.retained], [lg.seed for lg in logs for _ in lg.retained],
                     [row["group"] for lg in logs for row in lg.edits], n_bootstrap, seed, universe)
    out.update(_retention_by_lang(logs, langs, n_bootstrap, seed, universe))
    out["seeds"] = sorted({lg.seed for lg in logs})
    out["n_facts"] = len({fact_of(g) for g in groups})
    out["n_edits"] = len(edits)
    out["n_edits_by_seed"] = [sum(s == k for s in seeds) for k in out["seeds"]]
    out["n_streams"] = len(logs) // max(1, len(out["seeds"]))
    out["patches"] = len(edits)
    out["steps_per_edit"] = statistics.median([r["steps"] for r in edits]) if edits else None
    return out


def headline(report: dict) -> dict:
    """metrics.json, the file `dvc metrics show/diff` and `dvc exp show` list: each
    HEADLINE rate's mean, the counts, and under ci95 each interval as a [low, high] list
    (DVC's tables leave lists out, so they stay a few columns wide; reports read them)."""
    out: dict = {key: report[key]["mean"] if report[key] else None for key in HEADLINE}
    out.update(n_edits=report["n_edits"], n_facts=report["n_facts"])
    out["ci95"] = {key: [report[key]["low"], report[key]["high"]] for key in HEADLINE if report[key]}
    return out


def _retention_by_lang(logs: list[StreamLog], langs: list[str], n_bootstrap: int, seed: int,
                       universe: list[str]) -> dict:
    """Per language, over the edits made: is the edit's translation right at the end of
    its stream (er_by_lang), beside right just after the edit (its control)?"""
    made = [(lg.seed, row["group"], after, end) for lg in logs
            for row, after, end in zip(lg.edits, lg.translation_after_edit, lg.translation_at_end)]
    seeds, groups = [m[0] for m in made], [m[1] for m in made]
    out = {"er_by_lang": {}, "er_by_lang_after_edit": {}}
    for lang in langs:
        for key, column in (("er_by_lang", 3), ("er_by_lang_after_edit", 2)):
            out[key][lang] = rate([m[column].get(lang) for m in made], seeds, groups, n_bootstrap, seed, universe)
    return out


def _locality(logs: list[StreamLog], n_bootstrap: int, seed: int) -> dict:
    """Locality resamples its items' facts: the same items are measured in every stream
    and seed, so a stream x item row is no independent draw."""
    after = [x for lg in logs for x in lg.locality_after]
    base = [x for lg in logs for x in lg.locality_base]
    langs = [x for lg in logs for x in lg.locality_langs]
    facts = [x for lg in logs for x in lg.locality_groups]
    seeds = [lg.seed for lg in logs for _ in lg.locality_after]
    universe = sorted(set(facts))

    def of(lang):
        keep = [i for i, item_lang in enumerate(langs) if item_lang == lang]
        return ratio([after[i] for i in keep], [base[i] for i in keep], [seeds[i] for i in keep],
                     [facts[i] for i in keep], n_bootstrap, seed, universe)

    out = {"locality": ratio(after, base, seeds, facts, n_bootstrap, seed, universe),
           "locality_by_lang": {lang: of(lang) for lang in sorted(set(langs))},
           "locality_agreement": rate([x for lg in logs for x in lg.agreement], seeds, facts, n_bootstrap, seed,
                                      universe)}
    kl = [x for lg in logs for x in lg.kl]
    if kl:   # causal LMs: the mean KL of the next token, per language (means over items)
        out["locality_kl"] = round(statistics.mean(kl), 6)
        out["locality_kl_by_lang"] = {lang: round(statistics.mean(k for k, item_lang in zip(kl, langs)
                                                                  if item_lang == lang), 6)
                                      for lang in sorted(set(langs))}
    return out


def timing(logs: list[StreamLog]) -> dict:
    """Machine-dependent costs, kept out of report.json so reruns give identical files."""
    seconds = [row["seconds"] for lg in logs for row in lg.edits if "seconds" in row]
    return {"sec_per_edit": round(statistics.median(seconds), 4) if seconds else None,
            "edit_seconds_total": round(sum(seconds), 2)}
