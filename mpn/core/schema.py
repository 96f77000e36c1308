"""What every stage and report agrees on, in one place: the normalized row (docs/design.md
section 3), the text an edit or feature is keyed by, and the columns of the per-edit and
curve reports. Light on purpose (no torch, no task modules): everything imports it."""
from __future__ import annotations

from mpn.core.errors import UserError

SPLITS = ("train", "val", "edit", "test")
ORIGINAL = "original"     # a row's variant: the item itself, not a rephrasing
ENGLISH = "en"            # edits are made in English

Text = str | tuple[str, str]  # a claim, or a (premise, hypothesis) pair

# A group id may name the fact it belongs to before this mark ("dev-p12~3456": XNLI's
# pair 3456 of premise 12; FEVER: a claim under its evidence page): the fact is the unit
# of splits and of every interval.
FACT_MARK = "~"


def rephrase(n: int) -> str:
    """Variant name of the n-th rephrasing (n >= 1)."""
    return f"rephrase{n}"


def fact_group(fact: str, member: str) -> str:
    """The id of a group that names its fact ("dev-p12", "3456" -> "dev-p12~3456")."""
    return f"{fact}{FACT_MARK}{member}"


def names_fact(group: str) -> bool:
    """Does the group name a fact of its own (else it is its own fact)?"""
    return FACT_MARK in group


def fact_of(group):
    """The fact a group states: the part before FACT_MARK, else the group itself (any
    other key, e.g. a stream's, is its own fact)."""
    return group.partition(FACT_MARK)[0] if isinstance(group, str) else group


def make_row(*, id: str, group: str, lang: str, variant: str, label: str,
             texts: dict[str, str], split: str = "") -> dict:
    return {"id": id, "group": group, "lang": lang, "variant": variant, "split": split,
            "label": label, **texts}


def model_input(row: dict) -> Text:
    """The classifier's input for a normalized row: the claim, or (premise, hypothesis)."""
    if "claim" in row:
        return row["claim"]
    if "premise" in row and "hypothesis" in row:
        return (row["premise"], row["hypothesis"])
    raise UserError(f"row {row.get('id', '?')!r} has no text fields; expected 'claim' or "
                    "'premise' and 'hypothesis'")


def as_text(value) -> Text:
    """jsonl stores pairs as lists; texts are keyed by tuples."""
    return tuple(value) if isinstance(value, list) else value


# reports/tasks/<task>/<method>/edits.csv: one row per edit made; curve.csv: every eval_every edits
EDITS_COLUMNS = ("seed", "stream", "step", "group", "es", "mg_pre", "mg", "clg_pre", "clg",
                 "clg_heldout_pre", "clg_heldout", "clg_paraphrase_pre", "clg_paraphrase",
                 "clg_seen_pre", "clg_seen", "steps", "patches", "trained_languages", "heldout_languages")
CURVE_COLUMNS = ("seed", "stream", "n_edits", "locality", "agreement", "er")
