"""Offline rule-based translation with the Debian `apertium` binary and its pair packages
(e.g. apertium-eng-spa): one subprocess per batch, one text per line."""
from __future__ import annotations

import shutil
import subprocess

from mpn.core.errors import UserError
from mpn.translate.base import NotTranslated, Provider, one_line

# Apertium names its modes with ISO 639-3 codes (eng-spa) or, in older pairs, 639-1 (en-es).
_ISO3 = {"af": "afr", "ar": "ara", "be": "bel", "bg": "bul", "br": "bre", "ca": "cat",
         "cy": "cym", "da": "dan", "de": "deu", "en": "eng", "eo": "epo", "es": "spa",
         "eu": "eus", "fr": "fra", "ga": "gle", "gl": "glg", "hi": "hin", "id": "ind",
         "is": "isl", "it": "ita", "kk": "kaz", "mk": "mkd", "ms": "zlm", "nb": "nob",
         "nl": "nld", "nn": "nno", "oc": "oci", "pt": "por", "ro": "ron", "ru": "rus",
         "sl": "slv", "sv": "swe", "tt": "tat", "uk": "ukr", "ur": "urd"}
_TIMEOUT_S = 600


class ApertiumProvider(Provider):
    name = "apertium"
    max_batch = None

    def __init__(self, source: str, target: str, binary: str = "apertium"):
        super().__init__(source, target)
        self.binary = shutil.which(binary)
        if self.binary is None:
            raise UserError(f"apertium is not installed (no {binary!r} on PATH); install the "
                            "Debian package apertium and a pair, e.g. apt-get install "
                            "apertium apertium-eng-spa")
        modes = self._installed_modes()
        self.mode = _pick_mode(source, target, modes)
        if self.mode is None:
            raise UserError(f"apertium has no {source}->{target} mode installed; "
                            f"installed modes: {', '.join(modes) or 'none'}")

    def _installed_modes(self) -> list[str]:
        proc = subprocess.run([self.binary, "-l"], capture_output=True, text=True, timeout=60)
        return proc.stdout.split()

    def translate(self, texts: list[str]) -> list[str]:
        # Newlines inside a text would shift the one-line-per-text alignment.
        lines = [" ".join(t.split()) for t in texts]
        proc = subprocess.run([self.binary, "-u", self.mode], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=_TIMEOUT_S)
        if proc.returncode != 0:
            raise NotTranslated(f"apertium {self.mode} failed: {one_line(proc.stderr)[:200]}")
        outputs = proc.stdout.rstrip("\n").split("\n")
        if len(outputs) != len(texts):
            raise NotTranslated(f"apertium returned {len(outputs)} lines for {len(texts)} texts")
        return [out.strip() for out in outputs]


def _pick_mode(source: str, target: str, modes: list[str]) -> str | None:
    s3, t3 = _ISO3.get(source, source), _ISO3.get(target, target)
    for mode in (f"{source}-{target}", f"{s3}-{t3}", f"{source}-{t3}", f"{s3}-{target}"):
        if mode in modes:
            return mode
    return None


def make_apertium(source: str, target: str, options: dict, timeout_s: float | None) -> Provider:
    return ApertiumProvider(source, target, binary=options.get("binary") or "apertium")
