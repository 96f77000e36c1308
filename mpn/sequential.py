"""Sequential editing over streams, and what is measured along the way (docs/design.md sections 4, 7).

Each stream starts from the base model. Only edits the *current* model gets wrong are
made; patches accumulate, one per edit. Right before and right after each edit every
evaluation text of the edit (English rephrases, translations, translated rephrases) is
predicted: `pre` is the control, `post` the result, `lift` = post - pre. A text the
method trained on during the edit is `seen` (recall, reported apart), never counted as
generalization. A language MPN may not train on for this edit is `heldout`; both
methods are measured on the same draw, so their comparison stays paired. Every
`eval_every` edits and at the end of the stream: locality and edit retention.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import random
import shutil
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from mpn.editor import Editor
from mpn.features import edit_texts, eval_texts, memory_texts
from mpn.io import read_json, write_json, write_text
from mpn.methods import MethodHParams, MPNHParams
from mpn.metrics import rate, ratio
from mpn.schema import ENGLISH, Text, as_text

log = logging.getLogger(__name__)


def memory_inputs(rows: list[dict], hparams: MethodHParams) -> list[Text]:
    """The English memory, and up to `memory_per_language` items in each language the
    method samples (MPN), so its changes stay silent there too."""
    return memory_texts(rows, hparams.memory_per_language, hparams.samples)


def precompute(editor: Editor, edits: list[dict], other_texts: list[Text] = ()) -> None:
    """The FFN input of every edit text (input, rephrases, translations, translated
    rephrases) and of `other_texts`, and every edit's dropout views, once, up front, in
    large batches (the cached engine; the full engine has nothing to precompute)."""
    editor.warm(list(other_texts) + edit_texts(edits), [as_text(e["input"]) for e in edits])


@dataclass(frozen=True)
class HeldOut:
    """Which of an edit's languages MPN may not train on: the `fixed` ones, plus
    (language rotation) a share `fraction` of the others, drawn per edit and seed."""
    fixed: frozenset[str] = frozenset()
    fraction: float = 0.0
    seed: int = 0

    @classmethod
    def for_task(cls, task: str | None, languages: list[str], by_task: dict[str, list[str]],
                 fraction: float, seed: int = 0) -> "HeldOut":
        """The rotation, with the task's own fixed held-out languages where it has them."""
        return cls(frozenset(by_task.get(task, languages)), fraction, seed)

    @classmethod
    def from_hparams(cls, hparams: MPNHParams, seed: int, task: str | None = None) -> "HeldOut":
        return cls.for_task(task, hparams.heldout_languages, hparams.heldout_by_task, hparams.heldout_fraction, seed)

    def draw(self, edit_id: str, languages) -> frozenset[str]:
        rest = sorted(set(languages) - self.fixed)
        n = math.floor(self.fraction * len(rest) + 0.5)
        drawn = random.Random(f"{self.seed}-heldout-{edit_id}").sample(rest, n)
        return (self.fixed & set(languages)) | frozenset(drawn)


def language_rows(texts: dict[str, list[Text]], pre: list[bool], post: list[bool],
                  trained: set[Text], heldout: frozenset[str]) -> dict[str, dict]:
    """Per language: pre and post over the texts not trained on (unseen), and over the
    ones trained on (seen); None where there are none."""
    rows, i = {}, 0
    for lang, ts in texts.items():
        seen = [t in trained for t in ts]
        pairs = list(zip(pre[i:i + len(ts)], post[i:i + len(ts)], seen))
        i += len(ts)
        rows[lang] = {"heldout": int(lang in heldout),
                      "pre": _mean([p for p, _, s in pairs if not s]),
                      "post": _mean([q for _, q, s in pairs if not s]),
                      "seen_pre": _mean([p for p, _, s in pairs if s]),
                      "seen_post": _mean([q for _, q, s in pairs if s])}
    return rows


