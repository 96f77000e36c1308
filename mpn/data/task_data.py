"""A task as built: its rows (in mpn.core.schema's row schema) and its meta."""
from __future__ import annotations

from dataclasses import dataclass, field

from mpn.core.schema import SPLITS


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
