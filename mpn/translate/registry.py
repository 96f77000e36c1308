"""Providers by name: the one place that knows which names exist."""
from __future__ import annotations

from typing import Callable, Mapping

from mpn.core.errors import UserError
from mpn.translate.apertium import make_apertium
from mpn.translate.base import Provider
from mpn.translate.bergamot import make_bergamot
from mpn.translate.reference import ReferenceProvider
from mpn.translate.web import make_deepl, make_google, make_libre, make_mymemory

# name -> factory(source, target, options of translate.<name>, timeout_s)
_FACTORIES: dict[str, Callable[[str, str, dict, float | None], Provider]] = {
    "google": make_google,
    "deepl": make_deepl,
    "mymemory": make_mymemory,
    "libre": make_libre,
    "bergamot": make_bergamot,
    "apertium": make_apertium,
}
PROVIDER_NAMES = sorted([*_FACTORIES, "reference"])


def check_provider_name(name: object, where: str) -> str:
    if name not in PROVIDER_NAMES:
        raise UserError(f"unknown translation provider {name!r} in {where}; "
                        f"allowed: {', '.join(PROVIDER_NAMES)}")
    return name


def make_provider(name: str, source: str, target: str, options: dict | None = None,
                  timeout_s: float | None = None,
                  carried: Mapping[str, str] | None = None) -> Provider:
    """Build provider `name` for source->target; `carried` feeds the reference provider."""
    check_provider_name(name, "make_provider")
    if name == "reference":
        return ReferenceProvider(source, target, carried or {})
    return _FACTORIES[name](source, target, options or {}, timeout_s)
