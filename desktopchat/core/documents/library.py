"""``LocalDocumentLibrary``: the DocumentLibrary of one documents database.

It is given its dependencies: the database's path, a factory that makes the embedder for a
GGUF file (the app passes one that starts a ProcessEmbedder, the tests an in-process
LlamaEmbedder), the parse limits from the settings. It owns:

- one store connection, on a thread of its own (``documents-store``): every method's
  database work runs there in order, so callers on any thread share one connection and one
  in-memory vector index (a connection per caller would load the vectors once each);
- the embedding model (``EmbedderSlot``: loaded on first use, queries interrupt indexing
  batches);
- the indexer (``indexer.py``) while this process holds the indexer lock (``lock.py``).
  A library whose lock is held by another process (the CLI beside the window) writes what
  the user asks straight into the store (the indexer there picks new roots up within
  seconds), reads progress from the store, and takes the indexing over when the lock
  comes free: at once in ``wait``, or within a few seconds on its own supervising thread
  (``documents-library``) when ``index`` is true.

Every method is thread-safe and none waits on indexing except ``wait``.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from desktopchat.core.documents.api import ATTACHED_COLLECTION, Preview, ProgressListener
from desktopchat.core.documents.chunking import approx_tokens
from desktopchat.core.documents.embedder_slot import (
    EmbedderFactory,
    EmbedderSlot,
    EmbedderUnavailableError,
)
from desktopchat.core.documents.indexer import (
    EXCLUDED_REASON,
    Indexer,
    IndexerConfig,
    progress_from,
)
from desktopchat.core.documents.lock import IndexerLock
from desktopchat.core.documents.retrieval import fuse, retrieve
from desktopchat.core.documents.types import (
    Collection,
    DocumentFile,
    FileState,
    IndexProgress,
    ParseLimits,
    Passage,
    Retrieved,
)
from desktopchat.core.models.catalog import MULTILINGUAL
from desktopchat.core.storage.documents import DocumentStore

log = logging.getLogger(__name__)

BUILT_IN_NAME = "all-MiniLM-L6-v2 (built in)"
MULTILINGUAL_SUGGESTION = "multilingual-e5-small"
_FOLLOW_INTERVAL = 1.0  # a follower reads progress from the store this often
_SETTLE_SECONDS = 0.3  # wait(): how long the indexer must stay idle to count as done
_TAKEOVER_INTERVAL = 3.0  # and tries the lock this often
_T = TypeVar("_T")


def limits_from_settings(max_file_mb: int) -> ParseLimits:
    """The parse limits with the user's size limit (``AppSettings.documents_max_file_mb``)."""
    return replace(ParseLimits(), max_file_bytes=max(1, max_file_mb) * 1024 * 1024)