def edit_rates(langs: dict[str, dict]) -> dict:
    """One edit's MG, CLG (unseen texts, mean over languages), CLG held-out and CLG seen,
    each post with its pre beside it."""
    en = langs.get(ENGLISH) or {}
    unseen = [r for lang, r in langs.items() if lang != ENGLISH and r["post"] is not None]
    heldout = [r for r in unseen if r["heldout"]]
    seen = [r for lang, r in langs.items() if lang != ENGLISH and r["seen_post"] is not None]
    return {"mg_pre": en.get("pre"), "mg": en.get("post"),
            "clg_pre": _mean([r["pre"] for r in unseen]), "clg": _mean([r["post"] for r in unseen]),
            "clg_heldout_pre": _mean([r["pre"] for r in heldout]),
            "clg_heldout": _mean([r["post"] for r in heldout]),
            "clg_seen_pre": _mean([r["seen_pre"] for r in seen]),
            "clg_seen": _mean([r["seen_post"] for r in seen])}


@dataclass
class StreamLog:
    seed: int = 0
    edits: list[dict] = field(default_factory=list)     # one row per edit made
    curve: list[dict] = field(default_factory=list)     # locality and er every eval_every edits
    locality_after: list[int] = field(default_factory=list)   # per locality item, end of stream
    locality_base: list[int] = field(default_factory=list)
    agreement: list[int] = field(default_factory=list)
    locality_langs: list[str] = field(default_factory=list)
    retained: list[int] = field(default_factory=list)   # per edit made, right at the end


class SequentialEditing:
    def __init__(self, editor: Editor, locality: list[dict], heldout: HeldOut = HeldOut(),
                 eval_every: int = 10):
        self.editor = editor
        self.locality = locality
        self.locality_inputs = [as_text(r["input"]) for r in locality]
        self.heldout = heldout
        self.eval_every = eval_every
        self.base_locality = editor.predict(self.locality_inputs)

    def precompute(self, edits: list[dict]) -> None:
        """Every text the streams will read (locality and edits), once, up front."""
        precompute(self.editor, edits, self.locality_inputs)

    def run(self, edits: list[dict], max_per_stream: int | None = None,
            checkpoints: "Checkpoints | None" = None, progress: bool = True) -> list[StreamLog]:
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
        out.retained = self._retained(made)
        return out

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
        return {"seed": self.heldout.seed, "stream": stream, "step": step, "group": e["group"],
                "es": int(post_all[0] == target), **edit_rates(langs), "steps": result.steps,
                "seconds": round(result.seconds, 4), **self.editor.extras(),
                "trained_languages": result.languages, "heldout_languages": sorted(heldout),
                "by_lang": langs}

    def _running(self, stream: int, made: list[dict]) -> dict:
        after = self.editor.predict(self.locality_inputs)
        right_after = sum(a == r["label"] for a, r in zip(after, self.locality))
        right_base = sum(b == r["label"] for b, r in zip(self.base_locality, self.locality))
        return {"seed": self.heldout.seed, "stream": stream, "n_edits": len(made),
                "locality": round(right_after / right_base, 4) if right_base else None,
                "er": _mean(self._retained(made))}

    def _retained(self, made: list[dict]) -> list[int]:
        if not made:
            return []
        preds = self.editor.predict([as_text(e["input"]) for e in made])
        return [int(p == e["target"]) for p, e in zip(preds, made)]


class Checkpoints:
    """Finished streams on disk, so an interrupted edit stage redoes only unfinished ones.

    One JSON file per (seed, stream) in `folder`, valid only for the `fingerprint` (a
    hash of everything the streams depend on) written beside them: a changed param,
    model or edit set empties the folder. Timings are not saved (a resumed run times
    only what it edits), so the files are the same whenever the results are."""

    def __init__(self, folder: Path, fingerprint: str):
        self.folder = Path(folder)
        stamp = self.folder / "fingerprint"
        if not stamp.exists() or stamp.read_text() != fingerprint:
            if self.folder.exists():
                shutil.rmtree(self.folder)
            write_text(stamp, fingerprint)

    def saved(self) -> int:
        """How many streams are saved now."""
        return len(list(self.folder.glob("seed*-stream*.json")))

    def _path(self, seed: int, stream: int) -> Path:
        return self.folder / f"seed{seed}-stream{stream}.json"

    def load(self, seed: int, stream: int) -> StreamLog | None:
        path = self._path(seed, stream)
        return StreamLog(**read_json(path)) if path.exists() else None

    def save(self, seed: int, stream: int, log: StreamLog) -> None:
        saved = dataclasses.asdict(log)
        saved["edits"] = [{k: v for k, v in row.items() if k != "seconds"} for row in saved["edits"]]
        write_json(self._path(seed, stream), saved)


