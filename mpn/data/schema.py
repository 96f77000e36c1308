"""The normalized row schema every task is written in (see the data contract)."""
from __future__ import annotations

from dataclasses import dataclass, field

SPLITS = ("train", "val", "edit", "test")
ORIGINAL = "original"


def rephrase(n: int) -> str:
    """Variant name of the n-th rephrasing (n >= 1)."""
    return f"rephrase{n}"


def make_row(*, id: str, group: str, lang: str, variant: str, label: str,
             texts: dict[str, str], split: str = "") -> dict:
    return {"id": id, "group": group, "lang": lang, "variant": variant, "split": split,
            "label": label, **texts}


@dataclass
class TaskData:
    """One task, built and split, ready to write: rows carry their split."""
    task: str
    source: str
    labels: list[str]
    text_fields: list[str]
    languages: list[str]
    rows: list[dict] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
        for row in self.rows:
            per_lang = out[row["split"]]
            per_lang[row["lang"]] = per_lang.get(row["lang"], 0) + 1
        return {s: dict(sorted(v.items())) for s, v in out.items()}

    def meta(self) -> dict:
        return {"task": self.task, "source": self.source, "labels": self.labels,
                "text_fields": self.text_fields, "languages": self.languages,
                "counts": self.counts(), "groups": self.group_counts()}

    def group_counts(self) -> dict[str, int]:
        groups: dict[str, set[str]] = {s: set() for s in SPLITS}
        for row in self.rows:
            groups[row["split"]].add(row["group"])
        return {s: len(g) for s, g in groups.items()}
