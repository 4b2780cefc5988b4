"""The curated catalogue of chat and embedding models shipped with the app
(resources/catalog.json).

Only what a person must judge is written there (which repositories, the recommended
quantization, a one-line description, licence and gated flag, the languages a model
serves; for an embedding model its dimensions and the prefixes its queries and passages
want). Sizes, files and checksums come from the Hub when the user browses, so they are
never stale or mistyped (``file`` and ``size_mb`` are hints, ``unverified`` says what
could not be checked when the entry was written).

``kind`` is "chat" (the default) or "embedding": the model manager marks embedding models
and the documents settings offer only those. ``languages`` holds ISO 639-1 codes, or
"multi" for a model trained on about a hundred languages (``serves`` answers for one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from desktopchat.core.errors import DesktopChatError

FORMAT = 1  # the catalogue format this version reads
KINDS = ("chat", "embedding")
MULTILINGUAL = "multi"


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
    kind: str = "chat"  # "chat" or "embedding"
    languages: tuple[str, ...] = ()  # ISO 639-1 codes or "multi"; () not stated
    dimensions: int = 0  # an embedding model's vector size
    query_prefix: str = ""  # put before a question (e5: "query: ")
    document_prefix: str = ""  # put before a passage (e5: "passage: ")
    file: str = ""  # the recommended file, as seen when the entry was written
    size_mb: float = 0.0
    unverified: str = ""  # what could not be checked when the entry was written

    @property
    def licence_url(self) -> str:
        return f"https://huggingface.co/{self.repo}"

    @property
    def is_embedding(self) -> bool:
        return self.kind == "embedding"

    def serves(self, language: str) -> bool:
        """Whether the model was trained for ``language`` (an ISO 639-1 code)."""
        return MULTILINGUAL in self.languages or language.lower() in self.languages


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
        entries.append(
            CatalogEntry(
                gated=item["gated"], **{f: item[f] for f in _FIELDS}, **_optional(item, index)
            )
        )
    return entries


def _optional(item: dict[str, Any], index: int) -> dict[str, Any]:
    """The optional fields of one entry, checked."""
    kind = item.get("kind", "chat")
    if kind not in KINDS:
        raise CatalogError(f"Catalogue entry {index} has kind {kind!r}, not chat or embedding.")
    languages = item.get("languages", [])
    if not isinstance(languages, list) or not all(
        isinstance(code, str) and code for code in languages
    ):
        raise CatalogError(f"Catalogue entry {index} has languages that are not a list of codes.")
    dimensions = item.get("dimensions", 0)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 0:
        raise CatalogError(f"Catalogue entry {index} has dimensions that are not a count.")
    if kind == "embedding" and not dimensions:
        raise CatalogError(f"Catalogue entry {index} is an embedding model without dimensions.")
    size = item.get("size_mb", 0)
    if not isinstance(size, int | float) or isinstance(size, bool) or size < 0:
        raise CatalogError(f"Catalogue entry {index} has a size that is not a number.")
    texts = {}
    for name in ("query_prefix", "document_prefix", "file", "unverified"):
        value = item.get(name, "")
        if not isinstance(value, str):
            raise CatalogError(f"Catalogue entry {index} has {name} that is not text.")
        texts[name] = value
    return {
        "kind": kind,
        "languages": tuple(code.lower() for code in languages),
        "dimensions": dimensions,
        "size_mb": float(size),
        **texts,
    }


def embedding_models(entries: list[CatalogEntry]) -> list[CatalogEntry]:
    return [entry for entry in entries if entry.is_embedding]


def load_catalog() -> list[CatalogEntry]:
    text = resources.files("desktopchat").joinpath("resources/catalog.json").read_text("utf-8")
    return parse_catalog(text)
