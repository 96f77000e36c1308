"""Sequential editing over streams, and what is measured along the way (docs/design.md sections 4, 7).

Each stream starts from the base model. Only edits the *current* model gets wrong are
made; patches accumulate, one per edit. Right before and right after each edit every
evaluation text of the edit (English rephrases, translations, translated rephrases) is
predicted: `pre` is the control, `post` the result, `lift` = post - pre. A text the
method trained on during the edit is `seen` (recall, reported apart), never counted as
generalization. A language MPN may not train on for this edit is `heldout`; both
methods are measured on the same draw, so their comparison stays paired. Every
`eval_every` edits and at the end of the stream: locality and edit retention.

The runner is this module; its parts each have their own: the held-out draw
(`heldout.py`), one edit's rates (`scoring.py`), the stream's record (`stream_log.py`),
finished streams on disk (`checkpoints.py`), report.json from the logs (`summary.py`).
"""
from __future__ import annotations

import logging
from collections import defaultdict

from tqdm.auto import tqdm

from mpn.editing.editor import Editor
from mpn.editing.features import edit_texts, eval_texts
from mpn.experiment.heldout import HeldOut
from mpn.experiment.checkpoints import Checkpoints
from mpn.experiment.scoring import edit_rates, language_rows, mean_of
from mpn.experiment.stream_log import StreamLog
from mpn.core.schema import Text, as_text

log = logging.getLogger(__name__)


def precompute(editor: Editor, edits: list[dict], other_texts: list[Text] = ()) -> None:
    """The FFN input of every edit text (input, rephrases, translations, translated
    rephrases) and of `other_texts`, and every edit's dropout views, once, up front, in
    large batches (the cached engine; the full engine has nothing to precompute)."""
    editor.warm(list(other_texts) + edit_texts(edits), [as_text(e["input"]) for e in edits])


