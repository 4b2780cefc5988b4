"""The documents database (a file of its own beside the chat database): collections,
files, extracted text, chunks with their FTS5 index, and vectors. ``DocumentStore`` is
its only entry point."""

from __future__ import annotations

from desktopchat.core.storage.documents.store import (
    DocumentStore,
    StoreCounts,
    clean_document_text,
)

__all__ = ["DocumentStore", "StoreCounts", "clean_document_text"]