class LocalDocumentLibrary:
    """The DocumentLibrary of the documents database at ``database``."""

    def __init__(
        self,
        database: Path,
        embedder_factory: EmbedderFactory,
        *,
        embedding_model: Path | None = None,
        limits: ParseLimits | None = None,
        config: IndexerConfig | None = None,
        index: bool = True,
        count_tokens: Callable[[str], int] = approx_tokens,
        open_store: Callable[[Path], DocumentStore] = DocumentStore.open,
    ) -> None:
        """``index``: index in this process when the lock is free (the window); False
        (the CLI's one-shot commands) indexes only inside ``wait``."""
        self._database = database
        self._open = open_store
        base = config or IndexerConfig()
        self._config = replace(base, limits=limits) if limits is not None else base
        self._count_tokens = count_tokens
        self._slot = EmbedderSlot(embedder_factory, embedding_model)
        self._file_lock = IndexerLock(database)
        self._guard = threading.RLock()
        self._db = _StoreThread(lambda: open_store(database))
        self._listeners: list[ProgressListener] = []
        self._indexer: Indexer | None = None
        self._paused = False
        self._streaming = False
        self._closed = threading.Event()
        self._last_progress = IndexProgress()
        self._suggestions: dict[int, tuple[tuple[int, int], str | None]] = {}
        self._db.start()  # opens (and migrates) the database now: errors surface here
        self._supervisor: threading.Thread | None = None
        if index:
            self._supervisor = threading.Thread(
                target=self._supervise, name="documents-library", daemon=True
            )
            self._supervisor.start()

    # The store thread.

    def _call(self, job: Callable[[DocumentStore], _T]) -> _T:
        return self._db.call(job)

    def _open_for_indexer(self) -> DocumentStore:
        return self._open(self._database)

    # Becoming the indexer.

    def _try_take_over(self) -> bool:
        with self._guard:
            if self._indexer is not None:
                return True
            if self._closed.is_set() or not self._file_lock.try_acquire():
                return False
            indexer = Indexer(
                self._open_for_indexer,
                self._slot,
                self._publish,
                config=self._config,
                count_tokens=self._count_tokens,
            )
            if self._paused:
                indexer.pause()
            if self._streaming:
                indexer.set_yielding(True)
            indexer.start()
            self._indexer = indexer
            log.info("indexing documents in %s", self._database)
            return True

    def _supervise(self) -> None:
        """Index when the lock is free; meanwhile follow the other process's progress."""
        next_try = 0.0
        while not self._closed.is_set():
            if self._indexer is not None:
                return
            now = time.monotonic()
            if now >= next_try:
                if self._try_take_over():
                    return
                next_try = now + _TAKEOVER_INTERVAL
            try:
                progress = self._measure_from_store(load_model=False)
            except Exception:
                log.debug("progress could not be read", exc_info=True)
            else:
                if progress != self._last_progress:
                    self._publish(progress)
            self._closed.wait(_FOLLOW_INTERVAL)

    def _publish(self, progress: IndexProgress) -> None:
        self._last_progress = progress
        with self._guard:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(progress)
            except Exception:
                log.exception("a progress listener failed")

    # Collections and their files.

    def collections(self) -> list[Collection]:
        return self._call(lambda s: s.collections())

    def create_collection(self, name: str) -> Collection:
        return self._call(lambda s: s.create_collection(name))

    def rename_collection(self, collection_id: int, name: str) -> None:
        self._call(lambda s: s.rename_collection(collection_id, name))

    def delete_collection(self, collection_id: int) -> None:
        self._call(lambda s: s.delete_collection(collection_id))
        self._suggestions.pop(collection_id, None)
        self._changed(None)

    def add_paths(self, collection_id: int, paths: Sequence[Path]) -> None:
        wanted = [_normalized(p) for p in paths]

        def add(store: DocumentStore) -> None:
            for path in wanted:
                store.add_root(collection_id, path)
            # a file the user removed from a watched folder comes back when added again
            for f in store.files(collection_id):
                if (
                    f.state is FileState.SKIPPED
                    and f.reason == EXCLUDED_REASON
                    and any(f.path == p or f.path.is_relative_to(p) for p in wanted)
                ):
                    store.set_file_state(f.id, FileState.WAITING)

        self._call(add)
        self._changed(set(wanted))

    def remove_paths(self, collection_id: int, paths: Sequence[Path]) -> None:
        """A root is removed with its files; a file or folder inside a watched folder is
        kept out of the collection (its row stays SKIPPED, "removed from the collection",
        so the folder's next scan does not bring it back)."""
        wanted = [_normalized(p) for p in paths]

        def remove(store: DocumentStore) -> None:
            collection = store.collection(collection_id)
            if collection is None:
                return
            roots = set(collection.roots)
            for path in wanted:
                if path in roots:
                    store.remove_root(collection_id, path)
                    continue
                for f in store.files(collection_id):
                    if f.path == path or f.path.is_relative_to(path):
                        _exclude(store, f)
            store.purge_index()  # one merge of the search index for all of them

        self._call(remove)
        self._changed(None)

    def files(self, collection_id: int) -> list[DocumentFile]:
        # the indexer here loads the model as soon as there is something to embed
        model_id = self._counted_model_id(load_model=self._indexer is None)
        return self._call(lambda s: s.files(collection_id, model_id))

    def attach_file(self, path: Path) -> DocumentFile:
        wanted = _normalized(path)
        try:
            st = wanted.stat()
        except OSError as exc:
            raise ValueError(f"{wanted} cannot be read ({exc.strerror or exc}).") from None
        if stat.S_ISDIR(st.st_mode):
            raise ValueError(
                f"{wanted.name} is a folder: add it to a collection (Documents…) and attach that."
            )

        def attach(store: DocumentStore) -> tuple[DocumentFile, bool]:
            for known in store.files_at(wanted):
                if not (known.state is FileState.SKIPPED and known.reason == EXCLUDED_REASON):
                    return known, False
            collection = store.collection_named(ATTACHED_COLLECTION)
            if collection is None:
                collection = store.create_collection(ATTACHED_COLLECTION)
            store.add_root(collection.id, wanted)
            found = store.upsert_file(collection.id, wanted, st.st_size, st.st_mtime_ns)
            if found.state is FileState.SKIPPED and found.reason == EXCLUDED_REASON:
                store.set_file_state(found.id, FileState.WAITING)
                found = replace(found, state=FileState.WAITING, reason="")
            return found, True

        found, added = self._call(attach)
        if added:
            self._changed({wanted})
        return found

    def files_by_id(self, file_ids: Sequence[int]) -> list[DocumentFile]:
        ids = list(file_ids)
        model_id = self._slot.loaded_model_id()

        def read(store: DocumentStore) -> list[DocumentFile]:
            return [f for f in (store.file(i, model_id) for i in ids) if f is not None]

        return self._call(read)

    def _changed(self, paths: set[Path] | None) -> None:
        indexer = self._indexer
        if indexer is not None:
            if paths:
                indexer.request_scan(paths)
            else:
                indexer.request_scan(set())

    # Indexing.

    def progress(self) -> IndexProgress:
        indexer = self._indexer
        if indexer is not None:
            return self._call(indexer.measure)
        return self._measure_from_store(load_model=True)

    def _counted_model_id(self, *, load_model: bool = True) -> str | None:
        """The model whose vectors are counted as a file's or a collection's (loaded if
        it is not yet, so a fresh process does not count every passage as without one)."""
        model_id = self._slot.loaded_model_id()
        if model_id is None and load_model:
            try:
                model_id, _ = self._slot.model()
            except EmbedderUnavailableError:
                model_id = None
        return model_id

    def _measure_from_store(self, *, load_model: bool) -> IndexProgress:
        model_id = self._counted_model_id(load_model=load_model)
        counts = self._call(lambda s: progress_from(s, model_id))
        return replace(counts, paused=self._paused, yielding=self._streaming)

    def subscribe(self, listener: ProgressListener) -> Callable[[], None]:
        with self._guard:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._guard:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def pause(self) -> None:
        self._paused = True
        if self._indexer is not None:
            self._indexer.pause()

    def resume(self) -> None:
        self._paused = False
        if self._indexer is not None:
            self._indexer.resume()

    def set_reply_streaming(self, streaming: bool) -> None:
        self._streaming = streaming
        if self._indexer is not None:
            self._indexer.set_yielding(streaming)

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        settled_since: float | None = None
        while not self._closed.is_set():
            indexer = self._indexer
            if indexer is None:
                self._try_take_over()
                indexer = self._indexer
            if indexer is not None:
                settled = False
                if not indexer.busy() and not indexer.held():
                    # the threads say idle: check with the store (nothing left behind)
                    progress = self._call(indexer.measure)
                    settled = progress.idle or indexer.embed_problem is not None
                # Idle twice in a row, a moment apart: a scan just asked for (a root added,
                # a watched file changed) has had time to be taken up by the index thread.
                if not settled:
                    settled_since = None
                elif settled_since is None:
                    settled_since = time.monotonic()
                elif time.monotonic() - settled_since >= _SETTLE_SECONDS:
                    return True
            else:
                progress = self._measure_from_store(load_model=True)
                # the other process may not have scanned a new root yet: settle 2 polls
                if progress.idle:
                    if settled_since is None:
                        settled_since = time.monotonic()
                    elif time.monotonic() - settled_since >= 2 * _FOLLOW_INTERVAL:
                        return True
                else:
                    settled_since = None
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self._closed.wait(0.1)
        return False

    # Retrieval.

    def _model_for_query(self) -> str | None:
        try:
            return self._slot.model()[0]
        except EmbedderUnavailableError:
            return None

    def _embed_query(self, text: str, model_id: str) -> list[float]:
        """The question's vector, made by the model ``model_id`` (the one whose vectors
        are searched) and no other: raises EmbedderUnavailableError if it changed."""
        made_by, vector = self._slot.embed_query_with_id(text)
        if made_by != model_id:
            raise EmbedderUnavailableError("the embedding model changed during the question")
        return vector

    def _query_embedder(self, model_id: str | None) -> Callable[[str], list[float]] | None:
        if model_id is None:
            return None
        return lambda text: self._embed_query(text, model_id)

    def search(
        self,
        query: str,
        *,
        collection_ids: Sequence[int] | None = None,
        file_ids: Sequence[int] | None = None,
        limit: int = 10,
    ) -> list[Passage]:
        ids = list(collection_ids) if collection_ids is not None else None
        files = list(file_ids) if file_ids is not None else None
        wide = max(limit * 3, 20)
        model_id = self._model_for_query()
        vector_query: list[float] | None = None
        if model_id is not None and query.strip():
            try:
                vector_query = self._embed_query(query, model_id)  # here, not on the store's
            except EmbedderUnavailableError:
                log.warning("the query could not be embedded: keyword search only")

        def find(store: DocumentStore) -> list[Passage]:
            keyword = store.keyword_search(query, ids, wide, file_ids=files)
            vector: list[Passage] = []
            if model_id is not None and vector_query is not None:
                vector = store.vector_search(model_id, vector_query, ids, wide, file_ids=files)
            return fuse(keyword, vector)[:limit]

        return self._call(find)

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
        ids = list(collection_ids)
        files = list(file_ids) or None  # None: no single files, only the collections
        model_id = self._model_for_query()
        embed = self._query_embedder(model_id)

        def run(store: DocumentStore) -> tuple[Retrieved, int, int]:
            result = retrieve(
                store,
                embed,
                model_id,
                query,
                ids,
                budget_tokens,
                count_tokens,
                file_ids=files,
                passages_budget=passages_budget,
            )
            counts = store.counts(None, ids, files)
            return result, counts.files_total - counts.files_done, counts.files_total

        result, waiting, total = self._call(run)
        if waiting:
            note = f"{waiting} of {total} attached files are still being indexed"
            result = replace(result, still_indexing=True, notes=(*result.notes, note))
        return result

    def preview(self, chunk_id: int) -> Preview:
        def read(store: DocumentStore) -> tuple[Passage | None, str]:
            passage = store.chunk(chunk_id)
            return passage, store.file_text(passage.file_id) if passage is not None else ""

        passage, text = self._call(read)
        if passage is None:
            raise KeyError(f"There is no passage {chunk_id} (its file was removed).")
        start, end = passage.start, passage.end
        if not (0 <= start < end <= len(text)) or text[start:end] != passage.text:
            found = text.find(passage.text)
            start, end = (found, found + len(passage.text)) if found >= 0 else (0, 0)
        # A large file is shown as a window around the passage.
        window = 200_000
        if len(text) > 2 * window:
            lo = max(0, start - window)
            hi = min(len(text), end + window)
            text, start, end = text[lo:hi], start - lo, end - lo
        return Preview(
            path=passage.path,
            text=text,
            start=start,
            end=end,
            anchor_text=passage.anchor.describe(),
        )

    # The embedding model.

    def embedder_name(self) -> str:
        path = self._slot.path
        return BUILT_IN_NAME if path is None else path.stem

    def embedding_languages(self) -> tuple[str, ...]:
        """The languages the model in use serves, as its catalogue entry says (ISO 639-1
        codes or "multi"); () when the catalogue does not know the model."""
        entry = self._slot.entry()
        return entry.languages if entry is not None else ()

    def set_embedding_model(self, path: Path | None) -> None:
        """Loads the new model first: a model that cannot be loaded raises
        EmbedderUnavailableError (a DesktopChatError with the reason) and the one in use
        stays. The old model's vectors stay in the database, unused: choosing it again
        uses them at once and embeds only what changed meanwhile."""
        if path == self._slot.path and self._slot.failure is None:
            return
        self._slot.switch(path)
        self._suggestions.clear()
        if self._indexer is not None:
            self._indexer.embedder_changed()

    def set_limits(self, limits: ParseLimits) -> None:
        """The user changed the size limit: files skipped for it are tried again."""
        self._config = replace(self._config, limits=limits)
        if self._indexer is not None:
            self._indexer.set_limits(limits)

    def suggestion(self, collection_id: int) -> str | None:
        languages = self.embedding_languages()
        if not languages or MULTILINGUAL in languages:
            return None  # a model the catalogue does not know, or one for ~100 languages
        files = [f for f in self.files(collection_id) if f.state is FileState.INDEXED]
        key = (len(files), sum(f.chunks for f in files))
        cached = self._suggestions.get(collection_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        picked = [f.id for f in files[:: max(1, len(files) // 24)][:24]]
        sample = self._call(lambda s: [s.file_text(i)[:4000] for i in picked])
        language = dominant_foreign_language("\n".join(sample))
        advice = None
        if language is not None and not _serves(languages, language):
            advice = (
                f"Most of this collection is in {language}, which {self.embedder_name()} "
                f"does not understand well: search by meaning will be poor. "
                f"{MULTILINGUAL_SUGGESTION} (Models › Embedding models) serves it; keyword "
                "search works either way."
            )
        self._suggestions[collection_id] = (key, advice)
        return advice

    # Closing.

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._guard:
            indexer, self._indexer = self._indexer, None
        if indexer is not None:
            indexer.stop(timeout=2.0)
        if self._supervisor is not None:
            self._supervisor.join(timeout=2.0)
        self._slot.close()
        self._file_lock.release()
        self._db.close()


class _StoreThread:
    """One DocumentStore on a thread of its own; ``call`` runs a job there and returns
    its result (or raises its exception) in the caller's thread."""

    def __init__(self, opener: Callable[[], DocumentStore]) -> None:
        self._opener = opener
        self._jobs: queue.SimpleQueue[tuple[Callable[[DocumentStore], Any], Future[Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="documents-store", daemon=True)
        self._opened: Future[None] = Future()
        self._closed = False

    def start(self) -> None:
        self._thread.start()
        self._opened.result()  # the store's open error (too new, corrupt) is raised here

    def call(self, job: Callable[[DocumentStore], _T]) -> _T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a store job may not wait for another store job")
        if self._closed:
            raise RuntimeError("the document library is closed")
        future: Future[_T] = Future()
        self._jobs.put((job, future))
        return future.result()

    def _run(self) -> None:
        try:
            store = self._opener()
        except BaseException as exc:
            self._opened.set_exception(exc)
            return
        self._opened.set_result(None)
        try:
            while (item := self._jobs.get()) is not None:
                job, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(job(store))
                except BaseException as exc:
                    future.set_exception(exc)
        finally:
            store.close()
            while True:  # jobs that came after close
                try:
                    left = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    left[1].set_exception(RuntimeError("the document library is closed"))

    def close(self) -> None:
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=5.0)


def _exclude(store: DocumentStore, f: DocumentFile) -> None:
    """Its text, chunks and vectors go; the row stays SKIPPED so scans leave it out."""
    if f.state is FileState.SKIPPED and f.reason == EXCLUDED_REASON:
        return
    store.replace_file_content(
        f.id, sha256=f.sha256, format=f.format, text="", chunks=(), purge=False
    )
    store.set_file_state(f.id, FileState.SKIPPED, EXCLUDED_REASON)


def _normalized(path: Path) -> Path:
    """Absolute, without ``..``, links kept (the user's own view of the path)."""
    return Path(os.path.abspath(os.path.expanduser(path)))


# The simple language detection for the advice, and which codes its languages have.

_CODES = {
    "Chinese or Japanese": ("zh", "ja"),
    "Japanese": ("ja",),
    "Korean": ("ko",),
    "Thai": ("th",),
    "Russian or another Cyrillic-script language": ("ru", "uk", "bg", "sr"),
    "Arabic": ("ar",),
    "Hebrew": ("he",),
    "Hindi or another Devanagari-script language": ("hi", "mr", "ne"),
    "Bengali": ("bn",),
    "Tamil": ("ta",),
    "Greek": ("el",),
    "Georgian": ("ka",),
    "Armenian": ("hy",),
    "German": ("de",),
    "French": ("fr",),
    "Spanish": ("es",),
    "Italian": ("it",),
    "Portuguese": ("pt",),
    "Dutch": ("nl",),
    "Polish": ("pl",),
    "Turkish": ("tr",),
}


def _serves(languages: tuple[str, ...], language: str) -> bool:
    """Whether a model serving ``languages`` (codes) serves the detected ``language``."""
    return any(code in languages for code in _CODES.get(language, ()))


_SCRIPTS = (
    ("CJK", "Chinese or Japanese"),
    ("HIRAGANA", "Japanese"),
    ("KATAKANA", "Japanese"),
    ("HANGUL", "Korean"),
    ("THAI", "Thai"),
    ("CYRILLIC", "Russian or another Cyrillic-script language"),
    ("ARABIC", "Arabic"),
    ("HEBREW", "Hebrew"),
    ("DEVANAGARI", "Hindi or another Devanagari-script language"),
    ("BENGALI", "Bengali"),
    ("TAMIL", "Tamil"),
    ("GREEK", "Greek"),
    ("GEORGIAN", "Georgian"),
    ("ARMENIAN", "Armenian"),
)
_STOPWORDS = {
    "English": {
        "the",
        "and",
        "of",
        "to",
        "is",
        "in",
        "that",
        "it",
        "for",
        "with",
        "as",
        "was",
        "on",
        "are",
        "this",
        "be",
        "by",
        "not",
        "or",
        "have",
    },
    "German": {
        "der",
        "die",
        "und",
        "das",
        "ist",
        "nicht",
        "ein",
        "eine",
        "zu",
        "mit",
        "den",
        "sich",
        "auf",
        "für",
        "von",
        "dem",
        "auch",
        "es",
        "ich",
        "wir",
    },
    "French": {
        "le",
        "la",
        "les",
        "et",
        "des",
        "est",
        "une",
        "un",
        "du",
        "que",
        "pour",
        "dans",
        "qui",
        "pas",
        "sur",
        "avec",
        "au",
        "ce",
        "nous",
        "vous",
    },
    "Spanish": {
        "el",
        "la",
        "los",
        "las",
        "que",
        "y",
        "es",
        "del",
        "en",
        "por",
        "una",
        "con",
        "para",
        "se",
        "no",
        "su",
        "al",
        "lo",
        "como",
        "más",
    },
    "Italian": {
        "il",
        "di",
        "che",
        "è",
        "non",
        "la",
        "per",
        "una",
        "sono",
        "gli",
        "con",
        "del",
        "della",
        "le",
        "si",
        "lo",
        "anche",
        "questo",
        "come",
        "più",
    },
    "Portuguese": {
        "o",
        "os",
        "que",
        "não",
        "uma",
        "um",
        "do",
        "da",
        "em",
        "para",
        "com",
        "se",
        "na",
        "no",
        "por",
        "mais",
        "as",
        "dos",
        "como",
        "é",
    },
    "Dutch": {
        "de",
        "het",
        "een",
        "en",
        "van",
        "is",
        "niet",
        "dat",
        "op",
        "te",
        "zijn",
        "voor",
        "met",
        "ook",
        "maar",
        "er",
        "wij",
        "ik",
        "aan",
        "bij",
    },
    "Polish": {
        "i",
        "w",
        "nie",
        "się",
        "na",
        "że",
        "jest",
        "do",
        "to",
        "z",
        "jak",
        "co",
        "ale",
        "tak",
        "od",
        "po",
        "dla",
        "są",
        "czy",
        "być",
    },
    "Turkish": {
        "ve",
        "bir",
        "bu",
        "da",
        "de",
        "için",
        "ile",
        "çok",
        "ne",
        "daha",
        "gibi",
        "olarak",
        "ama",
        "kadar",
        "sonra",
        "değil",
        "ben",
        "her",
        "mi",
        "olan",
    },
}


def dominant_foreign_language(text: str) -> str | None:
    """The language most of ``text`` is in, when it is not English (None: English or
    too little text to tell). Scripts by Unicode names, Latin languages by stopwords."""
    letters = 0
    by_script: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        if ord(ch) < 0x0250:
            by_script["LATIN"] = by_script.get("LATIN", 0) + 1
            continue
        name = unicodedata.name(ch, "")
        for key, language in _SCRIPTS:
            if name.startswith(key) or (key == "CJK" and "IDEOGRAPH" in name):
                by_script[language] = by_script.get(language, 0) + 1
                break
    if letters < 200:
        return None
    non_latin = {k: v for k, v in by_script.items() if k != "LATIN"}
    if non_latin:
        language, count = max(non_latin.items(), key=lambda kv: kv[1])
        japanese = by_script.get("Japanese", 0)
        if sum(non_latin.values()) > letters * 0.5:
            if language == "Chinese or Japanese" and japanese > letters * 0.05:
                language = "Japanese"
            return language
    words = [w.strip(".,;:!?()\"'«»¿¡").lower() for w in text.split()]
    hits = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    english = hits.pop("English")
    if not hits:
        return None
    language, count = max(hits.items(), key=lambda kv: kv[1])
    if count > english * 1.5 and count >= 10:
        return language
    return None
