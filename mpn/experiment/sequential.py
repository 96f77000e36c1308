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

from mpn.editing.editor import Editor
from mpn.editing.features import edit_texts, eval_texts, memory_texts
from mpn.editing.methods import MethodHParams
from mpn.experiment.metrics import rate, ratio
from mpn.pipeline.io import read_json, write_json, write_text
from mpn.pipeline.params import HeldOutSettings
from mpn.pipeline.schema import ENGLISH, Text, as_text, fact_of

log = logging.getLogger(__name__)


def memory_inputs(rows: list[dict], hparams: MethodHParams,
                  heldout: frozenset[str] = frozenset()) -> dict[str, list[Text]]:
    """By language: the English memory, and up to `memory_per_language` items in each
    language the method remembers (MPN: those it samples), so its changes stay silent
    there too; none in the run's fixed `heldout` languages. An edit's other held-out
    languages are masked out per edit (mpn.editing.memory)."""
    return memory_texts(rows, hparams.memory_per_language,
                        lambda lang: hparams.remembers(lang) and lang not in heldout)


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
    def from_settings(cls, settings: HeldOutSettings, task: str | None = None, seed: int = 0) -> "HeldOut":
        """params.yaml's `edit.heldout` for `task`."""
        return cls.for_task(task, settings.languages, settings.by_task, settings.fraction, seed)

    def draw(self, edit_id: str, languages) -> frozenset[str]:
        rest = sorted(set(languages) - self.fixed)
        n = math.floor(self.fraction * len(rest) + 0.5)
        drawn = random.Random(f"{self.seed}-heldout-{edit_id}").sample(rest, n)
        return (self.fixed & set(languages)) | frozenset(drawn)


def language_rows(texts: dict[str, list[Text]], pre: list[bool], post: list[bool],
                  trained: set[Text], heldout: frozenset[str]) -> dict[str, dict]:
    """Per language: pre and post over the texts not trained on (unseen), over the ones
    trained on (seen), and (other languages) over the translated rephrases alone
    (`para`: texts no method trains on; MPN's in-language paraphrases of a translation it
    may have trained on); None where there are none."""
    rows, i = {}, 0
    for lang, ts in texts.items():
        seen = [t in trained for t in ts]
        pairs = list(zip(pre[i:i + len(ts)], post[i:i + len(ts)], seen))
        i += len(ts)
        para = pairs[1:] if lang != ENGLISH else []
        rows[lang] = {"heldout": int(lang in heldout),
                      "pre": _mean([p for p, _, s in pairs if not s]),
                      "post": _mean([q for _, q, s in pairs if not s]),
                      "seen_pre": _mean([p for p, _, s in pairs if s]),
                      "seen_post": _mean([q for _, q, s in pairs if s]),
                      "para_pre": _mean([p for p, _, _ in para]),
                      "para_post": _mean([q for _, q, _ in para])}
    return rows


def edit_rates(langs: dict[str, dict]) -> dict:
    """One edit's rates, each post with its pre beside it (means over languages):
    MG (English rephrases); CLG (texts this method did not train on: a method-specific
    set, so never compared across methods); CLG held-out (every text of the languages
    held out for the edit: the headline); CLG paraphrase (translated rephrases in the
    languages not held out: no method trains on them, so methods compare like for like);
    CLG seen (texts trained on: recall, not generalization)."""
    en = langs.get(ENGLISH) or {}
    others = [r for lang, r in langs.items() if lang != ENGLISH]
    unseen = [r for r in others if r["post"] is not None]
    heldout = [r for r in unseen if r["heldout"]]
    para = [r for r in others if not r["heldout"] and r["para_post"] is not None]
    seen = [r for r in others if r["seen_post"] is not None]
    return {"mg_pre": en.get("pre"), "mg": en.get("post"),
            "clg_pre": _mean([r["pre"] for r in unseen]), "clg": _mean([r["post"] for r in unseen]),
            "clg_heldout_pre": _mean([r["pre"] for r in heldout]),
            "clg_heldout": _mean([r["post"] for r in heldout]),
            "clg_paraphrase_pre": _mean([r["para_pre"] for r in para]),
            "clg_paraphrase": _mean([r["para_post"] for r in para]),
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
    locality_groups: list[str] = field(default_factory=list)   # each item's fact (the bootstrap's unit)
    retained: list[int] = field(default_factory=list)   # per edit made, right at the end
    # per edit made, per language: its translation right just after the edit, and at the end
    translation_after_edit: list[dict] = field(default_factory=list)
    translation_at_end: list[dict] = field(default_factory=list)
    # near locality, end of stream: per made edit, per item sharing its entity or relation
    # (mpn.experiment.near): {group (the edit's), kind, lang, agreement with the base model}
    near: list[dict] = field(default_factory=list)


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
                "agreement": _mean([a == b for a, b in zip(after, self.base_locality)]),
                "er": _mean(self._retained(made))}

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


def _starts(texts: dict[str, list]) -> list[int]:
    """Where each language's texts start in the flat list."""
    starts, i = [], 0
    for ts in texts.values():
        starts.append(i)
        i += len(ts)
    return starts


