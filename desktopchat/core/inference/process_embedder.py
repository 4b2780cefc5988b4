"""ProcessEmbedder: the Embedder protocol with llama.cpp in a supervised child process.

The child is the app's own engine process (``--engine-host``, see engine_host's embed
commands), a second one beside the chat's, so indexing never evicts the chat model and a
crash in it harms nothing: the call that saw it raises EngineCrashedError with llama.cpp's
last words, and the next call starts a fresh child and loads the model again. This
process never loads llama.cpp (it reads nothing but the pipe).

Safe from any thread. Texts go to the child a few at a time (``SUB_BATCH``), and a small
request (a query: at most ``QUERY_TEXTS`` texts) goes before the next piece of a large
one, so a question never waits behind a whole indexing batch. ``cancel`` is passed to the
child, which stops between decodes; the call then raises EmbeddingCancelledError.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.process_engine import ProcessEngine

log = logging.getLogger("desktopchat.engine")

SUB_BATCH = 8  # texts per request to the child: what a query may have to wait behind
QUERY_TEXTS = 2  # requests of at most this many texts go first
_LOAD_ADVICE = "The embedding model could not be started; keyword search still works."
_ADVICE = "The texts were not embedded; the next try starts the embedding engine again."


class EmbeddingCancelledError(DesktopChatError):
    """The embed call was cancelled (its vectors are not returned)."""


@dataclass(frozen=True)
class _Model:
    model_id: str
    dimensions: int
    max_tokens: int
    path: Path


class ProcessEmbedder:
    """An Embedder whose llama.cpp lives in a child process of its own."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        n_threads: int | None = None,
        batch_tokens: int | None = None,
        max_tokens: int | None = None,
        n_gpu_layers: int | None = None,
    ) -> None:
        """``path``: a GGUF embedding model, None for the built-in one (the child finds
        or converts it). The options are LlamaEmbedder's. Nothing starts until the first
        use."""
        self._path = path
        self._options: dict[str, Any] = {
            k: v
            for k, v in (
                ("n_threads", n_threads),
                ("batch_tokens", batch_tokens),
                ("max_tokens", max_tokens),
                ("n_gpu_layers", n_gpu_layers),
            )
            if v is not None
        }
        self._child = ProcessEngine(background=True)  # indexing gives way to the window
        self._model: _Model | None = None
        self._loaded_pid: int | None = None
        self._turns = threading.Condition()
        self._busy = False
        self._queries_waiting = 0
        self._closed = False

    # -- the Embedder protocol ---------------------------------------------------------

    @property
    def model_id(self) -> str:
        return self._ensure_model().model_id

    @property
    def dimensions(self) -> int:
        return self._ensure_model().dimensions

    @property
    def max_tokens(self) -> int:
        return self._ensure_model().max_tokens

    @property
    def path(self) -> Path:
        """The GGUF file the child embeds with (the built-in model's, for None)."""
        return self._ensure_model().path

    @property
    def pid(self) -> int | None:
        """The child's process id, None when none runs."""
        return self._child.pid

    def start(self) -> None:
        """Start the child and load the model now (the first embed does it otherwise)."""
        self._ensure_model()

    def embed(
        self, texts: Sequence[str], cancel: threading.Event | None = None
    ) -> list[list[float]]:
        import numpy as np  # only for turning the child's bytes into rows

        texts = list(texts)
        vectors: list[list[float]] = []
        query = len(texts) <= QUERY_TEXTS
        for start in range(0, len(texts), SUB_BATCH):
            if cancel is not None and cancel.is_set():
                raise EmbeddingCancelledError("Embedding was cancelled.")
            part = texts[start : start + SUB_BATCH]
            with self._turn(query):
                rows, width, data = self._request("embed", part, cancel=cancel)
            array = np.frombuffer(data, dtype=np.float32).reshape(rows, width)
            vectors += array.tolist()
        return vectors

    def count_tokens(self, text: str) -> int:
        with self._turn(True):
            counts: list[int] = self._request("embed-count", [text])
        return counts[0]

    def count_tokens_many(self, texts: Sequence[str]) -> list[int]:
        with self._turn(False):
            counts: list[int] = self._request("embed-count", list(texts))
        return counts

    def close(self) -> None:
        """End the child (waits for the request in progress, if any)."""
        with self._turn(True):
            self._closed = True
            self._child.close()
            self._loaded_pid = None

    # -- the child ---------------------------------------------------------------------

    @contextmanager
    def _turn(self, query: bool) -> Iterator[None]:
        """One request at a time; queries before the next piece of a batch."""
        with self._turns:
            if query:
                self._queries_waiting += 1
            try:
                while self._busy or (not query and self._queries_waiting):
                    self._turns.wait()
            finally:
                if query:
                    self._queries_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._turns:
                self._busy = False
                self._turns.notify_all()

    def _ensure_model(self) -> _Model:
        model = self._model
        if model is not None:
            return model
        with self._turn(True):
            self._load_if_needed()
        assert self._model is not None
        return self._model

    def _load_if_needed(self) -> None:
        """In a turn: a fresh child (the first, or one after a crash) loads the model."""
        if self._closed:
            raise DesktopChatError("The embedding engine was closed.")
        if self._loaded_pid is not None and self._child.pid == self._loaded_pid:
            return
        name = self._path.name if self._path is not None else "the built-in embedding model"
        frame = self._child.request(
            "embed-load",
            self._path,
            self._options,
            doing=f"while loading {name}",
            advice=_LOAD_ADVICE,
        )
        model_id, dimensions, max_tokens, path = frame[1]
        model = _Model(model_id, dimensions, max_tokens, Path(path))
        if self._model is not None and self._model.model_id != model.model_id:
            log.warning("the embedding model changed on disk: %s", model.model_id)
        self._model = model
        self._loaded_pid = self._child.pid

    def _request(
        self, kind: str, texts: list[str], *, cancel: threading.Event | None = None
    ) -> Any:
        """In a turn: one command to the child and its answer."""
        self._load_if_needed()
        try:
            frame = self._child.request(
                kind, texts, doing="while embedding", advice=_ADVICE, cancel=cancel
            )
        except DesktopChatError as exc:
            if cancel is not None and cancel.is_set() and "cancelled" in str(exc):
                raise EmbeddingCancelledError("Embedding was cancelled.") from None
            raise
        return frame[1]