def _mean(values):
    values = [float(v) for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _lift(post, pre):
    return None if post is None or pre is None else post - pre


RATE_KEYS = ("mg", "clg", "clg_heldout")  # each reported as post, _pre and _lift


def summarize(logs: list[StreamLog], n_bootstrap: int, seed: int) -> dict:
    """metrics.json: every rate over seeds (mean, between-seed sd, 95% interval from
    resampling edits within seeds); each generalization rate with its pre-edit control."""
    edits = [row for lg in logs for row in lg.edits]
    seeds = [row["seed"] for row in edits]

    def over_edits(values) -> dict | None:
        return rate(values, seeds, n_bootstrap, seed)

    out = {"es": over_edits([r["es"] for r in edits])}
    for key in RATE_KEYS:
        out[key] = over_edits([r[key] for r in edits])
        out[f"{key}_pre"] = over_edits([r[f"{key}_pre"] for r in edits])
        out[f"{key}_lift"] = over_edits([_lift(r[key], r[f"{key}_pre"]) for r in edits])
    out["clg_seen"] = over_edits([r["clg_seen"] for r in edits])
    out["clg_seen_pre"] = over_edits([r["clg_seen_pre"] for r in edits])
    langs = sorted({lang for r in edits for lang in r["by_lang"] if lang != ENGLISH})
    for name, only_heldout in (("clg_by_lang", False), ("clg_heldout_by_lang", True)):
        for suffix, value in (("", lambda x: x["post"]), ("_pre", lambda x: x["pre"]),
                              ("_lift", lambda x: _lift(x["post"], x["pre"]))):
            out[name + suffix] = {lang: over_edits([value(r["by_lang"][lang])
                                                    if lang in r["by_lang"] and (r["by_lang"][lang]["heldout"] or not only_heldout)
                                                    else None for r in edits])
                                  for lang in langs}
    out["heldout_edits_by_lang"] = {lang: sum(lang in r["heldout_languages"] for r in edits) for lang in langs}
    out.update(_locality(logs, n_bootstrap, seed))
    out["er"] = rate([x for lg in logs for x in lg.retained],
                     [lg.seed for lg in logs for _ in lg.retained], n_bootstrap, seed)
    out["seeds"] = sorted({lg.seed for lg in logs})
    out["n_edits"] = len(edits)
    out["n_edits_by_seed"] = [sum(s == k for s in seeds) for k in out["seeds"]]
    out["n_streams"] = len(logs) // max(1, len(out["seeds"]))
    out["patches"] = len(edits)
    out["steps_per_edit"] = statistics.median([r["steps"] for r in edits]) if edits else None
    return out


def _locality(logs: list[StreamLog], n_bootstrap: int, seed: int) -> dict:
    after = [x for lg in logs for x in lg.locality_after]
    base = [x for lg in logs for x in lg.locality_base]
    langs = [x for lg in logs for x in lg.locality_langs]
    groups = [lg.seed for lg in logs for _ in lg.locality_after]

    def of(lang):
        keep = [i for i, item_lang in enumerate(langs) if item_lang == lang]
        return ratio([after[i] for i in keep], [base[i] for i in keep], [groups[i] for i in keep],
                     n_bootstrap, seed)

    return {"locality": ratio(after, base, groups, n_bootstrap, seed),
            "locality_by_lang": {lang: of(lang) for lang in sorted(set(langs))},
            "locality_agreement": rate([x for lg in logs for x in lg.agreement], groups, n_bootstrap, seed)}


def timing(logs: list[StreamLog]) -> dict:
    """Machine-dependent costs, kept out of metrics.json so reruns give identical metrics."""
    seconds = [row["seconds"] for lg in logs for row in lg.edits if "seconds" in row]
    return {"sec_per_edit": round(statistics.median(seconds), 4) if seconds else None,
            "edit_seconds_total": round(sum(seconds), 2)}
