"""XNLI: premise/hypothesis pairs aligned across languages by pairID (the group), each
group under its English premise (the fact: XNLI writes three hypotheses per premise,
and a split, a memory row or an interval never separates them).

Sources: `mirror` (xnli.dev.tsv, xnli.test.tsv in <mirror_dir>/xnli/), `hub` (the
XNLI-1.0 zip), `hub_dataset` (the Hugging Face dataset, one config per language; rows
there are aligned by position, which stands in for pairID). Only pairs present in every
requested language are kept; every row of a pair carries the English gold label.
"""
from __future__ import annotations

import io
import logging
import zipfile
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Iterator

from mpn.data import sources
from mpn.data.registry import Task, register
from mpn.data.settings import DataConfig, choice, languages, task_section
from mpn.data.splits import apply_splits, parse_parts
from mpn.data.task_data import TaskData
from mpn.core.errors import UserError
from mpn.core.readers import DECODE_ERRORS, iter_tsv
from mpn.core.schema import ORIGINAL, fact_group, make_row

log = logging.getLogger(__name__)

NAME = "xnli"
SOURCES = ("mirror", "hub", "hub_dataset")
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr",
                  "ur", "vi", "zh")
LABELS = ["entailment", "neutral", "contradiction"]
TSV_PARTS = ("dev", "test")
HF_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
COLUMNS = ("language", "gold_label", "sentence1", "sentence2", "pairID")
DEFAULTS: dict[str, Any] = {
    "source": "mirror",
    "languages": ["en", "sw", "ur"],
    "url": "https://dl.fbaipublicfiles.com/XNLI/XNLI-1.0.zip",
    "hf_dataset": "facebook/xnli",
    "parts": {"dev": ["train", "val", "edit"], "test": ["test"]},
}

Pairs = dict[str, dict[str, dict]]   # lang -> pairID -> {gold_label, sentence1, sentence2}


def file_name(part: str) -> str:
    return f"xnli.{part}.tsv"


def read_pairs(lines, name: str) -> Pairs:
    pairs: Pairs = defaultdict(dict)
    for lineno, row in iter_tsv(lines, name, COLUMNS):
        if row["gold_label"] not in LABELS:
            raise UserError(f"{name}:{lineno}: unknown gold_label {row['gold_label']!r}; "
                            f"allowed: {', '.join(LABELS)}")
        by_id = pairs[row["language"]]
        if row["pairID"] in by_id:
            raise UserError(f"{name}:{lineno}: duplicate pairID {row['pairID']!r} for "
                            f"language {row['language']!r}")
        by_id[row["pairID"]] = {k: row[k] for k in ("gold_label", "sentence1", "sentence2")}
    return pairs


def align(pairs: Pairs, langs: list[str], part: str, where: str) -> list[dict]:
    """Rows for the pairIDs present in every language of `langs`."""
    for lang in langs:
        if lang not in pairs:
            raise UserError(f"xnli: language {lang!r} not in {where} (has: "
                            f"{', '.join(sorted(pairs)) or 'no rows'})")
    common = set.intersection(*(set(pairs[lang]) for lang in langs))
    log.info("xnli: %s: %d pairs in all of %s (%d English pairs dropped)", where, len(common),
             ", ".join(langs), len(pairs["en"]) - len(common))
    rows, premises = [], {}   # English premise -> its number, in pairID order
    for pair_id in sorted(common, key=_natural):
        premise = premises.setdefault(pairs["en"][pair_id]["sentence1"], len(premises))
        group = fact_group(f"{part}-p{premise}", pair_id)
        label = pairs["en"][pair_id]["gold_label"]
        for lang in langs:
            p = pairs[lang][pair_id]
            rows.append(make_row(id=group if lang == "en" else f"{group}/{lang}", group=group,
                                 lang=lang, variant=ORIGINAL, label=label,
                                 texts={"premise": p["sentence1"], "hypothesis": p["sentence2"]}))
    return rows


def _natural(pair_id: str) -> tuple:
    return (0, int(pair_id), "") if pair_id.isdigit() else (1, 0, pair_id)


class XnliBuilder:
    def __init__(self, section: dict[str, Any], cfg: DataConfig):
        c = task_section(section, NAME, DEFAULTS)
        self.cfg = cfg
        self.source = choice(c["source"], SOURCES, "data.xnli.source")
        allowed = None if self.source == "mirror" else XNLI_LANGUAGES
        self.languages = languages(c["languages"], allowed, "data.xnli.languages")
        self.url = str(c["url"])
        self.hf_dataset = str(c["hf_dataset"])
        allowed_parts = tuple(HF_SPLITS) if self.source == "hub_dataset" else TSV_PARTS
        self.parts = parse_parts(c["parts"], allowed_parts, "data.xnli.parts")
        if self.source == "mirror":
            for part in self.parts:
                sources.mirror_file(cfg, NAME, file_name(part))

    @contextmanager
    def _open_part(self, part: str) -> Iterator[tuple[Any, str]]:
        if self.source == "mirror":
            path = sources.mirror_file(self.cfg, NAME, file_name(part))
            with open(path, encoding="utf-8", errors=DECODE_ERRORS, newline="") as f:
                yield f, str(path)
            return
        archive = sources.cached_download(self.cfg, NAME, self.url)
        member = f"XNLI-1.0/{file_name(part)}"
        try:
            with zipfile.ZipFile(archive) as zf, zf.open(member) as raw:
                yield (io.TextIOWrapper(raw, encoding="utf-8", errors=DECODE_ERRORS, newline=""),
                       f"{archive}:{member}")
        except (zipfile.BadZipFile, KeyError) as err:
            raise UserError(f"{archive}: not the XNLI-1.0 zip ({' '.join(str(err).split())})") from None

    def _pairs(self, part: str) -> tuple[Pairs, str]:
        if self.source == "hub_dataset":
            return _load_hf(self.hf_dataset, self.languages, HF_SPLITS[part]), \
                f"{self.hf_dataset}[{HF_SPLITS[part]}]"
        with self._open_part(part) as (lines, name):
            return read_pairs(lines, name), name

    def __call__(self) -> TaskData:
        rows_by_part = {}
        for part in self.parts:
            pairs, where = self._pairs(part)
            rows_by_part[part] = align(pairs, self.languages, part, where)
        rows = apply_splits(rows_by_part, self.parts, self.cfg.split_ratios, self.cfg.seed, NAME)
        return TaskData(task=NAME, source=self.source, labels=LABELS,
                        text_fields=["premise", "hypothesis"], languages=self.languages, rows=rows)


def _load_hf(dataset: str, langs: list[str], split: str) -> Pairs:
    """Per-language configs of the HF dataset; position in the split is the pair id."""
    import datasets  # heavy import, only for this source

    pairs: Pairs = {}
    for lang in langs:
        try:
            ds = datasets.load_dataset(dataset, lang, split=split)
        except (OSError, ValueError) as err:
            raise UserError(f"cannot load {dataset} config {lang!r} split {split!r}: "
                            f"{' '.join(str(err).split())}") from None
        names = ds.features["label"].names
        pairs[lang] = {str(i): {"gold_label": names[ex["label"]], "sentence1": ex["premise"],
                                "sentence2": ex["hypothesis"]} for i, ex in enumerate(ds)}
    return pairs


register(Task(name=NAME, sources=SOURCES, prepare=XnliBuilder))
