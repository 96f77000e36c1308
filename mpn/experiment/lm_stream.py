"""Sequential editing of a causal LM on completion facts (a task of kind "complete"),
recorded as the classifiers' streams are (mpn.experiment.sequential): one StreamLog a
stream, so report.json, metrics.json, edits.csv, curve.csv and the aggregate stage read
it unchanged.

An edit asks for the fact's new object after its English prompt. Only an edit the
current model does not already complete is made. Right before and right after it, every
evaluation completion of the fact is judged (exact: every target token the greedy next
token, teacher-forced): the English paraphrase prompts (MG), each other language's
prompts with its own new object (CLG; its first prompt is the translation X+mpn may train
on, the rest its paraphrases). A completion the method trained on is `seen`, never
generalization; a language held out for the edit (mpn.experiment.heldout) enters no term
of its loss. At the stream's end: locality (the unedited model's greedy next token kept
after unrelated prompts in every language, and the mean KL of the next-token
distribution), edit retention, and each made edit's translations still right.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass

import torch

from mpn.data.xfacts.prompts import LMFact
from mpn.editing.lm_base import LMEditorBase
from mpn.editing.lm_methods import LMMethod
from mpn.experiment.heldout import HeldOut
from mpn.experiment.lm_sets import Pair, judge, pair
from mpn.experiment.scoring import edit_rates, language_rows, mean_of
from mpn.experiment.stream_log import StreamLog
from mpn.core.schema import ENGLISH

log = logging.getLogger(__name__)


def eval_pairs(fact: LMFact) -> dict[str, list[Pair]]:
    """The completions an edit of `fact` is judged on, per language: English its
    paraphrase prompts, another language its prompts (the translation first)."""
    return {lang: [pair(c) for c in (cs[1:] if lang == ENGLISH else cs)] for lang, cs in fact.new.items()}


def translations(fact: LMFact) -> dict[str, Pair]:
    """Each other language's first prompt with its new object: what X+mpn samples from."""
    return {lang: pair(cs[0]) for lang, cs in fact.new.items() if lang != ENGLISH}


@dataclass
class Unedited:
    """The unedited model's next-token answers after the locality prompts, per language:
    what every stream's locality is measured against."""
    prompts: list[str]
    langs: list[str]
    groups: list[str]
    logits: torch.Tensor     # (prompts, vocab)

    @classmethod
    def of(cls, reference: LMEditorBase, facts: list[LMFact]) -> "Unedited":
        items = [(c.prompt, lang, f.group) for f in facts for lang, cs in f.true.items() for c in cs[:1]]
        prompts = [p for p, _, _ in items]
        return cls(prompts, [lang for _, lang, _ in items], [g for _, _, g in items],
                   reference.next_token_logits(prompts))


