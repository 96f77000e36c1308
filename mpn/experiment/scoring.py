"""One edit's rates: per language, pre and post over the texts the method did not train
on (unseen), over those it did (seen) and over the translated rephrases (paraphrase);
then MG, CLG, CLG held-out (the headline), paraphrase and seen, each post with its pre."""
from __future__ import annotations

from mpn.core.schema import ENGLISH, Text


def language_rows(texts: dict[str, list[Text]], pre: list[bool], post: list[bool],
                  trained: set[Text], heldout: frozenset[str]) -> dict[str, dict]:
    """Per language: pre and post over the texts not trained on (unseen), over the ones
    trained on (seen), and (other languages) over the translated rephrases alone
    (`para`: texts no method trains on; MPN's in-language paraphrases of a translation it
    may have trained on); None where there are none."""
    rows, i = {}, 0
    for lang, ts in texts.items():
        seen = [t in trained for t in ts]
        pairs = list(zip(pre[i:i + len(ts)], post[i:i + len(ts)], seen))
        i += len(ts)
        para = pairs[1:] if lang != ENGLISH else []
        rows[lang] = {"heldout": int(lang in heldout),
                      "pre": mean_of([p for p, _, s in pairs if not s]),
                      "post": mean_of([q for _, q, s in pairs if not s]),
                      "seen_pre": mean_of([p for p, _, s in pairs if s]),
                      "seen_post": mean_of([q for _, q, s in pairs if s]),
                      "para_pre": mean_of([p for p, _, _ in para]),
                      "para_post": mean_of([q for _, q, _ in para])}
    return rows


def edit_rates(langs: dict[str, dict]) -> dict:
    """One edit's rates, each post with its pre beside it (means over languages):
    MG (English rephrases); CLG (texts this method did not train on: a method-specific
    set, so never compared across methods); CLG held-out (every text of the languages
    held out for the edit: the headline); CLG paraphrase (translated rephrases in the
    languages not held out: no method trains on them, so methods compare like for like);
    CLG seen (texts trained on: recall, not generalization)."""
    en = langs.get(ENGLISH) or {}
    others = [r for lang, r in langs.items() if lang != ENGLISH]
    unseen = [r for r in others if r["post"] is not None]
    heldout = [r for r in unseen if r["heldout"]]
    para = [r for r in others if not r["heldout"] and r["para_post"] is not None]
    seen = [r for r in others if r["seen_post"] is not None]
    return {"mg_pre": en.get("pre"), "mg": en.get("post"),
            "clg_pre": mean_of([r["pre"] for r in unseen]), "clg": mean_of([r["post"] for r in unseen]),
            "clg_heldout_pre": mean_of([r["pre"] for r in heldout]),
            "clg_heldout": mean_of([r["post"] for r in heldout]),
            "clg_paraphrase_pre": mean_of([r["para_pre"] for r in para]),
            "clg_paraphrase": mean_of([r["para_post"] for r in para]),
            "clg_seen_pre": mean_of([r["seen_pre"] for r in seen]),
            "clg_seen": mean_of([r["seen_post"] for r in seen])}


def mean_of(values) -> float | None:
    """The mean of the values that are not None, to 4 places (None if none)."""
    values = [float(v) for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def lift(post, pre):
    return None if post is None or pre is None else post - pre
