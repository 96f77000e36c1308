"""Sequential editing over streams, and what is measured along the way (DESIGN.md 5, 7).

Each stream starts from the base model. Only edits the *current* model gets wrong are
made; patches accumulate, one per edit. Right after each edit: es, mg, clg per language.
Every `eval_every` edits and at the end of the stream: locality and edit retention.
"""
from __future__ import annotations

import logging
import resource
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from mpn.editor import Editor
from mpn.engines import Text
from mpn.methods import MPNHParams, PatcherHParams
from mpn.metrics import rate, ratio

log = logging.getLogger(__name__)


def as_text(value) -> Text:
    """jsonl stores pairs as lists; the engines key texts by tuples."""
    return tuple(value) if isinstance(value, list) else value


def memory_inputs(rows: list[dict], hparams: PatcherHParams) -> list[Text]:
    """The English memory; for MPN also up to `memory_per_language` items in each
    language it samples, so its patches stay silent there too."""
    inputs = [as_text(r["input"]) for r in rows if r["lang"] == "en"]
    if isinstance(hparams, MPNHParams):
        taken = Counter()
        for r in rows:
            if hparams.samples(r["lang"]) and taken[r["lang"]] < hparams.memory_per_language:
                taken[r["lang"]] += 1
                inputs.append(as_text(r["input"]))
    return inputs


def precompute(editor: Editor, edits: list[dict], other_texts: list[Text] = ()) -> None:
    """Cached engine: the FFN input of every edit text (input, rephrases, translations,
    translated rephrases) and of `other_texts`, and every edit's dropout views, once, up
    front, in large batches. The full engine has nothing to precompute."""
    engine = editor.engine
    if engine.name != "cached":
        return
    texts = list(other_texts)
    for e in edits:
        texts += [as_text(e["input"])] + [as_text(t) for t in e["rephrases"]]
        texts += [as_text(t) for t in e["translations"].values()]
        texts += [as_text(t) for ts in e["translated_rephrases"].values() for t in ts]
    engine.features(texts, progress=True)
    engine.precompute_views([as_text(e["input"]) for e in edits], editor.hparams.n_views, progress=True)


@dataclass
class StreamLog:
    edits: list[dict] = field(default_factory=list)     # one row per edit made
    curve: list[dict] = field(default_factory=list)     # locality and er every eval_every edits
    locality_after: list[int] = field(default_factory=list)   # per locality item, end of stream
    locality_base: list[int] = field(default_factory=list)
    agreement: list[int] = field(default_factory=list)
    locality_langs: list[str] = field(default_factory=list)
    retained: list[int] = field(default_factory=list)   # per edit made, right at the end


