"""Where upstream files come from: a local mirror folder or an HTTP download.

Mirror layout: `<mirror_dir>/<task>/<upstream file name>`, as in ../shared/mirror.
Downloads are cached under `<download_dir>/<task>/` and reused on the next run.
"""
from __future__ import annotations

import logging
from pathlib import Path

import requests
from tqdm import tqdm

from mpn.data.settings import DataConfig
from mpn.core.errors import UserError
from mpn.core.io import atomic_path

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_S = 60


def mirror_path(cfg: DataConfig, task: str, name: str) -> Path:
    return cfg.mirror / task / name


def mirror_file(cfg: DataConfig, task: str, name: str) -> Path:
    path = mirror_path(cfg, task, name)
    if not path.is_file():
        raise UserError(f"missing mirror file {path} (data.mirror_dir: {cfg.mirror_dir})")
    return path


def download(url: str, dest: Path) -> Path:
    """Stream `url` to `dest`; an interrupted download leaves no file behind."""
    log.info("downloading %s -> %s", url, dest)
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT_S) as resp:
            resp.raise_for_status()
            total = int(resp.headers.get("content-length") or 0) or None
            with atomic_path(dest) as tmp, open(tmp, "wb") as f, tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                for chunk in resp.iter_content(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
    except requests.RequestException as err:
        reason = " ".join(str(err).split())
        raise UserError(f"cannot download {url}: {reason}") from None
    return dest


def cached_download(cfg: DataConfig, task: str, url: str) -> Path:
    dest = cfg.downloads / task / url.rstrip("/").rsplit("/", 1)[-1]
    if dest.is_file():
        log.info("using cached download %s", dest)
        return dest
    return download(url, dest)
