"""The curated catalogue of chat models shipped with the app (resources/catalog.json).

Only what a person must judge is written there (which repositories, the recommended
quantization, a one-line description, licence and gated flag). Sizes, files and checksums
come from the Hub when the user browses, so they are never stale or mistyped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from desktopchat.core.errors import DesktopChatError

FORMAT = 1  # the catalogue format this version reads


class CatalogError(DesktopChatError):
    """The catalogue file cannot be read."""


@dataclass(frozen=True)
class CatalogEntry:
    repo: str
    name: str
    family: str
    parameters: str
    quantization: str  # recommended
    licence: str
    gated: bool
    description: str

    @property
    def licence_url(self) -> str:
        return f"https://huggingface.co/{self.repo}"


_FIELDS = ("repo", "name", "family", "parameters", "quantization", "licence", "description")


def parse_catalog(text: str) -> list[CatalogEntry]:
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise CatalogError(f"The model catalogue is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise CatalogError(
            f"The model catalogue has format {found!r}; this version of DesktopChat reads "
            f"format {FORMAT}."
        )
    entries = []
    for index, item in enumerate(data.get("models", [])):
        if not isinstance(item, dict):
            raise CatalogError(f"Catalogue entry {index} is not an object.")
        missing = [f for f in _FIELDS if not isinstance(item.get(f), str) or not item[f]]
        if missing or not isinstance(item.get("gated"), bool):
            raise CatalogError(f"Catalogue entry {index} lacks {', '.join(missing) or 'gated'}.")
        if item["repo"].count("/") != 1:
            raise CatalogError(f"Catalogue entry {index} has no owner/name repository.")
        entries.append(CatalogEntry(gated=item["gated"], **{f: item[f] for f in _FIELDS}))
    return entries


def load_catalog() -> list[CatalogEntry]:
    text = resources.files("desktopchat").joinpath("resources/catalog.json").read_text("utf-8")
    return parse_catalog(text)
