"""Atomic file and folder writes and strict jsonl reading.

Every output is written to a temp file in the same directory and renamed into place,
so an interrupted stage never leaves a half-written file behind.
"""
from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import glob
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from mpn.core.errors import UserError
from mpn.core.readers import DECODE_ERRORS, iter_jsonl


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to `path`; on success rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; outputs are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp folder next to `path`; on success it replaces `path` (a model,
    a cache, an output folder): never a half-written folder, and no stale file of the
    old one left behind."""
    path = Path(path)
    tmp = staging_folder(path)
    try:
        yield tmp
        replace_folder(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def staging_folder(path: str | os.PathLike) -> Path:
    """A new empty folder next to `path`, to build it in (then `replace_folder`); for
    writers that build several folders before replacing any. Its name carries this
    process's id, so the staging folders of a killed process are found and removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(path)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent))


def remove_stale_staging(path: Path) -> None:
    """Remove the staging folders next to `path` that a killed process left (its pid is
    gone); a live process's, or one whose name is not ours, is left alone."""
    for folder in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = folder.name[len(path.name) + 2:].split(".")[0]
        if folder.is_dir() and not folder.is_symlink() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def replace_folder(new: Path, target: str | os.PathLike) -> None:
    """Put folder `new` in the place of `target`. Where the filesystem can swap two names
    in one step (Linux renameat2), a kill at any instant leaves either the old folder or
    the new one complete at `target`; elsewhere `target` is missing between two renames
    (the old folder then waits in a hidden `.old` folder beside it)."""
    target = Path(target)
    os.chmod(new, 0o777 & ~_umask())  # mkdtemp makes owner-only folders; outputs are ordinary ones
    if target.exists() and _exchange(new, target):
        shutil.rmtree(new)  # `new` now holds the old folder
        return
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old)


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None) if os.name == "posix" else None
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names `a` and `b` atomically; False where this system or filesystem cannot."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    """CSV with a header line, "\n" line ends; each row's other keys are ignored."""
    out = io.StringIO()
    writer = csv.DictWriter(out, list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Write rows atomically; returns the number written."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise UserError(f"missing file {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: malformed JSON ({err.msg} at line {err.lineno})") from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a jsonl file; a malformed row raises UserError naming file and line."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"missing file {path}")
    with open(path, encoding="utf-8", errors=DECODE_ERRORS) as f:
        return [row for _, row in iter_jsonl(f, str(path))]
