"""``DocumentLibrary``: what the window, the CLI and the chat service may ask of documents.

One implementation (``library.py``) owns the documents database, the indexer thread and
the embedder; every method is safe to call from any thread and none waits on indexing
(``wait`` excepted). Nothing here is called on the GUI thread: the window calls it through
its task pool and is told about progress by ``subscribe``.

Only one process indexes a documents database at a time (an advisory lock beside the
file): another process (the CLI beside the window) records what the user asked and reads
progress from the database; ``wait`` in it takes the indexing over when the lock is free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from desktopchat.core.documents.types import (
    Collection,
    DocumentFile,
    IndexProgress,
    Passage,
    Retrieved,
)

ProgressListener = Callable[[IndexProgress], None]

# The collection that holds the files attached to a chat straight from disk (created on
# first use; indexed, watched and shown in the Documents window like any other).
ATTACHED_COLLECTION = "Attached files"


@dataclass(frozen=True)
class Preview:
    """A passage in its file, for the preview: the text around it and where it is."""

    path: Path
    text: str  # the file's extracted text (or a window of it around the passage)
    start: int  # the passage's span in ``text``
    end: int
    anchor_text: str  # "page 3 · Setup", as Anchor.describe says it


class DocumentLibrary(Protocol):
    # Collections and their files.
    def collections(self) -> list[Collection]: ...

    def create_collection(self, name: str) -> Collection:
        """Raises ValueError with a message for an empty or taken name."""
        ...

    def rename_collection(self, collection_id: int, name: str) -> None: ...

    def delete_collection(self, collection_id: int) -> None:
        """Removes its files' text, chunks and vectors from disk (secure_delete)."""
        ...

    def add_paths(self, collection_id: int, paths: Sequence[Path]) -> None:
        """Files and folders (folders are watched); returns at once, indexing follows."""
        ...

    def remove_paths(self, collection_id: int, paths: Sequence[Path]) -> None: ...

    def files(self, collection_id: int) -> list[DocumentFile]: ...

    def attach_file(self, path: Path) -> DocumentFile:
        """A file from disk for a chat to answer from (``GenerationParams.document_files``):
        the file as a collection already has it (not one removed from its collection),
        else added to the ATTACHED_COLLECTION (made on first use) and indexed like any
        other. It is listed at once, WAITING until it is read. ValueError with a message
        for a folder or a file that cannot be found."""
        ...

    def files_by_id(self, file_ids: Sequence[int]) -> list[DocumentFile]:
        """The files with these ids that still exist, in the order asked."""
        ...

    # Indexing.
    def progress(self) -> IndexProgress: ...

    def subscribe(self, listener: ProgressListener) -> Callable[[], None]:
        """Call ``listener`` (on the indexer's thread) as progress changes; returns the
        function that unsubscribes."""
        ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_reply_streaming(self, streaming: bool) -> None:
        """A reply is streaming (indexing yields the cores to it) or has ended."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Block until everything is indexed and embedded; False on timeout."""
        ...

    # Retrieval.
    def search(
        self,
        query: str,
        *,
        collection_ids: Sequence[int] | None = None,
        file_ids: Sequence[int] | None = None,
        limit: int = 10,
    ) -> list[Passage]:
        """Hybrid search (BM25 and vectors, fused); keyword only where vectors are missing.
        Among the files in ``collection_ids`` or among ``file_ids`` (None for both: all)."""
        ...

    def retrieve(
        self,
        query: str,
        collection_ids: Sequence[int],
        budget_tokens: int,
        count_tokens: Callable[[str], int],
        *,
        file_ids: Sequence[int] = (),
        passages_budget: int | None = None,
    ) -> Retrieved:
        """What a prompt gets from the files of ``collection_ids`` and the ``file_ids``:
        their whole text when it fits ``budget_tokens`` (counted with the chat model's
        tokenizer), else the best passages that fit ``passages_budget`` (None:
        ``budget_tokens``). ``still_indexing`` and a note when some are not read yet."""
        ...

    def preview(self, chunk_id: int) -> Preview: ...

    # The embedding model.
    def embedder_name(self) -> str:
        """The embedding model in use, in words ("all-MiniLM-L6-v2 (built in)")."""
        ...

    def set_embedding_model(self, path: Path | None) -> None:
        """Use this GGUF embedding model (None: the built-in one). Vectors of the old one
        are kept apart and never mixed; the new one embeds everything in the background."""
        ...

    def suggestion(self, collection_id: int) -> str | None:
        """Advice for the user about this collection, or None: e.g. that its text is mostly
        in a language the current embedder does not serve, and which catalogue model does."""
        ...

    def close(self) -> None: ...
