"""The one embedding model a library uses, shared by the indexer and the queries.

``EmbedderSlot`` loads the model through the factory it is given, on first use (from
whichever thread asks first), and lets one caller at a time use it (an engine is not
thread-safe). A query never waits for a whole indexing batch: ``embed_query`` interrupts
the batch in progress (its cancel event), takes the model, and the indexer redoes the
batch afterwards. ``switch`` changes the model: the new one is loaded first (a model that
fails to load changes nothing), then the old one is closed; its vectors carry another
``model_id`` and are never mixed with the old.

Each model is used as it was trained: the slot puts the prefixes of its catalogue entry
(core/models/embedders.py) before the texts, ``query_prefix`` before a question
(``embed_query``) and ``document_prefix`` before a passage (``embed_batch``; e5:
"query: " and "passage: "). Vectors made with a document prefix are stored under the
embedder's id with the prefix added, so they are never mixed with vectors of the same
file made without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from desktopchat.core.documents.types import Embedder
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.models.catalog import CatalogEntry

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[Path | None], Embedder]
"""Makes the embedder for a GGUF file (None: the built-in model)."""

EntryFinder = Callable[[Path | None], CatalogEntry | None]
"""The catalogue entry of a model file (None: the built-in model), or None if unknown."""


class EmbedderUnavailableError(DesktopChatError):
    """The embedding model could not be loaded: keyword search still works."""


def catalogue_entry(path: Path | None) -> CatalogEntry | None:
    """The catalogue entry of ``path`` by its name and header (EntryFinder's default)."""
    from desktopchat.core.models.embedders import catalog_entry_for
    from desktopchat.core.models.gguf import read_gguf

    header = ""
    if path is not None:
        try:
            header = str(read_gguf(path).metadata.get("general.name", ""))
        except Exception:
            log.debug("no header name for %s", path, exc_info=True)
    return catalog_entry_for(path, header)


def stored_id(model_id: str, document_prefix: str) -> str:
    """The id vectors are stored under: the embedder's, with the passage prefix if any."""
    return f"{model_id}|{document_prefix.strip()}" if document_prefix else model_id


class EmbedderSlot:
    def __init__(
        self,
        factory: EmbedderFactory,
        path: Path | None,
        *,
        find_entry: EntryFinder = catalogue_entry,
    ) -> None:
        self._factory = factory
        self._find_entry = find_entry
        self._path = path
        self._entries: dict[Path | None, CatalogEntry | None] = {}
        self._lock = threading.Lock()  # guards the fields below
        self._use = threading.Lock()  # one caller of the embedder at a time
        self._embedder: Embedder | None = None
        self._model_id: str | None = None
        self._dimensions = 0
        self._failure: str | None = None
        self._batch_cancel: threading.Event | None = None
        self._closed = False
        self._generation = 0  # bumped by switch: a batch of the old model is not stored

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def failure(self) -> str | None:
        """Why the model could not be loaded (the last try), or None."""
        return self._failure

    def entry(self) -> CatalogEntry | None:
        """The catalogue entry of the model in use, None if the catalogue does not know
        it. Reads the file's header once: not on the GUI thread."""
        return self.entry_of(self._path)

    def entry_of(self, wanted: Path | None) -> CatalogEntry | None:
        if wanted not in self._entries:
            try:
                self._entries[wanted] = self._find_entry(wanted)
            except Exception:
                log.warning("the catalogue entry of %s could not be found", wanted, exc_info=True)
                self._entries[wanted] = None
        return self._entries[wanted]

    def _prefixes(self) -> tuple[str, str]:
        entry = self.entry()
        return ("", "") if entry is None else (entry.query_prefix, entry.document_prefix)

    def loaded_model_id(self) -> str | None:
        """The model id if the model is loaded already (never loads it)."""
        return self._model_id

    def _get(self) -> Embedder:
        """The embedder, loaded if needed; the caller holds ``_use``."""
        if self._closed:
            raise EmbedderUnavailableError("the document library is closed")
        if self._embedder is None:
            try:
                embedder, model_id, dimensions = self._load(self._path)
            except EmbedderUnavailableError as exc:
                self._failure = str(exc)
                raise
            with self._lock:
                self._embedder = embedder
                self._model_id = model_id
                self._dimensions = dimensions
                self._failure = None
        return self._embedder

    def _load(self, path: Path | None) -> tuple[Embedder, str, int]:
        """A new embedder for ``path`` and the id its vectors are stored under."""
        try:
            embedder = self._factory(path)
            model_id, dimensions = embedder.model_id, embedder.dimensions
        except Exception as exc:
            name = "the built-in embedding model" if path is None else path.name
            failure = f"{name} could not be loaded as an embedding model: {exc}"
            log.warning("%s", failure, exc_info=True)
            raise EmbedderUnavailableError(failure) from exc
        entry = self.entry_of(path)
        return embedder, stored_id(model_id, entry.document_prefix if entry else ""), dimensions

    def model(self) -> tuple[str, int]:
        """(model_id, dimensions), loading the model if needed."""
        with self._use:
            self._get()
            assert self._model_id is not None
            return self._model_id, self._dimensions

    def embed_query(self, text: str) -> list[float]:
        """Interrupts an indexing batch in progress; raises EmbedderUnavailableError."""
        return self.embed_query_with_id(text)[1]

    def embed_query_with_id(self, text: str) -> tuple[str, list[float]]:
        """(the model id, the question's vector), taken together: a vector searched only
        among the vectors of the model that made it. With the model's query prefix."""
        self.interrupt()
        with self._use:
            embedder = self._get()
            query_prefix, _ = self._prefixes()
            try:
                vector = embedder.embed([query_prefix + text])[0]
            except Exception as exc:
                self._drop_after_failure(embedder)
                raise EmbedderUnavailableError(f"the query could not be embedded: {exc}") from exc
            assert self._model_id is not None
            return self._model_id, vector

    def embed_batch(
        self, texts: Sequence[str], stop: threading.Event
    ) -> tuple[str, int, list[list[float]]] | None:
        """(model_id, dimensions, vectors), or None if interrupted (redo it later).

        Raises EmbedderUnavailableError when the model cannot be loaded, and the
        embedder's own error when these texts cannot be embedded.
        """
        cancel = threading.Event()
        with self._use:
            if stop.is_set():
                return None
            generation = self._generation
            embedder = self._get()
            _, document_prefix = self._prefixes()
            with self._lock:
                self._batch_cancel = cancel
            try:
                vectors = embedder.embed([document_prefix + t for t in texts], cancel)
            except Exception:
                if cancel.is_set() or stop.is_set():
                    return None
                self._drop_after_failure(embedder)
                raise
            finally:
                with self._lock:
                    self._batch_cancel = None
            if cancel.is_set() or len(vectors) != len(texts) or generation != self._generation:
                return None
            assert self._model_id is not None
            return self._model_id, self._dimensions, vectors

    def interrupt(self) -> None:
        """Cut the batch in progress short (a query, a pause, a reply that streams)."""
        with self._lock:
            if self._batch_cancel is not None:
                self._batch_cancel.set()

    def _drop_after_failure(self, embedder: Embedder) -> None:
        """An embedder that failed (its process crashed) is closed; the next use reloads."""
        with self._lock:
            if self._embedder is embedder:
                self._embedder = None
        try:
            embedder.close()
        except Exception:
            log.debug("closing a failed embedder", exc_info=True)

    def switch(self, path: Path | None) -> str:
        """Use the model at ``path`` (None: the built-in one), loaded now: raises
        EmbedderUnavailableError when it cannot be, and the model in use stays. Returns
        the new model's id."""
        self.entry_of(path)  # its header read before the old model is stopped
        embedder, model_id, dimensions = self._load(path)
        self.interrupt()
        old: Embedder | None = embedder
        with self._use, self._lock:
            if self._closed:
                pass  # closed meanwhile: the new one goes too
            else:
                old, self._embedder = self._embedder, embedder
                self._path = path
                self._model_id = model_id
                self._dimensions = dimensions
                self._failure = None
                self._generation += 1
        if old is not None:
            try:
                old.close()
            except Exception:
                log.debug("closing the old embedder", exc_info=True)
        return model_id

    def close(self) -> None:
        self._closed = True
        self.interrupt()
        with self._use, self._lock:
            old, self._embedder = self._embedder, None
        if old is not None:
            try:
                old.close()
            except Exception:
                log.debug("closing the embedder", exc_info=True)
