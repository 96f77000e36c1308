"""The `reference` provider: translations the source data already carries.

Items whose group the raw data carries in the target language never reach a provider
(the stage takes them from the source). What is left for `reference` are texts carried
elsewhere, e.g. the same English claim in another group; anything else fails as
"not carried".
"""
from __future__ import annotations

from typing import Mapping

from mpn.translate.base import NotTranslated, Provider, one_line


class ReferenceProvider(Provider):
    name = "reference"
    max_batch = None

    def __init__(self, source: str, target: str, carried: Mapping[str, str]):
        super().__init__(source, target)
        self.carried = carried

    def translate(self, texts: list[str]) -> list[str]:
        missing = [t for t in texts if t not in self.carried]
        if missing:
            raise NotTranslated(f"the source data carries no {self.target} translation of "
                                f"{one_line(missing[0])[:60]!r}")
        return [self.carried[t] for t in texts]
