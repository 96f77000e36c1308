"""The sets of a completion task (kind "complete", xfacts-lm) for the pipeline's stages:
a causal LM, not fine-tuned, judged on prompts. Each stage script hands a completion task
to the function here named after it; the files are the classifiers' where the aggregate
stage reads them (base.json), the task's own otherwise.

    finetune      models/<task>/ (the LM as it is, float32); base.json: the true objects
                  it completes per language on drawn val and test facts
    sample_edits  the edit split's facts the LM does not complete with their new object
                  (the candidates), the locality and the memory facts
    features      the memory's MLP inputs at each layer a method edits

The edit stage's streams: mpn.experiment.lm_tasks.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_file

from mpn.core.errors import UserError
from mpn.core.io import atomic_folder, read_jsonl, write_json, write_jsonl
from mpn.core.knobs import knob
from mpn.core.schema import ENGLISH
from mpn.data.xfacts.lm_task import facts_from_rows
from mpn.data.xfacts.prompts import Completion, LMFact
from mpn.editing.lm_base import LMEditorBase
from mpn.model.lm import is_causal_lm, load_causal_lm

log = logging.getLogger(__name__)
Pair = tuple[str, str]   # (prompt, target)


def pair(c: Completion) -> Pair:
    return (c.prompt, c.target)


def judge(editor: LMEditorBase, pairs: list[Pair]) -> list[bool]:
    """Is every target token the greedy next token (teacher-forced), per (prompt, target)?"""
    return [complete for complete, _ in editor.scores(pairs)] if pairs else []


@dataclass(frozen=True)
class LMTaskSettings:
    """params.yaml's `lm`: the sizes of a completion task's sets (its methods' knobs,
    `lm.hparams`, are read by mpn.editing.lm_methods.resolve_lm_method)."""
    SECTION: ClassVar[str] = "lm"
    n_eval_facts: int = knob(20, ge=1)   # base.json: val and test facts judged in every language
    stream_length: int = knob(5, ge=1)   # edits a seed: one stream a seed, drawn from the candidates
    n_locality: int = knob(20, ge=1)     # test facts whose next tokens locality compares
    n_memory: int = knob(30, ge=0)       # train facts in the memory (every language)
    seed: int = knob(0, ge=0)            # the draws of the sets and of each seed's stream
    hparams: dict = knob({})             # lm.hparams.<method>, lm.hparams.mpn


def split_facts(rows: list[dict], split: str) -> list[LMFact]:
    return facts_from_rows([r for r in rows if r["split"] == split])


def draw(facts: list[LMFact], n: int, key: str) -> list[LMFact]:
    """A seeded sample of `n` facts (all when there are fewer), in draw order."""
    return random.Random(key).sample(facts, min(n, len(facts)))


def load_lm(name: str, where: str):
    """(model, tokenizer) of a causal LM named by params key `where`."""
    if not is_causal_lm(name):
        raise UserError(f"{where}: {name!r} is not a causal language model; a completion task needs one, "
                        "e.g. gemma-3-270m (offline), a hub name or a local folder")
    return load_causal_lm(name)


# --- finetune@<task> -----------------------------------------------------------------

def save_lm(model, tokenizer, folder: Path) -> None:
    with atomic_folder(folder) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def base_report(task: str, editor: LMEditorBase, rows: list[dict], settings: LMTaskSettings) -> dict:
    """base.json: per split (val, test) and language, the share of `n_eval_facts` drawn
    facts whose first prompt the LM completes with the true object (greedy, every token),
    and on test the share where it finds the true object likelier than the new one; the
    majority baseline: the share of drawn English test facts whose true object is the
    train split's commonest."""
    out: dict[str, Any] = {"task": task, "labels": ["true"], "kind": "complete"}
    drawn = {split: draw(split_facts(rows, split), settings.n_eval_facts, f"{settings.seed}:{task}:base:{split}")
             for split in ("val", "test")}
    for split, facts in drawn.items():
        items = [(lang, f.true[lang][0], f.new[lang][0]) for f in facts for lang in f.true]
        judged = editor.scores([pair(c) for _, t, n in items for c in (t, n)])
        right = [judged[2 * i][0] for i in range(len(items))]
        prefers = [judged[2 * i][1] > judged[2 * i + 1][1] for i in range(len(items))]
        langs = [lang for lang, _, _ in items]
        out[split] = {"n_facts": len(facts), "accuracy": round(statistics.mean(right), 4),
                      "accuracy_by_lang": _by_lang(langs, right), "prefers_true_by_lang": _by_lang(langs, prefers)}
    commonest = Counter(f.true[ENGLISH][0].target for f in split_facts(rows, "train")).most_common(1)[0][0]
    out["majority_baseline"] = round(statistics.mean(f.true[ENGLISH][0].target == commonest for f in drawn["test"]), 4)
    return out