def _mean(values):
    values = [float(v) for v in values if v is not None]
    return round(sum(values) / len(values), 4) if values else None


def _lift(post, pre):
    return None if post is None or pre is None else post - pre


RATE_KEYS = ("mg", "clg", "clg_heldout", "clg_paraphrase")  # each reported as post, _pre and _lift
# What DVC's own views list (metrics.json): each with its pre-edit control beside it.
HEADLINE = ("es", "mg_pre", "mg", "mg_lift", "clg_pre", "clg", "clg_lift", "clg_heldout_pre", "clg_heldout",
            "clg_heldout_lift", "locality_agreement", "locality", "er")


def summarize(logs: list[StreamLog], n_bootstrap: int, seed: int, facts: list[str] | None = None) -> dict:
    """report.json: every rate over seeds (mean, between-seed sd, and a 95% interval from
    resampling whole facts, the same draw for every seed and method: `facts`, the edit
    set's groups, is the universe drawn from); each generalization rate with its
    pre-edit control; the counts of facts and of edit rows."""
    edits = [row for lg in logs for row in lg.edits]
    seeds = [row["seed"] for row in edits]
    groups = [row["group"] for row in edits]
    universe = sorted(set(facts if facts is not None else groups))

    def over_edits(values) -> dict | None:
        return rate(values, seeds, groups, n_bootstrap, seed, universe)

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
    out["er"] = rate([x for lg in logs for x in lg.retained], [lg.seed for lg in logs for _ in lg.retained],
                     [row["group"] for lg in logs for row in lg.edits], n_bootstrap, seed, universe)
    out.update(_retention_by_lang(logs, langs, n_bootstrap, seed, universe))
    out["seeds"] = sorted({lg.seed for lg in logs})
    out["n_facts"] = len({fact_of(g) for g in groups})
    out["n_edits"] = len(edits)
    out["n_edits_by_seed"] = [sum(s == k for s in seeds) for k in out["seeds"]]
    out["n_streams"] = len(logs) // max(1, len(out["seeds"]))
    out["patches"] = len(edits)
    out["steps_per_edit"] = statistics.median([r["steps"] for r in edits]) if edits else None
    return out


def headline(report: dict) -> dict:
    """metrics.json, the file `dvc metrics show/diff` and `dvc exp show` list: each
    HEADLINE rate's mean, the counts, and under ci95 each interval as a [low, high] list
    (DVC's tables leave lists out, so they stay a few columns wide; reports read them)."""
    out: dict = {key: report[key]["mean"] if report[key] else None for key in HEADLINE}
    out.update(n_edits=report["n_edits"], n_facts=report["n_facts"])
    out["ci95"] = {key: [report[key]["low"], report[key]["high"]] for key in HEADLINE if report[key]}
    return out


def _retention_by_lang(logs: list[StreamLog], langs: list[str], n_bootstrap: int, seed: int,
                       universe: list[str]) -> dict:
    """Per language, over the edits made: is the edit's translation right at the end of
    its stream (er_by_lang), beside right just after the edit (its control)?"""
    made = [(lg.seed, row["group"], after, end) for lg in logs
            for row, after, end in zip(lg.edits, lg.translation_after_edit, lg.translation_at_end)]
    seeds, groups = [m[0] for m in made], [m[1] for m in made]
    out = {"er_by_lang": {}, "er_by_lang_after_edit": {}}
    for lang in langs:
        for key, column in (("er_by_lang", 3), ("er_by_lang_after_edit", 2)):
            out[key][lang] = rate([m[column].get(lang) for m in made], seeds, groups, n_bootstrap, seed, universe)
    return out


def _locality(logs: list[StreamLog], n_bootstrap: int, seed: int) -> dict:
    """Locality resamples its items' facts: the same items are measured in every stream
    and seed, so a stream x item row is no independent draw."""
    after = [x for lg in logs for x in lg.locality_after]
    base = [x for lg in logs for x in lg.locality_base]
    langs = [x for lg in logs for x in lg.locality_langs]
    facts = [x for lg in logs for x in lg.locality_groups]
    seeds = [lg.seed for lg in logs for _ in lg.locality_after]
    universe = sorted(set(facts))

    def of(lang):
        keep = [i for i, item_lang in enumerate(langs) if item_lang == lang]
        return ratio([after[i] for i in keep], [base[i] for i in keep], [seeds[i] for i in keep],
                     [facts[i] for i in keep], n_bootstrap, seed, universe)

    return {"locality": ratio(after, base, seeds, facts, n_bootstrap, seed, universe),
            "locality_by_lang": {lang: of(lang) for lang in sorted(set(langs))},
            "locality_agreement": rate([x for lg in logs for x in lg.agreement], seeds, facts, n_bootstrap, seed,
                                       universe)}


def timing(logs: list[StreamLog]) -> dict:
    """Machine-dependent costs, kept out of report.json so reruns give identical files."""
    seconds = [row["seconds"] for lg in logs for row in lg.edits if "seconds" in row]
    return {"sec_per_edit": round(statistics.median(seconds), 4) if seconds else None,
            "edit_seconds_total": round(sum(seconds), 2)}
