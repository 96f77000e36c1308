"""Which torch device a setting names."""
from __future__ import annotations

import torch

from mpn.core.errors import UserError


def resolve_device(name: str, where: str = "device") -> torch.device:
    """`auto` picks CUDA when present; otherwise `cpu`, `cuda` or `cuda:N`. `where`
    names the setting in errors."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu" or name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"{where} = {name!r} but CUDA is not available; use 'auto' or 'cpu'")
        return torch.device(name)
    raise UserError(f"{where} = {name!r}: unknown device; allowed: auto, cpu, cuda, cuda:N")
