"""Question-answer edits a user brings in MzsRE's shape, as LM facts (mpn.data.xfacts.prompts.LMFact).

The file is a JSON list; each record is one edit, keyed by language code, each language
holding that language's version of it:

    [{"en": {"src": "Which country is Xanadu in?", "alt": "Mongolia",
             "rephrase": "Xanadu is located in which country?",
             "answers": ["China"],                      # optional: the true answer
             "loc": "nq question: who wrote hamlet", "loc_ans": "Shakespeare",
             "subject": "Xanadu"},                      # optional
      "de": {"src": "...", "alt": "...", ...}}, ...]

The question is the prompt and the answer its completion, after one space; "en" is
required (edits are made in English), the other languages are the translations. `loc`
and `loc_ans` become the fact's locality completion in each language.
"""
from __future__ import annotations

import json
from pathlib import Path

from mpn.core.errors import UserError
from mpn.data.xfacts.prompts import Completion, LMFact

REQUIRED = ("src", "alt")


def _answer(text: str) -> str:
    return " " + text.strip()


def _record(path: Path, index: int, record) -> LMFact:
    where = f"{path}: record {index}"
    if not isinstance(record, dict) or "en" not in record:
        raise UserError(f"{where}: expected an object keyed by language with an 'en' entry; "
                        f"got {type(record).__name__}{' without en' if isinstance(record, dict) else ''}")
    true, new, unrelated = {}, {}, {}
    for lang, entry in sorted(record.items()):
        missing = [key for key in REQUIRED if not isinstance(entry, dict) or not str(entry.get(key, "")).strip()]
        if missing:
            raise UserError(f"{where}: language {lang!r} lacks {', '.join(missing)}; each language needs "
                            f"non-empty {', '.join(REQUIRED)} (rephrase, answers, loc, loc_ans optional)")
        prompts = [entry["src"].strip()] + ([entry["rephrase"].strip()] if entry.get("rephrase") else [])
        new[lang] = [Completion(p, _answer(entry["alt"])) for p in prompts]
        if entry.get("answers"):
            true[lang] = [Completion(p, _answer(entry["answers"][0])) for p in prompts]
        if entry.get("loc") and entry.get("loc_ans"):
            unrelated[lang] = [Completion(entry["loc"].strip(), _answer(entry["loc_ans"]))]
    en = record["en"]
    return LMFact(f"mzsre-{index}", "zsre", str(en.get("subject") or index),
                  (en.get("answers") or [""])[0], en["alt"].strip(), true, new, unrelated)


def load_mzsre(path: str | Path) -> list[LMFact]:
    """The edits of an MzsRE-format JSON file, in file order; a bad record is a UserError
    naming the file, the record and the key."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{err.lineno}: not JSON ({err.msg})") from None
    if not isinstance(records, list) or not records:
        raise UserError(f"{path}: expected a non-empty JSON list of records; got {type(records).__name__}")
    return [_record(path, i, r) for i, r in enumerate(records)]