class SequentialEditing:
    def __init__(self, editor: Editor, locality: list[dict], heldout_languages: list[str],
                 eval_every: int = 10):
        self.editor = editor
        self.locality = locality
        self.locality_inputs = [as_text(r["input"]) for r in locality]
        self.heldout = set(heldout_languages)
        self.eval_every = eval_every
        self.base_locality = editor.predict(self.locality_inputs)

    def precompute(self, edits: list[dict]) -> None:
        """Every text the streams will read (locality and edits), once, up front."""
        precompute(self.editor, edits, self.locality_inputs)

    def run(self, edits: list[dict], max_per_stream: int | None = None) -> list[StreamLog]:
        """Edit each stream from the base model; a stream ends after `max_per_stream`
        edits made (None: after its last item)."""
        streams = defaultdict(list)
        for e in edits:
            streams[e["stream"]].append(e)
        logs = []
        with tqdm(total=len(edits), desc=f"edit ({self.editor.method})", unit="edit") as bar:
            for stream in sorted(streams):
                logs.append(self._stream(stream, streams[stream], bar, max_per_stream))
        return logs

    def _stream(self, stream: int, edits: list[dict], bar, max_made: int | None) -> StreamLog:
        self.editor.reset()
        out, made = StreamLog(), []
        for e in edits:
            bar.update(1)
            if max_made is not None and len(made) >= max_made:
                continue
            text, target = as_text(e["input"]), e["target"]
            if self.editor.predict([text])[0] == target:
                continue  # an earlier patch already fixed it: nothing to edit
            result = self.editor.edit(text, target, {k: as_text(v) for k, v in e["translations"].items()})
            made.append(e)
            out.edits.append({"stream": stream, "step": len(made), "group": e["group"],
                              **self._right_after(e), "steps": result.steps,
                              "seconds": round(result.seconds, 4), "patches": self.editor.engine.patches.count})
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
        out.retained = self._retained(made)
        return out

    def _right_after(self, e: dict) -> dict:
        """es, mg and clg per language, measured right after the edit."""
        target = e["target"]
        texts = [as_text(e["input"])] + [as_text(t) for t in e["rephrases"]]
        per_lang = {lang: [as_text(e["translations"][lang])] + [as_text(t) for t in e["translated_rephrases"].get(lang, [])]
                    for lang in e["translations"]}
        flat = texts + [t for ts in per_lang.values() for t in ts]
        right = [p == target for p in self.editor.predict(flat)]
        row = {"es": int(right[0]),
               "mg": _mean(right[1:len(texts)])}
        i = len(texts)
        clg_by_lang = {}
        for lang, ts in per_lang.items():
            clg_by_lang[lang] = _mean(right[i:i + len(ts)])
            i += len(ts)
        row["clg"] = _mean(list(clg_by_lang.values()))
        row["clg_heldout"] = _mean([v for lang, v in clg_by_lang.items() if lang in self.heldout])
        row["clg_by_lang"] = clg_by_lang
        return row

    def _running(self, stream: int, made: list[dict]) -> dict:
        after = self.editor.predict(self.locality_inputs)
        right_after = sum(a == r["label"] for a, r in zip(after, self.locality))
        right_base = sum(b == r["label"] for b, r in zip(self.base_locality, self.locality))
        return {"stream": stream, "n_edits": len(made),
                "locality": round(right_after / right_base, 4) if right_base else None,
                "er": _mean(self._retained(made))}

    def _retained(self, made: list[dict]) -> list[int]:
        if not made:
            return []
        preds = self.editor.predict([as_text(e["input"]) for e in made])
        return [int(p == e["target"]) for p, e in zip(preds, made)]


def _mean(values):
    values = [float(v) for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def summarize(logs: list[StreamLog], heldout_languages: list[str], n_bootstrap: int, seed: int) -> dict:
    """metrics.json: every rate with a bootstrap 95% interval."""
    edits = [row for log in logs for row in log.edits]
    langs = sorted({lang for row in edits for lang in row["clg_by_lang"]})
    after = [x for log in logs for x in log.locality_after]
    base = [x for log in logs for x in log.locality_base]
    item_langs = [x for log in logs for x in log.locality_langs]
    agreement = [x for log in logs for x in log.agreement]

    def locality_of(lang):
        pairs = [(a, b) for a, b, l in zip(after, base, item_langs) if l == lang]
        return ratio([a for a, _ in pairs], [b for _, b in pairs], n_bootstrap, seed)

    return {
        "es": rate([r["es"] for r in edits], n_bootstrap, seed),
        "mg": rate([r["mg"] for r in edits], n_bootstrap, seed),
        "clg": rate([r["clg"] for r in edits], n_bootstrap, seed),
        "clg_by_lang": {lang: rate([r["clg_by_lang"].get(lang) for r in edits], n_bootstrap, seed) for lang in langs},
        "clg_heldout": rate([r["clg_heldout"] for r in edits], n_bootstrap, seed),
        "heldout_languages": sorted(heldout_languages),
        "locality": ratio(after, base, n_bootstrap, seed),
        "locality_by_lang": {lang: locality_of(lang) for lang in sorted(set(item_langs))},
        "locality_agreement": rate(agreement, n_bootstrap, seed),
        "er": rate([x for log in logs for x in log.retained], n_bootstrap, seed),
        "n_edits": len(edits),
        "n_streams": len(logs),
        "patches": len(edits),
        "sec_per_edit": round(statistics.median([r["seconds"] for r in edits]), 4) if edits else None,
        "steps_per_edit": statistics.median([r["steps"] for r in edits]) if edits else None,
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
