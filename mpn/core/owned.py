"""Folders written in a place the user names (`mpn-edit edit --out`, `save_edited`):
nothing of the user's is ever replaced.

A folder may be written where nothing is, or where an empty folder is. A non-empty one
is replaced only when the user asks (`overwrite`) and only if mpn-edit wrote it: its
marker file, `mpn_edit.json`, lists every file it wrote, and a folder holding any other
file (or no marker) is refused even then.

    check_writable(out, overwrite=False, where=f"--out {out}", keep={"--model": model})
    ...build the new folder in a staging folder...
    mark(staging)     # the marker, listing what is there
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import mpn
from mpn.core.errors import UserError

MARKER = "mpn_edit.json"
WRITER = "mpn-edit"


def mark(folder: Path) -> None:
    """Write the marker into `folder`, listing every file in it (the marker aside)."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != MARKER)
    marker = {"written_by": WRITER, "version": mpn.__version__, "files": files}
    (folder / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def check_writable(folder: str | os.PathLike, overwrite: bool, where: str,
                   keep: Mapping[str, str | os.PathLike] | None = None) -> None:
    """A one-line UserError unless writing `folder` loses nothing: it is new or an empty
    folder, or (with `overwrite`) a folder mpn-edit wrote that holds nothing else; never
    one of the `keep` paths ({flag: path}, e.g. the model being edited) or a folder above one."""
    folder = Path(folder)
    for flag, path in (keep or {}).items():
        _check_not_above(folder, Path(path), where, flag)
    if folder.is_symlink():
        raise UserError(f"{where}: is a symbolic link; give a real folder")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UserError(f"{where}: exists and is not a folder")
    entries = sorted(p.name for p in folder.iterdir())
    if not entries:
        return
    if not overwrite:
        raise UserError(f"{where}: exists and is not empty ({len(entries)} entries, e.g. {entries[0]!r}); give a new "
                        "or empty folder, or --overwrite to replace a folder mpn-edit wrote")
    foreign = _foreign_file(folder)
    if foreign is not None:
        raise UserError(f"{where}: {foreign}; --overwrite replaces only a folder mpn-edit wrote, holding nothing "
                        "else: give a new or empty folder")


def _check_not_above(folder: Path, path: Path, where: str, flag: str) -> None:
    if not path.exists():
        return  # a hub name, not a folder
    mine, theirs = folder.resolve(), path.resolve()
    if mine == theirs:
        raise UserError(f"{where}: is the folder of {flag}; write the edited model to another folder")
    if mine in theirs.parents:
        raise UserError(f"{where}: holds {flag} ({path}); write the edited model to another folder")


def _foreign_file(folder: Path) -> str | None:
    """Why `folder` is not all mpn-edit's (None when it is)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        written = set(marker["files"]) | {MARKER} if marker.get("written_by") == WRITER else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        written = None
    if written is None:
        return f"has no readable {MARKER} (not written by mpn-edit)"
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_symlink() or (path.is_file() and name not in written):
            return f"holds {name!r}, which mpn-edit did not write"
    return None
