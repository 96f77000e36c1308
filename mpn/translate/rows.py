"""Raw rows in, translated rows out: the data contract's side of the translate stage."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from mpn.core.errors import UserError
from mpn.core.io import read_json, read_jsonl
from mpn.core.schema import SPLITS

KEY_FIELDS = ("id", "group", "lang", "variant", "split", "label")


def load_raw(task: str, root: str | Path = "data") -> tuple[list[dict], list[str]]:
    """All raw rows of `task` (splits in contract order) and its text fields."""
    raw_dir = Path(root) / "raw" / task
    files = sorted(raw_dir.glob("*.jsonl"),
                   key=lambda p: (SPLITS.index(p.stem) if p.stem in SPLITS
                                  else len(SPLITS), p.stem))
    if not files:
        raise UserError(f"no raw data for task {task!r}: {raw_dir}/*.jsonl is missing; "
                        "run the download stage first (dvc repro download)")
    rows = [row for path in files for row in read_jsonl(path)]
    meta_path = raw_dir / "meta.json"
    fields = read_json(meta_path).get("text_fields") if meta_path.exists() else None
    fields = fields or (["premise", "hypothesis"] if "premise" in rows[0] else ["claim"])
    _check_rows(rows, fields, raw_dir)
    return rows, list(fields)


def _check_rows(rows: list[dict], fields: list[str], where: Path) -> None:
    for row in rows:
        missing = [k for k in (*KEY_FIELDS, *fields) if not isinstance(row.get(k), str)]
        if missing:
            raise UserError(f"{where}: row {row.get('id')!r} lacks string field(s) "
                            f"{', '.join(missing)}; every row needs {', '.join(KEY_FIELDS)} "
                            f"and {', '.join(fields)}")


def groups_by_lang(rows: list[dict]) -> dict[str, set[str]]:
    """language -> groups the raw data carries in it."""
    carried: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        carried[row["lang"]].add(row["group"])
    return carried


def carried_texts(rows: list[dict], target: str, fields: list[str]) -> dict[str, str]:
    """English text -> the target-language text of the same group, variant and field."""
    by_key = {(r["group"], r["variant"]): r for r in rows if r["lang"] == target}
    pairs: dict[str, str] = {}
    for row in rows:
        other = by_key.get((row["group"], row["variant"])) if row["lang"] == "en" else None
        for name in fields if other else ():
            pairs.setdefault(row[name], other[name])
    return pairs


def texts_of(rows: list[dict], fields: list[str]) -> list[str]:
    """The non-blank texts to translate, in row order (blank ones stay as they are)."""
    return [row[name] for row in rows for name in fields if row[name].strip()]


def translated_row(row: dict, lang: str, fields: list[str], translations: dict[str, str],
                   id_suffix: str | None = None) -> dict | None:
    """`row` in `lang`, or None when one of its texts has no translation."""
    out = {k: row[k] for k in KEY_FIELDS}
    out["id"] = f"{row['id']}/{id_suffix or lang}"
    out["lang"] = lang
    for name in fields:
        text = row[name]
        out[name] = translations.get(text) if text.strip() else text
        if out[name] is None:
            return None
    return out


def next_rephrase(rows: list[dict]) -> dict[str, str]:
    """group -> the first English variant name "rephraseN" no row of the group uses yet."""
    used: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["lang"] == "en":
            used[row["group"]].add(row["variant"])
    free = {}
    for group, variants in used.items():
        n = 1
        while f"rephrase{n}" in variants:
            n += 1
        free[group] = f"rephrase{n}"
    return free
