"""The edit stage of a completion task (kind "complete", xfacts-lm): per seed one stream
of `lm.stream_length` candidate facts drawn by the seed (mpn.experiment.lm_sets made the
candidates, the locality and memory sets), edited by one method (mpn.experiment.lm_stream).
"""
from __future__ import annotations

from pathlib import Path

from mpn.core.errors import UserError
from mpn.core.io import read_jsonl
from mpn.data.xfacts.prompts import LMFact
from mpn.editing.lm_base import LMEditorBase
from mpn.editing.lm_methods import LM_METHODS, make_lm_hparams
from mpn.experiment.heldout import HeldOut
from mpn.experiment.lm_sets import LMTaskSettings, draw, fact_from_json, load_memory
from mpn.experiment.lm_stream import LMStreams
from mpn.experiment.stream_log import StreamLog
from mpn.model.lm import load_causal_lm


def streams(candidates: list[LMFact], seeds: list[int], settings: LMTaskSettings, task: str) -> dict[int, list[LMFact]]:
    """Each seed's stream: `stream_length` candidates drawn by the seed."""
    return {seed: draw(candidates, settings.stream_length, f"{settings.seed}:{task}:stream:{seed}") for seed in seeds}


def edit(task: str, resolved: dict, model_folder: Path, edits: Path, features: Path, settings: LMTaskSettings, seeds: list[int],
         heldout: HeldOut, engine: str, eval_every: int, checkpoints) -> tuple[list[StreamLog], list[str]]:
    """Every seed's stream with the resolved LM method; a stream `checkpoints` holds is
    loaded, not redone. Returns the logs and the facts the streams drew (the intervals'
    universe)."""
    candidates = [fact_from_json(r) for r in read_jsonl(edits / "edits.jsonl")]
    if not candidates:
        raise UserError(f"{edits / 'edits.jsonl'}: no candidate edits (the LM already completes every new object)")
    reference = LMEditorBase(*load_causal_lm(str(model_folder)))
    runner = LMStreams(reference, LM_METHODS[resolved["method"]], make_lm_hparams(resolved),
                       load_memory(features, resolved["hparams"]["layer"]),
                       [fact_from_json(r) for r in read_jsonl(edits / "locality.jsonl")], heldout, engine, eval_every)
    logs, drawn = [], streams(candidates, seeds, settings, task)
    for seed, stream in drawn.items():
        saved = checkpoints.load(seed, 0)
        if saved is None:
            saved = runner.run(stream, seed)
            checkpoints.save(seed, 0, saved)
        logs.append(saved)
    return logs, sorted({f.group for stream in drawn.values() for f in stream})