def _by_lang(langs: list[str], values: list[bool]) -> dict[str, float]:
    order = list(dict.fromkeys(langs))
    return {lang: round(statistics.mean(v for l, v in zip(langs, values) if l == lang), 4) for lang in order}


def finetune(task: str, model_name: str, rows: list[dict], settings: LMTaskSettings, model_folder: Path):
    """The LM as it is into `model_folder`; its base.json."""
    model, tokenizer = load_lm(model_name, "finetune.model")
    report = base_report(task, LMEditorBase(model, tokenizer), rows, settings)
    save_lm(model, tokenizer, model_folder)
    return report


# --- sample_edits@<task> ---------------------------------------------------------------

def fact_json(fact: LMFact) -> dict:
    return dataclasses.asdict(fact)


def fact_from_json(row: dict) -> LMFact:
    def completions(by_lang: dict) -> dict[str, list[Completion]]:
        return {lang: [Completion(**c) for c in cs] for lang, cs in by_lang.items()}
    return LMFact(row["group"], row["relation"], row["subject"], row["value"], row["new_value"],
                  completions(row["true"]), completions(row["new"]), completions(row.get("unrelated") or {}))


def sample_edits(task: str, model_folder: Path, rows: list[dict], settings: LMTaskSettings, out: Path) -> dict:
    """edits.jsonl (the edit split's facts whose new object the LM does not already
    complete in English), locality.jsonl, memory.jsonl and stats.json."""
    model, tokenizer = load_causal_lm(str(model_folder))
    editor = LMEditorBase(model, tokenizer)
    facts = split_facts(rows, "edit")
    completed = judge(editor, [pair(f.new[ENGLISH][0]) for f in facts])
    candidates = [f for f, done in zip(facts, completed) if not done]
    locality = draw(split_facts(rows, "test"), settings.n_locality, f"{settings.seed}:{task}:locality")
    memory = draw(split_facts(rows, "train"), settings.n_memory, f"{settings.seed}:{task}:memory")
    languages = [ENGLISH] + sorted({lang for f in facts for lang in f.new} - {ENGLISH})
    stats = {"languages": languages, "n_candidates": len(candidates), "n_already_completed": sum(completed),
             "n_locality": len(locality), "n_memory": len(memory)}
    with atomic_folder(out) as tmp:
        for name, part in (("edits", candidates), ("locality", locality), ("memory", memory)):
            write_jsonl(tmp / f"{name}.jsonl", (fact_json(f) for f in part))
        write_json(tmp / "stats.json", stats)
    return stats


# --- features@<task> ---------------------------------------------------------------------

def memory_file(layer: int) -> str:
    return f"memory_layer{layer}.safetensors"


def memory_texts(facts: list[LMFact]) -> dict[str, list[str]]:
    """Per language, each memory fact's first prompt with its true object (an edit masks
    its held-out languages: mpn.editing.lm_patcher)."""
    langs = [ENGLISH] + sorted({lang for f in facts for lang in f.true} - {ENGLISH})
    return {lang: [f.true[lang][0].prompt + f.true[lang][0].target for f in facts if lang in f.true] for lang in langs}


def features(model_folder: Path, edits: Path, out: Path, layers: list[int]) -> dict[int, int]:
    """The memory's MLP inputs (every position but special tokens) at each layer a method
    edits (its `layer` knob), per language, once for every method and seed ->
    memory_layer<layer>.safetensors. Returns the positions per layer."""
    model, tokenizer = load_causal_lm(str(model_folder))
    texts = memory_texts([fact_from_json(r) for r in read_jsonl(edits / "memory.jsonl")])
    counts = {}
    with atomic_folder(out) as tmp:
        for layer in sorted(set(layers)):
            editor = LMEditorBase(model, tokenizer, "full", layer)
            states = {lang: editor.memory_positions(t)[0].contiguous() for lang, t in texts.items()}
            save_file(states, str(tmp / memory_file(layer)))
            counts[layer] = sum(h.shape[0] for h in states.values())
    return counts


def load_memory(features_folder: Path, layer: int) -> dict[str, torch.Tensor]:
    """features@<task>'s memory states at `layer`, per language, English first."""
    path = features_folder / memory_file(layer)
    if not path.exists():
        raise UserError(f"no {path}: run `dvc repro features@<task>` (or the whole pipeline) first")
    states = load_file(str(path))
    return {lang: states[lang] for lang in [ENGLISH] + sorted(set(states) - {ENGLISH}) if lang in states}
