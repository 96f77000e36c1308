"""Finished streams on disk, so an interrupted edit stage redoes only unfinished ones."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from mpn.experiment.stream_log import StreamLog
from mpn.core.io import read_json, write_json, write_text


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
