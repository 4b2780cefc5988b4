"""The data that crosses the document parts: anchors, blocks, chunks, passages, files.

Every part (parsers, chunker, store, indexer, retrieval, the window, the CLI) speaks these
types; none of them knows another part's internals.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class DocumentError(Exception):
    """A file could not be read: ``reason`` is the per-file message the user sees."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsupportedDocumentError(DocumentError):
    """Not a format we read (the file is *skipped*, not *failed*)."""


@dataclass(frozen=True)
class Anchor:
    """Where a piece of text is in its file: a page, a heading path, a line range."""

    page: int | None = None  # 1-based
    headings: tuple[str, ...] = ()  # outermost first
    line_start: int | None = None  # 1-based, inclusive
    line_end: int | None = None

    def describe(self) -> str:
        """In words, for the Sources list: "page 3 · Setup › Linux · lines 10-42"."""
        parts = []
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.headings:
            parts.append(" › ".join(self.headings))
        if self.line_start is not None:
            end = self.line_end if self.line_end is not None else self.line_start
            parts.append(
                f"line {self.line_start}"
                if end == self.line_start
                else f"lines {self.line_start}-{end}"
            )
        return " · ".join(parts)


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    CODE = "code"  # source code or a fenced block: split at definitions, never mid-line
    TABLE = "table"  # rows as text lines
    PAGE_BREAK = "page_break"  # an empty block: a new page starts (text of the page follows)


@dataclass(frozen=True)
class Block:
    """One structural piece of a document, as a parser found it."""

    kind: BlockKind
    text: str
    anchor: Anchor
    level: int = 0  # heading level (1 = top) for HEADING blocks


@dataclass(frozen=True)
class Extracted:
    """A parsed document: its blocks in reading order."""

    blocks: tuple[Block, ...]
    title: str = ""
    format: str = ""  # "pdf", "docx", "html", "markdown", "text", "csv", "code", ...
    warnings: tuple[str, ...] = ()  # e.g. "pages 4-6 have no text layer"
    # The bytes that were read (parsers.extract fills these: the indexer need not re-read).
    size: int = 0
    mtime_ns: int = 0
    sha256: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks if b.text)


@dataclass(frozen=True)
class ParseLimits:
    """What a parser may read (the user can raise the size limit in the settings)."""

    max_file_bytes: int = 200 * 1024 * 1024
    max_text_chars: int = 50_000_000  # after extraction
    max_uncompressed_bytes: int = 500 * 1024 * 1024  # zip-based formats (docx, odt, epub, ...)
    max_compression_ratio: float = 200.0  # zip members: above this it is treated as a bomb


@dataclass(frozen=True)
class ChunkText:
    """A chunk as the chunker made it (before it has an id in the store)."""

    ordinal: int  # position in the file, from 0
    text: str
    anchor: Anchor
    tokens: int  # as the chunker counted them
    start: int = 0  # the chunk's span in Extracted.text (for the preview's highlight)
    end: int = 0


class FileState(StrEnum):
    WAITING = "waiting"
    INDEXING = "indexing"
    INDEXED = "indexed"  # keyword-searchable; vectors may still be filling in
    FAILED = "failed"  # with a reason
    SKIPPED = "skipped"  # unsupported format, or excluded (with a reason)


@dataclass(frozen=True)
class Collection:
    id: int
    name: str
    created_at: float
    roots: tuple[Path, ...] = ()  # files and folders the user added (folders are watched)


@dataclass(frozen=True)
class DocumentFile:
    id: int
    collection_id: int
    path: Path
    state: FileState
    reason: str = ""  # why it failed or was skipped
    size: int = 0
    mtime_ns: int = 0
    sha256: str = ""
    chunks: int = 0
    embedded: int = 0  # chunks with a vector of the current embedding model
    format: str = ""


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk, with its place in the file and how it was found."""

    chunk_id: int
    file_id: int
    collection_id: int
    path: Path
    anchor: Anchor
    text: str
    score: float  # the fused score (reciprocal rank fusion), higher is better
    keyword_rank: int | None = None  # 1-based rank in the BM25 list, None: not in it
    vector_rank: int | None = None  # 1-based rank in the vector list, None: not in it
    keyword_score: float | None = None  # BM25 (lower is better in SQLite's convention)
    vector_score: float | None = None  # cosine similarity
    ordinal: int = 0  # the chunk's position in its file
    start: int = 0  # the passage's span in the file's extracted text (the preview's highlight)
    end: int = 0


@dataclass(frozen=True)
class IndexProgress:
    """Where indexing stands, for the progress line and ``docs status``."""

    files_total: int = 0
    files_done: int = 0  # indexed, failed or skipped
    files_failed: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    bytes_per_second: float = 0.0
    chunks_per_second: float = 0.0
    seconds_left: float | None = None  # None: not known yet
    paused: bool = False  # by the user
    yielding: bool = False  # waiting while a reply streams
    current: str = ""  # the file being read, or "embedding"
    # Roots that cannot be reached now (an unplugged drive, a network folder gone): their
    # files are kept in the index, "folder unavailable".
    unavailable: tuple[Path, ...] = ()

    @property
    def idle(self) -> bool:
        return self.files_done >= self.files_total and self.chunks_embedded >= self.chunks_total


class Embedder(Protocol):
    """Text to unit-length vectors, by one embedding model (in an engine process)."""

    @property
    def model_id(self) -> str:
        """Stable name of the model and its file (vectors of two ids are never mixed)."""
        ...

    @property
    def dimensions(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """The longest text it embeds whole, in its own tokens."""
        ...

    def embed(
        self, texts: Sequence[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        """One normalized vector per text (texts longer than max_tokens are truncated)."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Retrieved:
    """What one question got from the attached documents, as the prompt and the view see it."""

    passages: tuple[Passage, ...]
    whole: bool  # the attached documents fit the budget whole and were sent in full
    budget_tokens: int
    used_tokens: int
    still_indexing: bool = False  # some attached files were not indexed yet
    notes: tuple[str, ...] = field(default=())
