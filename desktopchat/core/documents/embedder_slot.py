"""The one embedding model a library uses, shared by the indexer and the queries.

``EmbedderSlot`` loads the model through the factory it is given, on first use (from
whichever thread asks first), and lets one caller at a time use it (an engine is not
thread-safe). A query never waits for a whole indexing batch: ``embed_query`` interrupts
the batch in progress (its cancel event), takes the model, and the indexer redoes the
batch afterwards. ``switch`` changes the model: the old one is closed, the next use loads
the new one; its vectors carry another ``model_id`` and are never mixed with the old.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from desktopchat.core.documents.types import Embedder

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[Path | None], Embedder]
"""Makes the embedder for a GGUF file (None: the built-in model)."""


class EmbedderUnavailableError(Exception):
    """The embedding model could not be loaded: keyword search still works."""


class EmbedderSlot:
    def __init__(self, factory: EmbedderFactory, path: Path | None) -> None:
        self._factory = factory
        self._path = path
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

    def loaded_model_id(self) -> str | None:
        """The model id if the model is loaded already (never loads it)."""
        return self._model_id

    def _get(self) -> Embedder:
        """The embedder, loaded if needed; the caller holds ``_use``."""
        if self._closed:
            raise EmbedderUnavailableError("the document library is closed")
        if self._embedder is None:
            try:
                embedder = self._factory(self._path)
                model_id, dimensions = embedder.model_id, embedder.dimensions
            except Exception as exc:
                self._failure = f"the embedding model could not be loaded: {exc}"
                log.warning("%s", self._failure, exc_info=True)
                raise EmbedderUnavailableError(self._failure) from exc
            with self._lock:
                self._embedder = embedder
                self._model_id = model_id
                self._dimensions = dimensions
                self._failure = None
        return self._embedder

    def model(self) -> tuple[str, int]:
        """(model_id, dimensions), loading the model if needed."""
        with self._use:
            self._get()
            assert self._model_id is not None
            return self._model_id, self._dimensions

    def embed_query(self, text: str) -> list[float]:
        """Interrupts an indexing batch in progress; raises EmbedderUnavailableError."""
        self.interrupt()
        with self._use:
            embedder = self._get()
            try:
                return embedder.embed([text])[0]
            except Exception as exc:
                self._drop_after_failure(embedder)
                raise EmbedderUnavailableError(f"the query could not be embedded: {exc}") from exc

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
            with self._lock:
                self._batch_cancel = cancel
            try:
                vectors = embedder.embed(texts, cancel)
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

    def switch(self, path: Path | None) -> None:
        self.interrupt()
        with self._use, self._lock:
            old, self._embedder = self._embedder, None
            self._path = path
            self._model_id = None
            self._failure = None
            self._generation += 1
        if old is not None:
            old.close()

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