class SequentialEditing:
    def __init__(self, editor: Editor, locality: list[dict], heldout: HeldOut = HeldOut(),
                 eval_every: int = 10, near: dict[str, list[dict]] | None = None):
        self.editor = editor
        self.locality = locality
        self.locality_inputs = [as_text(r["input"]) for r in locality]
        self.heldout = heldout
        self.eval_every = eval_every
        self.base_locality = editor.predict(self.locality_inputs)
        self.near = near or {}   # edit group -> its near-locality rows (input, lang, kind)
        self.near_inputs = sorted({as_text(r["input"]) for rows in self.near.values() for r in rows})
        self.base_near = dict(zip(self.near_inputs, editor.predict(self.near_inputs))) if self.near_inputs else {}

    def precompute(self, edits: list[dict]) -> None:
        """Every text the streams will read (locality and edits), once, up front."""
        precompute(self.editor, edits, self.locality_inputs + self.near_inputs)

    def run(self, edits: list[dict], max_per_stream: int | None = None,
            checkpoints: Checkpoints | None = None, progress: bool = True) -> list[StreamLog]:
        """Edit each stream from the base model; a stream ends after `max_per_stream`
        edits made (None: after its last item). With `checkpoints`, a finished stream is
        saved, and one saved before (by an interrupted run) is loaded, not redone."""
        streams = defaultdict(list)
        for e in edits:
            streams[e["stream"]].append(e)
        logs = []
        seed = self.heldout.seed
        desc = f"edit ({self.editor.name}, seed {seed})"
        with tqdm(total=len(edits), desc=desc, unit="edit", disable=not progress) as bar:
            for stream in sorted(streams):
                saved = checkpoints.load(seed, stream) if checkpoints else None
                if saved is None:
                    saved = self._stream(stream, streams[stream], bar, max_per_stream)
                    if checkpoints:
                        checkpoints.save(seed, stream, saved)
                else:
                    bar.update(len(streams[stream]))
                logs.append(saved)
        return logs

    def _stream(self, stream: int, edits: list[dict], bar, max_made: int | None) -> StreamLog:
        self.editor.reset()
        out, made = StreamLog(seed=self.heldout.seed), []
        for e in edits:
            bar.update(1)
            if max_made is not None and len(made) >= max_made:
                continue
            text, target = as_text(e["input"]), e["target"]
            if self.editor.predict([text])[0] == target:
                continue  # an earlier patch already fixed it: nothing to edit
            out.edits.append(self._edit(e, stream, len(made) + 1))
            made.append(e)
            if len(made) % self.eval_every == 0:
                out.curve.append(self._running(stream, made))
            bar.set_postfix(es=f"{sum(r['es'] for r in out.edits) / len(out.edits):.2f}")
        if not out.curve or out.curve[-1]["n_edits"] != len(made):
            out.curve.append(self._running(stream, made))
        after = self.editor.predict(self.locality_inputs)
        out.locality_after = [int(a == r["label"]) for a, r in zip(after, self.locality)]
        out.locality_base = [int(b == r["label"]) for b, r in zip(self.base_locality, self.locality)]
        out.agreement = [int(a == b) for a, b in zip(after, self.base_locality)]
        out.locality_langs = [r["lang"] for r in self.locality]
        out.locality_groups = [r["group"] for r in self.locality]
        out.retained = self._retained(made)
        out.translation_after_edit = [row.pop("translation_post") for row in out.edits]
        out.translation_at_end = self._translations_retained(made)
        out.near = self._near(made)
        return out

    def _near(self, made: list[dict]) -> list[dict]:
        """Each made edit's near items at the end of the stream: still predicted as the
        base model predicted them?"""
        rows = [(e["group"], r) for e in made for r in self.near.get(e["group"], [])]
        if not rows:
            return []
        after = self.editor.predict([as_text(r["input"]) for _, r in rows])
        return [{"group": group, "kind": r["kind"], "lang": r["lang"],
                 "agreement": int(a == self.base_near[as_text(r["input"])])}
                for (group, r), a in zip(rows, after)]

    def _edit(self, e: dict, stream: int, step: int) -> dict:
        """Make one edit; every evaluation text predicted right before and right after."""
        text, target = as_text(e["input"]), e["target"]
        translations = {k: as_text(v) for k, v in e["translations"].items()}
        heldout = self.heldout.draw(e["edit_id"], translations)
        texts = eval_texts(e)
        flat = [t for ts in texts.values() for t in ts]
        pre = [p == target for p in self.editor.predict(flat)]
        result = self.editor.edit(text, target, translations, heldout=heldout)
        post_all = self.editor.predict([text] + flat)
        post = [p == target for p in post_all[1:]]
        trained = {text} | {translations[lang] for lang in result.languages}
        langs = language_rows(texts, pre, post, trained, heldout)
        starts = dict(zip(texts, _starts(texts)))   # each language's translation: its first text
        translation_post = {lang: int(post[starts[lang]]) for lang in translations}
        return {"seed": self.heldout.seed, "stream": stream, "step": step, "group": e["group"],
                "es": int(post_all[0] == target), **edit_rates(langs), "steps": result.steps,
                "seconds": round(result.seconds, 4), **self.editor.extras(),
                "trained_languages": result.languages, "heldout_languages": sorted(heldout),
                "by_lang": langs, "translation_post": translation_post}

    def _running(self, stream: int, made: list[dict]) -> dict:
        after = self.editor.predict(self.locality_inputs)
        right_after = sum(a == r["label"] for a, r in zip(after, self.locality))
        right_base = sum(b == r["label"] for b, r in zip(self.base_locality, self.locality))
        return {"seed": self.heldout.seed, "stream": stream, "n_edits": len(made),
                "locality": round(right_after / right_base, 4) if right_base else None,
                "agreement": mean_of([a == b for a, b in zip(after, self.base_locality)]),
                "er": mean_of(self._retained(made))}

    def _retained(self, made: list[dict]) -> list[int]:
        if not made:
            return []
        preds = self.editor.predict([as_text(e["input"]) for e in made])
        return [int(p == e["target"]) for p, e in zip(preds, made)]

    def _translations_retained(self, made: list[dict]) -> list[dict]:
        """Per edit made, per language: is its translation right now (end of stream)?"""
        pairs = [(i, lang, as_text(t)) for i, e in enumerate(made) for lang, t in sorted(e["translations"].items())]
        preds = self.editor.predict([t for _, _, t in pairs]) if pairs else []
        out = [{} for _ in made]
        for (i, lang, _), p in zip(pairs, preds):
            out[i][lang] = int(p == made[i]["target"])
        return out


def _starts(texts: dict[str, list]) -> list[int]:
    """Where each language's texts start in the flat list."""
    starts, i = [], 0
    for ts in texts.values():
        starts.append(i)
        i += len(ts)
    return starts


