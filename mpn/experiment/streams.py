"""Running many (seed, stream) editing streams side by side: the edit stage's runner,
which bench/ uses too. Each stream is a SequentialEditing run on its own edits; forked
worker processes share the features loaded once before."""
from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
from collections import defaultdict
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from mpn.editing.methods import MethodHParams
from mpn.experiment.edit_sets import reshuffle_streams
from mpn.experiment.checkpoints import Checkpoints
from mpn.experiment.heldout import HeldOut
from mpn.experiment.sequential import SequentialEditing
from mpn.experiment.stream_log import StreamLog


@dataclass
class StreamJob:
    """One (seed, stream) of editing; a pool of processes runs them side by side."""
    runner: SequentialEditing
    hparams: MethodHParams
    heldout: HeldOut                            # the rotation; each seed draws its own
    streams: dict[int, dict[int, list[dict]]]   # seed -> stream -> its edits, in order
    checkpoints: Checkpoints

    def __call__(self, key: tuple[int, int]) -> StreamLog:
        seed, stream = key
        torch.set_num_threads(1)  # the same arithmetic in one process or several
        torch.manual_seed(seed)
        self.runner.editor.hparams = dataclasses.replace(self.hparams, seed=seed)
        self.runner.heldout = dataclasses.replace(self.heldout, seed=seed)
        return self.runner.run(self.streams[seed][stream], checkpoints=self.checkpoints, progress=False)[0]

    @classmethod
    def for_seeds(cls, runner, hparams, heldout, edits: list[dict], seeds: list[int], checkpoints) -> "StreamJob":
        """Each seed re-draws the stream assignment (mpn.experiment.edit_sets.reshuffle_streams)."""
        streams = {}
        for seed in seeds:
            streams[seed] = defaultdict(list)
            for e in reshuffle_streams(edits, seed):
                streams[seed][e["stream"]].append(e)
        return cls(runner, hparams, heldout, streams, checkpoints)

    def keys(self) -> list[tuple[int, int]]:
        return [(seed, stream) for seed, streams in self.streams.items() for stream in sorted(streams)]


_JOB: StreamJob | None = None  # what forked workers run (inherited, not pickled)


def _run_stream(key: tuple[int, int]) -> StreamLog:
    return _JOB(key)


def run_streams(job: StreamJob, processes: int) -> list[StreamLog]:
    """Every (seed, stream)'s log, seeds in order, then streams. Editing steps are
    single-threaded, so streams in separate processes use the cores one process would
    leave idle; forked workers share the features loaded once before."""
    keys = job.keys()
    processes = min(len(keys), processes or os.cpu_count() or 1)
    global _JOB
    _JOB = job
    with (tqdm(total=len(keys), desc=f"edit ({job.runner.editor.name})", unit="stream") as bar,
          multiprocessing.get_context("fork").Pool(processes) if processes > 1 else contextlib.nullcontext() as pool):
        logs = []
        for stream_log in (pool.imap(_run_stream, keys, chunksize=1) if pool else map(job, keys)):
            logs.append(stream_log)
            bar.update(1)
    return logs
