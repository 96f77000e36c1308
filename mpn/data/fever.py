"""FEVER 1.0 (official jsonl: id, verifiable, label, claim, evidence), claim-only, English.

Exact duplicate claims are kept once; a claim that occurs with conflicting labels is
dropped. A claim found in two upstream files is kept in the one feeding the later split
(test before edit, val, train), so that no claim text crosses splits.

A claim's group names the Wikipedia page of its first evidence sentence as its fact
("Soul_Food_-LRB-film-RRB-~137334"; mpn.core.schema.fact_of): claims about one page
share a split, and intervals resample pages. A claim without evidence (NOT ENOUGH INFO)
is its own fact. (paper_dev and paper_test share no page.)
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from mpn.data import sources
from mpn.data.registry import Task, register
from mpn.data.settings import DataConfig, choice, task_section
from mpn.data.splits import apply_splits, parse_parts
from mpn.data.task_data import TaskData
from mpn.core.errors import UserError
from mpn.core.readers import DECODE_ERRORS, iter_jsonl
from mpn.core.schema import FACT_MARK, ORIGINAL, SPLITS, fact_group, make_row

log = logging.getLogger(__name__)

NAME = "fever"
SOURCES = ("hub", "mirror")
PARTS = ("train", "paper_dev", "paper_test")      # upstream file = <part>.jsonl
NEI = "NOT ENOUGH INFO"
LABEL_SCHEMES = {"binary": ["SUPPORTS", "REFUTES"],
                 "three_way": ["SUPPORTS", "REFUTES", NEI]}
DEFAULTS: dict[str, Any] = {
    "source": "mirror",
    "label_scheme": "binary",
    "base_url": "https://fever.ai/download/fever",
    "parts": {"train": ["train"], "paper_dev": ["val", "edit"], "paper_test": ["test"]},
    "parts_without_train": {"paper_dev": ["train", "val", "edit"], "paper_test": ["test"]},
}


def file_name(part: str) -> str:
    return f"{part}.jsonl"


def read_claims(lines, name: str) -> list[dict]:
    """Validated FEVER rows: {id: str, label, claim, page (None without evidence)}."""
    out = []
    for lineno, row in iter_jsonl(lines, name):
        for key in ("id", "label", "claim"):
            if key not in row:
                raise UserError(f"{name}:{lineno}: missing field {key!r}")
        if row["label"] not in LABEL_SCHEMES["three_way"]:
            raise UserError(f"{name}:{lineno}: unknown label {row['label']!r}; allowed: "
                            f"{', '.join(LABEL_SCHEMES['three_way'])}")
        if not isinstance(row["claim"], str) or not row["claim"].strip():
            raise UserError(f"{name}:{lineno}: field 'claim' must be a non-empty string")
        out.append({"id": str(row["id"]), "label": row["label"], "claim": row["claim"].strip(),
                    "page": first_page(row.get("evidence"))})
    return out


def first_page(evidence) -> str | None:
    """The page of the first evidence sentence (FEVER: [[[annotation, evidence, page,
    sentence], ...], ...]), or None; FACT_MARK in a title is replaced (it ends the fact)."""
    for evidence_set in evidence or []:
        for item in evidence_set or []:
            if isinstance(item, list) and len(item) > 2 and isinstance(item[2], str) and item[2]:
                return item[2].replace(FACT_MARK, "_")
    return None


def _part_rank(splits: list[str]) -> int:
    return max(SPLITS.index(s) for s in splits)


def dedupe(claims_by_part: dict[str, list[dict]], parts: dict[str, list[str]]) -> dict[str, list[dict]]:
    """One row per claim text; conflicting labels drop the claim (see module doc)."""
    seen: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for part in sorted(parts, key=lambda p: -_part_rank(parts[p])):
        for claim in claims_by_part[part]:
            seen[claim["claim"]].append((part, claim))
    out: dict[str, list[dict]] = {part: [] for part in parts}
    conflicts = 0
    for copies in seen.values():
        if len({c["label"] for _, c in copies}) > 1:
            conflicts += 1
            continue
        part, claim = copies[0]
        out[part].append(claim)
    n_dupes = sum(len(c) - 1 for c in seen.values())
    log.info("fever: %d duplicate claim rows merged, %d claims with conflicting labels dropped",
             n_dupes, conflicts)
    return out


def to_rows(claims: list[dict]) -> list[dict]:
    """A claim with an evidence page is grouped under it; one without is its own fact."""
    return [make_row(id=c["id"], group=c["id"] if c["page"] is None else fact_group(c["page"], c["id"]),
                     lang="en", variant=ORIGINAL, label=c["label"], texts={"claim": c["claim"]})
            for c in claims]


class FeverBuilder:
    def __init__(self, section: dict[str, Any], cfg: DataConfig):
        c = task_section(section, NAME, DEFAULTS)
        self.cfg = cfg
        self.source = choice(c["source"], SOURCES, "data.fever.source")
        self.scheme = choice(c["label_scheme"], tuple(LABEL_SCHEMES), "data.fever.label_scheme")
        self.base_url = str(c["base_url"]).rstrip("/")
        self.parts = self._choose_parts(c)

    def _choose_parts(self, c: dict[str, Any]) -> dict[str, list[str]]:
        parts = parse_parts(c["parts"], PARTS, "data.fever.parts")
        if self.source != "mirror":
            return parts
        missing = [p for p in parts if not sources.mirror_path(self.cfg, NAME, file_name(p)).is_file()]
        if missing and c["parts_without_train"] is not None:
            fallback = parse_parts(c["parts_without_train"], PARTS, "data.fever.parts_without_train")
            log.info("fever: mirror lacks %s; using data.fever.parts_without_train: %s",
                     ", ".join(file_name(p) for p in missing),
                     "; ".join(f"{', '.join(s)} from {file_name(p)}" for p, s in fallback.items()))
            parts = fallback
        for part in parts:
            sources.mirror_file(self.cfg, NAME, file_name(part))
        return parts

    def _path(self, part: str) -> Path:
        if self.source == "mirror":
            return sources.mirror_file(self.cfg, NAME, file_name(part))
        return sources.cached_download(self.cfg, NAME, f"{self.base_url}/{file_name(part)}")

    def __call__(self) -> TaskData:
        keep = set(LABEL_SCHEMES[self.scheme])
        claims_by_part = {}
        for part in self.parts:
            path = self._path(part)
            with open(path, encoding="utf-8", errors=DECODE_ERRORS) as f:
                claims = read_claims(f, str(path))
            claims_by_part[part] = [c for c in claims if c["label"] in keep]
            log.info("fever: %s: %d rows, %d kept with label scheme %s", path, len(claims),
                     len(claims_by_part[part]), self.scheme)
        claims_by_part = dedupe(claims_by_part, self.parts)
        rows_by_part = {part: to_rows(claims) for part, claims in claims_by_part.items()}
        rows = apply_splits(rows_by_part, self.parts, self.cfg.split_ratios, self.cfg.seed, NAME)
        return TaskData(task=NAME, source=self.source, labels=LABEL_SCHEMES[self.scheme],
                        text_fields=["claim"], languages=["en"], rows=rows)


register(Task(name=NAME, sources=SOURCES, prepare=FeverBuilder))