class LMStreams:
    """One method's streams over completion facts (one per seed), each from the unedited model."""

    def __init__(self, reference: LMEditorBase, method: LMMethod, hparams, memory: dict[str, list[str] | torch.Tensor],
                 locality: list[LMFact], heldout: HeldOut, engine: str = "cached", eval_every: int = 5):
        """`reference`: the unedited model, never edited (its captured states serve every stream)."""
        self.reference, self.method, self.hparams = reference, method, hparams
        self.memory, self.heldout = memory, heldout
        self.unedited = Unedited.of(reference, locality)
        self.engine, self.eval_every = engine, eval_every

    def run(self, stream: list[LMFact], seed: int, index: int = 0) -> StreamLog:
        """Edit `stream`'s facts in order on a fresh copy of the model."""
        editor = self.method.editor(copy.deepcopy(self.reference.model), self.reference.tokenizer,
                                    dataclasses.replace(self.hparams, seed=seed), self.memory, self.engine)
        editor.share_states(self.reference)
        heldout = HeldOut(self.heldout.fixed, self.heldout.fraction, seed)
        out, made, last = StreamLog(seed=seed), [], None
        for fact in stream:
            english = pair(fact.new[ENGLISH][0])
            if judge(editor, [english])[0]:
                continue   # an earlier edit already made it: nothing to edit
            out.edits.append(self._edit(editor, fact, heldout, seed, index, len(made) + 1))
            made.append(fact)
            if len(made) % self.eval_every == 0:
                last = self._running(editor, seed, index, made)
                out.curve.append(last[0])
        if last is None or last[0]["n_edits"] != len(made):   # no curve row since the last edit
            last = self._running(editor, seed, index, made)
            out.curve.append(last[0])
        after = last[1]
        kept = (after.argmax(-1) == self.unedited.logits.argmax(-1)).int().tolist()
        out.locality_after, out.locality_base, out.agreement = kept, [1] * len(kept), kept
        out.locality_langs, out.locality_groups = list(self.unedited.langs), list(self.unedited.groups)
        out.kl = _kl(self.unedited.logits, after)
        out.retained = [int(x) for x in judge(editor, [pair(f.new[ENGLISH][0]) for f in made])]
        out.translation_after_edit = [row.pop("translation_post") for row in out.edits]
        out.translation_at_end = self._translations_now(editor, made)
        return out

    def _edit(self, editor: LMEditorBase, fact: LMFact, heldout: HeldOut, seed: int, stream: int,
              step: int) -> dict:
        """Make one edit; every evaluation completion judged right before and right after."""
        english = pair(fact.new[ENGLISH][0])
        offered = translations(fact)
        held = heldout.draw(fact.group, offered)
        texts = eval_pairs(fact)
        flat = [p for ps in texts.values() for p in ps]
        pre = judge(editor, flat)
        result = editor.edit(*english, offered, heldout=sorted(held))
        post_all = judge(editor, [english] + flat)
        post = post_all[1:]
        trained = {english} | {offered[lang] for lang in result.languages}
        langs = language_rows(texts, pre, post, trained, held)
        firsts = dict(zip(flat, post))
        return {"seed": seed, "stream": stream, "step": step, "group": fact.group, "es": int(post_all[0]),
                **edit_rates(langs), "steps": result.steps, "seconds": round(result.seconds, 4),
                "patches": step, "trained_languages": result.languages, "heldout_languages": sorted(held),
                "by_lang": langs, "translation_post": {lang: int(firsts[p]) for lang, p in offered.items()}}

    def _running(self, editor: LMEditorBase, seed: int, stream: int, made: list[LMFact]) -> tuple[dict, torch.Tensor]:
        """The curve's row (locality = agreement here: the base answers are the labels) and
        the next-token logits it was read from."""
        after = editor.next_token_logits(self.unedited.prompts)
        agreement = mean_of((after.argmax(-1) == self.unedited.logits.argmax(-1)).tolist())
        retained = judge(editor, [pair(f.new[ENGLISH][0]) for f in made])
        return {"seed": seed, "stream": stream, "n_edits": len(made), "locality": agreement,
                "agreement": agreement, "er": mean_of(retained)}, after

    @staticmethod
    def _translations_now(editor: LMEditorBase, made: list[LMFact]) -> list[dict]:
        """Per made edit, per language: is its translation completed now?"""
        items = [(i, lang, p) for i, f in enumerate(made) for lang, p in sorted(translations(f).items())]
        judged = judge(editor, [p for _, _, p in items])
        out = [{} for _ in made]
        for (i, lang, _), right in zip(items, judged):
            out[i][lang] = int(right)
        return out


def _kl(before: torch.Tensor, after: torch.Tensor) -> list[float]:
    """KL(before || after) of each prompt's next-token distribution. (prompts, vocab) x2 -> [prompts]"""
    log_before, log_after = before.log_softmax(-1), after.log_softmax(-1)
    return [round(x, 6) for x in (log_before.exp() * (log_before - log_after)).sum(-1).tolist()]
