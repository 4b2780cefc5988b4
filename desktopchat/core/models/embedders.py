"""Which installed models embed, which catalogue entry each one is, and how it wants its
texts: the embedding model choices the Documents dialog and ``docs model`` offer.

An installed GGUF is matched to its catalogue entry (core/models/catalog.py) by the
repository it was downloaded from (``models/OWNER/REPO/FILE``), else by its file name
without the quantization (``multilingual-e5-small-q8_0.gguf`` is the entry whose file is
``multilingual-e5-small-F16.gguf``), else by the name in its header. The entry says which
languages it serves and the prefixes its questions and passages want (e5: "query: " and
"passage: "); a model the catalogue does not know gets no prefix and no languages.
The built-in model (path None) is the catalogue's all-MiniLM-L6-v2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from desktopchat.core.models.catalog import MULTILINGUAL, CatalogEntry, load_catalog
from desktopchat.core.models.gguf import GGUFInfo
from desktopchat.core.models.library import InstalledModel

BUILT_IN_ENTRY = "all-MiniLM-L6-v2"  # the catalogue entry of the built-in model
BUILT_IN_LABEL = "Built in: all-MiniLM-L6-v2"

# GGUF architectures that only embed (llama.cpp's encoders); a model that declares a
# pooling type embeds too.
EMBEDDING_ARCHITECTURES = frozenset(
    ("bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "gemma-embedding", "t5encoder")
)

_QUANT_SUFFIX = re.compile(r"[-.](?:i?q\d(?:-[a-z0-9]{1,2})*|f16|f32|bf16|fp16|fp32)$")
_LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "pl": "Polish",
    "tr": "Turkish",
    "ru": "Russian",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "ar": "Arabic",
    "hi": "Hindi",
}


def is_embedding_info(info: GGUFInfo) -> bool:
    architecture = info.architecture
    return (
        architecture in EMBEDDING_ARCHITECTURES or f"{architecture}.pooling_type" in info.metadata
    )


def is_embedding_model(model: InstalledModel) -> bool:
    """Whether the model embeds (it serves Documents, not chat)."""
    return model.info is not None and is_embedding_info(model.info)


def _key(text: str) -> str:
    """A name compared with others: lower case, "-" for spaces and "_", no ``.gguf``,
    no quantization suffix (``Q8_0``, ``f16``, ``Q4_K_M``)."""
    key = text.strip().lower().removesuffix(".gguf").replace(" ", "-").replace("_", "-")
    while (stripped := _QUANT_SUFFIX.sub("", key)) != key:
        key = stripped
    return key


def _entry_keys(entry: CatalogEntry) -> set[str]:
    keys = {_key(entry.name)}
    if entry.file:
        keys.add(_key(entry.file))
    return {k for k in keys if k}


@lru_cache(maxsize=1)
def _catalogue() -> tuple[CatalogEntry, ...]:
    return tuple(e for e in load_catalog() if e.is_embedding)


def embedding_entries() -> list[CatalogEntry]:
    """The catalogue's embedding models (read once)."""
    return list(_catalogue())


def catalog_entry_for(
    path: Path | None,
    header_name: str = "",
    entries: list[CatalogEntry] | None = None,
) -> CatalogEntry | None:
    """The catalogue entry of the embedding model at ``path`` (None: the built-in model),
    or None when the catalogue does not know it. ``header_name``: ``general.name``."""
    known = list(_catalogue()) if entries is None else entries
    if path is None:
        return next((e for e in known if e.name == BUILT_IN_ENTRY), None)
    parts = [p.lower() for p in path.parts]
    if len(parts) >= 3:
        repo = f"{parts[-3]}/{parts[-2]}"
        for entry in known:
            if entry.repo.lower() == repo:
                return entry
    for candidate in (_key(path.name), _key(header_name)):
        if not candidate:
            continue
        best: tuple[int, CatalogEntry] | None = None
        for entry in known:
            for key in _entry_keys(entry):
                if (candidate == key or candidate.startswith((f"{key}-", f"{key}."))) and (
                    best is None or len(key) > best[0]
                ):
                    best = (len(key), entry)
        if best is not None:
            return best[1]
    return None


def language_names(languages: tuple[str, ...]) -> str:
    """The languages an entry serves, for people ("English", "about 100 languages")."""
    if not languages:
        return "languages not known"
    if MULTILINGUAL in languages:
        return "about 100 languages"
    return ", ".join(_LANGUAGE_NAMES.get(code, code) for code in languages)


@dataclass(frozen=True)
class EmbeddingChoice:
    """One embedding model the user may choose: the built-in one (``path`` None) or an
    installed GGUF, with its catalogue entry when it has one."""

    path: Path | None
    name: str
    entry: CatalogEntry | None

    @property
    def builtin(self) -> bool:
        return self.path is None

    @property
    def languages(self) -> tuple[str, ...]:
        return self.entry.languages if self.entry is not None else ()

    @property
    def setting(self) -> str:
        """The value of ``AppSettings.documents_embedding_model`` that chooses it."""
        return "" if self.path is None else str(self.path)

    def label(self) -> str:
        """ "Built in: all-MiniLM-L6-v2 (English)", "multilingual-e5-small (about 100
        languages)"."""
        head = BUILT_IN_LABEL if self.path is None else self.name
        return f"{head} ({language_names(self.languages)})"


def builtin_choice() -> EmbeddingChoice:
    return EmbeddingChoice(None, BUILT_IN_ENTRY, catalog_entry_for(None))


def embedding_choices(models: list[InstalledModel]) -> list[EmbeddingChoice]:
    """The built-in model, then every installed embedding model (reads no file: the
    headers were read when ``models`` were described)."""
    choices = [builtin_choice()]
    for model in models:
        if not is_embedding_model(model):
            continue
        assert model.info is not None
        header = str(model.info.metadata.get("general.name", ""))
        choices.append(
            EmbeddingChoice(model.path, model.name, catalog_entry_for(model.path, header))
        )
    return choices
