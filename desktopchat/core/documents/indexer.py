"""The indexing pipeline: scan, extract, chunk, store (phase 1), then embed (phase 2).

It runs in the one process that holds the indexer lock (``lock.py``), on threads of its own:

- ``documents-index``: scans the collections' roots (at start, when roots are added, when
  the watcher reports changes, and slowly on a timer as the fallback for folders whose
  notifications do not work), then reads the waiting files, smallest first: the extract
  worker (``extract_worker.py``, a child process started on the first file) extracts and
  chunks each one, and this thread stores it with ``replace_file_content`` (one
  transaction per file) while the worker reads the next. A file is keyword-searchable as
  soon as its transaction commits. No parser runs in this process: their GIL-holding
  work would stall the window, and a file that crashes or hangs the worker fails alone.
- ``documents-embed``: fills in the vectors behind it (``chunks_needing_vectors`` in
  batches, ``put_vectors``). While files wait to be read it holds back
  (``embed_while_reading``), so every core goes to making them searchable first.
- ``documents-progress``: publishes ``IndexProgress`` to the listeners when it changed,
  a few times a second at most.
- the watcher's threads (``watch.py``).

Everything the pipeline knows lives in the store: a file is WAITING until its content is
committed, so after a close, a crash or SIGKILL the next start redoes the WAITING and
INDEXING files and embeds the chunks without vectors: nothing is lost or duplicated.
Per-file problems are recorded on the file (FAILED with the parser's reason, SKIPPED for
formats we do not read) and never stop the pipeline. ``pause`` (the user) and
``set_yielding`` (a reply streams) hold both threads between files and batches and cut
the embedding batch in progress short.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from desktopchat.core.documents.chunking import approx_tokens
from desktopchat.core.documents.embedder_slot import EmbedderSlot, EmbedderUnavailableError
from desktopchat.core.documents.extract_worker import (
    ExtractCancelledError,
    ExtractWorker,
    ReadFile,
    ReadSettings,
    check_picklable,
)
from desktopchat.core.documents.parsers import is_supported
from desktopchat.core.documents.scan import (
    FoundFile,
    ScanResult,
    diff,
    scan,
    sha256_of,
    under,
)
from desktopchat.core.documents.types import (
    ChunkText,
    Collection,
    DocumentError,
    DocumentFile,
    FileState,
    IndexProgress,
    ParseLimits,
    UnsupportedDocumentError,
)
from desktopchat.core.storage.documents import DocumentStore

log = logging.getLogger(__name__)

EXCLUDED_REASON = "removed from the collection"
UNAVAILABLE_REASON = "folder unavailable"
_PENDING = (FileState.WAITING, FileState.INDEXING)
READ_MEMORY_PER_BYTE = 6  # a file's bytes, its decoded text, its chunks and the parser's


def reader_memory_limit(configured: int | None, limits: ParseLimits) -> int | None:
    """The extract worker's memory limit: the configured one, raised for a size limit
    that lets bigger files in (a 2 GB log file needs more than 4 GiB to be read)."""
    if configured is None:
        return None
    return max(configured, READ_MEMORY_PER_BYTE * limits.max_file_bytes)


@dataclass(frozen=True)
class IndexerConfig:
    limits: ParseLimits = field(default_factory=ParseLimits)
    chunk_tokens: int = 256  # approx_tokens over-counts: within all-MiniLM-L6-v2's 256
    overlap_tokens: int = 32
    embed_batch: int = 32  # chunks a call (a query interrupts the batch, it does not wait)
    files_per_fetch: int = 256  # waiting files fetched at once, then read smallest first
    rescan_interval: float = 600.0  # the fallback for folders without notifications
    # Removed files' words leave the search index's pages (DocumentStore.purge_index, a
    # merge of the whole index on SQLite < 3.42) when the indexer is idle, at most this often.
    purge_interval: float = 300.0
    roots_poll_interval: float = 2.0  # roots another process added to the store
    progress_interval: float = 0.25  # at most 4 updates a second
    watch: bool = True
    debounce: float = 1.0
    change_retries: int = 3  # a file that keeps changing while it is read: then FAILED
    read_ahead: int = 1  # files queued to the extract worker beyond the one it reads
    read_seconds: float = 120.0  # a file's time limit in the worker: this, plus
    read_seconds_per_mb: float = 5.0  # this per MB of the file; then it fails
    # The worker's address space (RLIMIT_AS): this, or more when the user's size limit
    # allows bigger files (READ_MEMORY_PER_BYTE times it); None: no limit.
    reader_memory_bytes: int | None = 4 << 30
    embed_while_reading: bool = False  # False: vectors wait until no file waits to be read


ProgressSink = Callable[[IndexProgress], None]
StoreOpener = Callable[[], DocumentStore]
WatcherFactory = Callable[[Callable[[set[Path]], None], float], "RootWatcher"]


class RootWatcher(Protocol):
    """What the indexer needs of a watcher (``watch.FolderWatcher`` is the real one)."""

    def watch(self, roots: Sequence[Path]) -> list[Path]: ...

    def close(self) -> None: ...


class _Rate:
    """Amounts per second over the last ~10 seconds of work. The indexing threads add to
    it while the progress thread and the library's callers read it: a lock guards it."""

    def __init__(self, window: float = 10.0) -> None:
        self._window = window
        self._samples: deque[tuple[float, float]] = deque()
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] > self._window:
            self._samples.popleft()

    def add(self, amount: float) -> None:
        now = time.monotonic()
        with self._lock:
            self._samples.append((now, amount))
            self._trim(now)

    def per_second(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._trim(now)
            if not self._samples:
                return 0.0
            span = max(now - self._samples[0][0], 1.0)
            return sum(a for _, a in self._samples) / span


class Indexer:
    """The pipeline of one documents database; ``start`` it once, ``stop`` it once."""

    def __init__(
        self,
        open_store: StoreOpener,
        embedder: EmbedderSlot,
        publish: ProgressSink,
        *,
        config: IndexerConfig = IndexerConfig(),
        count_tokens: Callable[[str], int] = approx_tokens,
        watcher_factory: WatcherFactory | None = None,
    ) -> None:
        self._open_store = open_store
        self._embedder = embedder
        self._publish = publish
        self._config = config
        check_picklable(count_tokens)  # it chunks in the extract worker
        self._count_tokens = count_tokens
        self._watcher_factory = watcher_factory
        self._limits = config.limits

        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # index thread: work or a change
        self._embed_wake = threading.Condition(self._lock)  # embed thread: new chunks
        self._stop = threading.Event()
        self._hold = threading.Event()  # set while paused or yielding (checked between work)
        self._paused = False
        self._yielding = False
        self._full_scan = True  # the scan at start
        self._scan_paths: set[Path] = set()
        self._unavailable: tuple[Path, ...] = ()
        self._current = ""
        self._index_busy = True  # until the first scan is done
        self._embed_busy = True
        self._reading = False  # files wait to be read (the embed thread may hold back)
        self._worker: ExtractWorker | None = None  # started by the first file read
        self._worker_memory: int | None = None  # the memory limit it was started with
        self._chunks_seq = 0  # bumped (under _lock) whenever new chunks are committed
        self._progress_dirty = threading.Event()
        self._bytes_rate = _Rate()
        self._chunks_rate = _Rate()
        self._change_retries: dict[int, int] = {}
        self._unembeddable: set[int] = set()
        self._embed_problem: str | None = None
        self._last_progress = IndexProgress()
        self._threads: list[threading.Thread] = []
        self._watcher: RootWatcher | None = None

    # Control, from any thread.

    def start(self) -> None:
        for name, target in (
            ("documents-index", self._run_index),
            ("documents-embed", self._run_embed),
            ("documents-progress", self._run_progress),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._hold.set()
        self._embedder.interrupt()
        with self._lock:
            self._wake.notify_all()
            self._embed_wake.notify_all()
        self._progress_dirty.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()  # also when the index thread did not end: it is stuck on it
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()

    def request_scan(self, paths: set[Path] | None = None) -> None:
        """Rescan these paths (None: every root of every collection)."""
        with self._lock:
            if paths is None:
                self._full_scan = True
            else:
                self._scan_paths |= paths
            self._index_busy = True
            self._wake.notify_all()
        self._progress_dirty.set()

    def set_limits(self, limits: ParseLimits) -> None:
        """A new size limit: files skipped for their size are tried again."""
        with self._lock:
            self._limits = limits
            self._full_scan = True
            self._index_busy = True
            self._wake.notify_all()

    def pause(self) -> None:
        self._set_hold(paused=True)

    def resume(self) -> None:
        self._set_hold(paused=False)

    def set_yielding(self, yielding: bool) -> None:
        self._set_hold(yielding=yielding)

    def _set_hold(self, *, paused: bool | None = None, yielding: bool | None = None) -> None:
        with self._lock:
            if paused is not None:
                self._paused = paused
            if yielding is not None:
                self._yielding = yielding
            held = self._paused or self._yielding
            if held:
                self._hold.set()
            elif not self._stop.is_set():
                self._hold.clear()
            self._wake.notify_all()
            self._embed_wake.notify_all()
        if held:
            self._embedder.interrupt()
        self._progress_dirty.set()

    def embedder_changed(self) -> None:
        """Another embedding model: the embed thread starts over with it."""
        with self._lock:
            self._chunks_seq += 1
            self._unembeddable.clear()
            self._embed_problem = None
            self._embed_busy = True
            self._embed_wake.notify_all()
        self._progress_dirty.set()

    @property
    def unavailable(self) -> tuple[Path, ...]:
        return self._unavailable

    @property
    def embed_problem(self) -> str | None:
        return self._embed_problem

    def busy(self) -> bool:
        """True while there is (or may be) work: a scan asked for, files or chunks left."""
        with self._lock:
            return self._index_busy or self._embed_busy or self._full_scan or bool(self._scan_paths)

    def held(self) -> bool:
        return self._hold.is_set() and not self._stop.is_set()

    def last_progress(self) -> IndexProgress:
        return self._last_progress

    def _wait_while_held(
        self, condition: threading.Condition, *, yielding_only: bool = False
    ) -> bool:
        """Block while paused (unless ``yielding_only``) or yielding; False when stopping."""
        with self._lock:
            while (
                self._yielding or (self._paused and not yielding_only)
            ) and not self._stop.is_set():
                condition.wait(1.0)
        return not self._stop.is_set()

    def _wait_while_reading(self) -> bool:
        """Block while files wait to be read (and nothing holds the pipeline); False when
        stopping."""
        with self._lock:
            while self._reading and not self._hold.is_set() and not self._stop.is_set():
                self._embed_wake.wait(1.0)
        return not self._stop.is_set()

    # Phase 1: the index thread.

    def _run_index(self) -> None:
        try:
            store = self._open_store()
        except Exception:
            log.exception("the indexer cannot open the documents store")
            return
        try:
            self._index_loop(store)
        except Exception:
            log.exception("the indexer stopped")
        finally:
            self._set_reading(False)
            store.close()

    def _index_loop(self, store: DocumentStore) -> None:
        known_roots: set[tuple[int, Path]] = set()
        next_roots_poll = 0.0
        next_rescan = time.monotonic() + self._config.rescan_interval
        next_purge = 0.0
        while not self._stop.is_set():
            # A streaming reply holds everything; a pause by the user lets scans go on
            # (the new files are listed as waiting), not reading or embedding.
            if not self._wait_while_held(self._wake, yielding_only=True):
                return
            now = time.monotonic()
            with self._lock:
                full = self._full_scan or now >= next_rescan
                paths, self._scan_paths = self._scan_paths, set()
                self._full_scan = False
            if now >= next_roots_poll or full:
                collections = store.collections()
                roots = {(c.id, r) for c in collections for r in c.roots}
                added = roots - known_roots
                if added and not full:
                    paths |= {r for _, r in added}
                if roots != known_roots or full:
                    self._update_watches(sorted({r for _, r in roots}))
                known_roots = roots
                next_roots_poll = now + self._config.roots_poll_interval
            else:
                collections = None
            if full:
                next_rescan = now + self._config.rescan_interval
                self._scan(store, collections or store.collections(), None)
                continue
            if paths:
                self._scan(store, collections or store.collections(), paths)
                continue
            with self._lock:
                if self._paused and not self._stop.is_set():
                    if not (self._full_scan or self._scan_paths):
                        self._wake.wait(max(0.05, next_roots_poll - time.monotonic()))
                    continue
            if self._index_some(store):
                continue
            if now >= next_purge and not self._embed_busy and store.purge_pending():
                next_purge = now + self._config.purge_interval
                self._current = "removing deleted text from the index"
                self._progress_dirty.set()
                store.purge_index()
                continue
            with self._lock:
                if self._full_scan or self._scan_paths or self._stop.is_set():
                    continue
                self._index_busy = False
                self._current = ""
                timeout = min(next_roots_poll, next_rescan) - time.monotonic()
                self._wake.wait(max(0.05, timeout))
            self._progress_dirty.set()

    def _update_watches(self, roots: list[Path]) -> None:
        if not self._config.watch:
            return
        if self._watcher is None:
            factory = self._watcher_factory or _default_watcher
            try:
                self._watcher = factory(self._on_changes, self._config.debounce)
            except Exception:
                log.warning("folders cannot be watched; the periodic rescan covers them")
                self._config = replace(self._config, watch=False)
                return
        failed = self._watcher.watch(roots)
        if failed:
            log.info(
                "not watched (rescanned every %.0f s): %s", self._config.rescan_interval, failed
            )

    def _on_changes(self, paths: set[Path]) -> None:
        self.request_scan(paths)

    # Scanning.

    def _scan(
        self,
        store: DocumentStore,
        collections: Sequence[Collection],
        paths: set[Path] | None,
    ) -> None:
        """Bring the store's files in line with the disk (all roots, or these paths)."""
        self._current = "checking folders"
        self._progress_dirty.set()
        unavailable: set[Path] = set(self._unavailable) if paths is not None else set()
        for collection in collections:
            if self._stop.is_set():
                return
            roots = list(collection.roots)
            if paths is None:
                targets = roots
            else:
                # the changed paths inside this collection's roots (or the roots themselves)
                targets = [p for p in paths if under(p, roots)]
                targets += [r for r in roots if r in paths and r not in targets]
                if not targets:
                    continue
            result = scan(targets, self._stop)
            if result.cancelled:
                return
            if paths is not None:
                # A changed path that is gone was deleted, unless its root is gone too.
                result.unavailable = [
                    p for p in result.unavailable if not _root_reachable(p, roots)
                ]
            unavailable |= {r for r in roots if r in result.unavailable}
            if paths is None:
                unavailable -= {r for r in roots if r not in result.unavailable}
            else:
                unavailable -= {r for r in roots if r in targets and r not in result.unavailable}
            self._apply(store, collection, result, None if paths is None else targets)
        self._unavailable = tuple(sorted(unavailable))
        self._progress_dirty.set()

    def _apply(
        self,
        store: DocumentStore,
        collection: Collection,
        result: ScanResult,
        scope: Sequence[Path] | None,
    ) -> None:
        stored = store.files(collection.id)
        changes = diff(stored, result, scope)
        limit_bytes = self._limits.max_file_bytes
        if not (changes.new or changes.changed or changes.gone):
            # Files skipped for a limit that has since been raised get another try.
            retry = [
                f
                for f in stored
                if f.state is FileState.FAILED
                and f.reason.startswith("too large")
                and f.size <= limit_bytes
                and (scope is None or under(f.path, scope))
            ]
            for f in retry:
                store.set_file_state(f.id, FileState.WAITING)
            if retry:
                self._wake_embed_and_index()
            return
        # A moved file: a gone file and a new one of the same size and content.
        gone_by_size: dict[int, list[DocumentFile]] = {}
        for row in changes.gone:
            if row.sha256 and row.state is FileState.INDEXED:
                gone_by_size.setdefault(row.size, []).append(row)
        moved: set[int] = set()
        new_rows: list[FoundFile] = []
        for found in changes.new:
            candidates = gone_by_size.get(found.size)
            if candidates and self._move(store, candidates, found, moved):
                continue
            new_rows.append(found)
        for found in new_rows:
            if self._stop.is_set():
                return
            store.upsert_file(collection.id, found.path, found.size, found.mtime_ns)
        for row, found in changes.changed:
            if self._stop.is_set():
                return
            if row.state is FileState.SKIPPED and row.reason == EXCLUDED_REASON:
                store.mark_unchanged(row.id, found.size, found.mtime_ns)
                continue
            if row.state is FileState.INDEXED and row.sha256:
                digest = sha256_of(found.path, self._stop)
                if digest == row.sha256:
                    store.mark_unchanged(row.id, found.size, found.mtime_ns)
                    continue
            store.upsert_file(collection.id, found.path, found.size, found.mtime_ns)
        # one transaction; their words leave the index's pages at the idle purge
        store.remove_files([row.id for row in changes.gone if row.id not in moved], purge=False)
        self._wake_embed_and_index()

    def _move(
        self,
        store: DocumentStore,
        candidates: list[DocumentFile],
        found: FoundFile,
        moved: set[int],
    ) -> bool:
        """The moved file's text and chunks are copied to its new record (nothing is
        parsed again; its vectors are made again), and the old record goes."""
        digest = sha256_of(found.path, self._stop)
        for row in candidates:
            if row.id in moved or row.sha256 != digest:
                continue
            text = store.file_text(row.id)
            chunks = [
                ChunkText(
                    ordinal=p.ordinal,
                    text=p.text,
                    anchor=p.anchor,
                    tokens=self._count_tokens(p.text),
                    start=p.start,
                    end=p.end,
                )
                for p in store.chunks_of_file(row.id)
            ]
            new = store.upsert_file(row.collection_id, found.path, found.size, found.mtime_ns)
            store.replace_file_content(
                new.id,
                sha256=row.sha256,
                format=row.format,
                text=text,
                chunks=chunks,
                size=found.size,
                mtime_ns=found.mtime_ns,
            )
            store.remove_file(row.id, purge=False)  # its text lives on in the new record
            moved.add(row.id)
            return True
        return False

    def _wake_embed_and_index(self) -> None:
        with self._lock:
            self._index_busy = True
            self._embed_busy = True
            self._chunks_seq += 1
            self._embed_wake.notify_all()
        self._progress_dirty.set()

    # Reading files.

    def _index_some(self, store: DocumentStore) -> bool:
        """Index a fetch of waiting files, smallest first; False when none are waiting.

        The worker reads up to ``read_ahead`` files ahead of the one being stored."""
        waiting = store.files_in_state(_PENDING, self._config.files_per_fetch)
        if not waiting:
            self._set_reading(False)
            return False
        self._set_reading(True)
        queued: deque[DocumentFile] = deque()
        try:
            for row in sorted(waiting, key=lambda f: (f.size, str(f.path))):
                if self._hold.is_set():
                    break
                with self._lock:
                    if self._full_scan or self._scan_paths:
                        break  # new files first: they may be the ones the user waits for
                if self._submit(store, row):
                    queued.append(row)
                if len(queued) > self._config.read_ahead:
                    self._store_next(store, queued.popleft())
            while queued:
                self._store_next(store, queued.popleft())
        except ExtractCancelledError:
            pass  # stopping: the files queued stay WAITING or INDEXING, read at the next start
        return True

    def _set_reading(self, reading: bool) -> None:
        with self._lock:
            if self._reading != reading:
                self._reading = reading
                self._embed_wake.notify_all()

    def _reader(self) -> ExtractWorker:
        with self._lock:
            if self._stop.is_set():
                raise ExtractCancelledError()
            wanted = reader_memory_limit(self._config.reader_memory_bytes, self._limits)
            worker = self._worker
            if worker is not None and self._worker_memory != wanted and not worker.outstanding:
                worker.close()  # a new size limit: the next worker gets its memory limit
                worker = None
            if worker is None:
                worker = self._worker = ExtractWorker(memory_limit=wanted)
                self._worker_memory = wanted
            return worker

    def _submit(self, store: DocumentStore, row: DocumentFile) -> bool:
        """Hand the file to the worker (True), or skip it now for its name (False)."""
        path = row.path
        if not is_supported(path):
            suffix = path.suffix.lower()
            what = f"{suffix} files" if suffix else "files without an extension"
            store.set_file_state(row.id, FileState.SKIPPED, f"not a format we read ({what})")
            self._progress_dirty.set()
            return False
        if row.state is not FileState.INDEXING:
            store.set_file_state(row.id, FileState.INDEXING)
        settings = ReadSettings(
            self._limits,
            self._config.chunk_tokens,
            self._config.overlap_tokens,
            self._count_tokens,
        )
        limit = self._config.read_seconds + self._config.read_seconds_per_mb * row.size / 1e6
        try:
            self._reader().submit(path, settings, limit)
        except OSError as exc:  # the worker cannot be started (a damaged installation)
            log.error("the extract worker cannot be started: %s", exc)
            self._failed(store, row, f"the reader could not be started ({exc})")
            return False
        return True

    def _store_next(self, store: DocumentStore, row: DocumentFile) -> None:
        """Wait for the worker's outcome for ``row`` (the oldest it was given) and store it."""
        self._current = str(row.path)
        self._progress_dirty.set()
        _, outcome = self._reader().next_result(self._stop)
        if isinstance(outcome, UnsupportedDocumentError):
            store.set_file_state(row.id, FileState.SKIPPED, outcome.reason)
        elif isinstance(outcome, DocumentError):
            self._failed(store, row, outcome.reason)
        else:
            self._store_read(store, row, outcome)
        self._progress_dirty.set()

    def _store_read(self, store: DocumentStore, row: DocumentFile, read: ReadFile) -> None:
        stored = store.replace_file_content(
            row.id,
            sha256=read.sha256,
            format=read.format,
            text=read.text,
            chunks=read.chunks,
            size=read.size,  # the stat of exactly what was read
            mtime_ns=read.mtime_ns,
        )
        if not stored:
            return  # removed (by the user, or its collection deleted) while it was read
        self._change_retries.pop(row.id, None)
        self._bytes_rate.add(read.size)
        with self._lock:
            self._embed_busy = True
            self._chunks_seq += 1
            self._embed_wake.notify_all()

    def _failed(self, store: DocumentStore, row: DocumentFile, reason: str) -> None:
        """FAILED with the reason, unless the file changed or went away meanwhile."""
        try:
            st = os.stat(row.path)
        except FileNotFoundError:
            if not os.path.islink(row.path):
                store.remove_file(row.id, purge=False)  # deleted since the scan
                return
            st = None
        except OSError:
            st = None
        if st is not None and (st.st_size, st.st_mtime_ns) != (row.size, row.mtime_ns):
            tries = self._change_retries.get(row.id, 0) + 1
            self._change_retries[row.id] = tries
            if tries < self._config.change_retries:
                # read again later, with the new size and time
                store.upsert_file(row.collection_id, row.path, st.st_size, st.st_mtime_ns)
                store.set_file_state(row.id, FileState.WAITING)
                return
            reason = "the file kept changing while it was read"
        store.set_file_state(row.id, FileState.FAILED, reason)

    # Phase 2: the embed thread.

    def _run_embed(self) -> None:
        try:
            store = self._open_store()
        except Exception:
            log.exception("the embedder thread cannot open the documents store")
            return
        try:
            self._embed_loop(store)
        except Exception:
            log.exception("the embedder thread stopped")
        finally:
            store.close()

    def _embed_loop(self, store: DocumentStore) -> None:
        batch = self._config.embed_batch
        after = 0  # chunk ids below were done in this pass (a batch interrupted is redone)
        generation = self._embedder.generation
        while not self._stop.is_set():
            if not self._wait_while_held(self._embed_wake):
                return
            if not self._config.embed_while_reading and not self._wait_while_reading():
                return
            seq = self._chunks_seq
            if self._embedder.loaded_model_id() is None and not store.counts(None).chunks_total:
                # nothing to embed yet: the model (an engine process) is not even started
                self._idle_embed(None, seq)
                continue
            try:
                model_id, _ = self._embedder.model()
            except EmbedderUnavailableError as exc:
                self._embed_problem = str(exc)
                self._idle_embed(30.0)  # keyword search goes on; try again later
                continue
            self._embed_problem = None
            if generation != self._embedder.generation:
                after = 0
            generation = self._embedder.generation
            seq = self._chunks_seq
            todo = store.chunks_needing_vectors(model_id, batch, after=after)
            skipped = [item for item in todo if item[0] in self._unembeddable]
            todo = [item for item in todo if item[0] not in self._unembeddable]
            if not todo:
                if skipped:
                    after = skipped[-1][0]
                    continue
                if after:
                    after = 0  # a pass ended: chunks interrupted earlier are below it
                    continue
                self._idle_embed(None, seq)
                continue
            self._current = self._current or "embedding"
            try:
                done = self._embedder.embed_batch([text for _, text in todo], self._hold)
            except EmbedderUnavailableError as exc:
                self._embed_problem = str(exc)
                self._idle_embed(30.0)
                continue
            except Exception:
                log.warning(
                    "a batch could not be embedded; trying its chunks one by one", exc_info=True
                )
                self._embed_singly(store, todo)
                after = todo[-1][0]
                continue
            if done is None or generation != self._embedder.generation:
                continue  # interrupted (a query, a pause, a reply): redone next round
            done_model, dimensions, vectors = done
            store.put_vectors(
                done_model,
                dimensions,
                [(cid, vec) for (cid, _), vec in zip(todo, vectors, strict=True)],
            )
            after = todo[-1][0]
            self._chunks_rate.add(len(todo))
            self._progress_dirty.set()

    def _embed_singly(self, store: DocumentStore, todo: list[tuple[int, str]]) -> None:
        for chunk_id, text in todo:
            if self._hold.is_set():
                return
            try:
                done = self._embedder.embed_batch([text], self._hold)
            except Exception:
                log.warning("chunk %d cannot be embedded; it stays keyword-only", chunk_id)
                self._unembeddable.add(chunk_id)
                continue
            if done is not None:
                store.put_vectors(done[0], done[1], [(chunk_id, done[2][0])])
                self._chunks_rate.add(1)

    def _idle_embed(self, timeout: float | None, seq: int = -1) -> None:
        with self._lock:
            if timeout is None:
                if seq != self._chunks_seq:
                    return  # chunks came in since the store was asked
                if self._index_busy:
                    self._embed_wake.wait(1.0)  # more chunks are coming
                    return
                self._embed_busy = False
                self._progress_dirty.set()
                self._embed_wake.wait(5.0)
            else:
                self._embed_busy = False
                self._progress_dirty.set()
                self._embed_wake.wait(timeout)

    # Progress.

    def _run_progress(self) -> None:
        try:
            store = self._open_store()
        except Exception:
            log.exception("the progress thread cannot open the documents store")
            return
        interval = self._config.progress_interval
        published: IndexProgress | None = None
        try:
            while not self._stop.is_set():
                # Woken by a change, or now and then while the speeds fade by themselves.
                moving = published is not None and bool(
                    published.bytes_per_second or published.chunks_per_second
                )
                self._progress_dirty.wait(2.0 if moving else None)
                if self._stop.is_set():
                    return
                self._progress_dirty.clear()
                try:
                    progress = self.measure(store)
                    self._last_progress = progress
                    if progress != published:
                        self._publish(progress)
                        published = progress
                except Exception:
                    log.exception("progress could not be measured")
                self._stop.wait(interval)
        finally:
            store.close()

    def measure(self, store: DocumentStore) -> IndexProgress:
        model_id = self._embedder.loaded_model_id()
        counts = progress_from(store, model_id)
        bps = self._bytes_rate.per_second()
        cps = self._chunks_rate.per_second()
        bytes_left = max(0, counts.bytes_total - counts.bytes_done)
        chunks_left = max(0, counts.chunks_total - counts.chunks_embedded)
        seconds_left: float | None = None
        if bytes_left == 0 and chunks_left == 0:
            seconds_left = 0.0
        else:
            estimates: list[float] = []
            if bytes_left and bps > 0:
                estimates.append(bytes_left / bps)
            if cps > 0:
                per_byte = counts.chunks_total / counts.bytes_done if counts.bytes_done else 0
                estimates.append((chunks_left + bytes_left * per_byte) / cps)
            if estimates:
                seconds_left = max(estimates)
        return replace(
            counts,
            bytes_per_second=bps,
            chunks_per_second=cps,
            seconds_left=seconds_left,
            paused=self._paused,
            yielding=self._yielding,
            current=self._current,
            unavailable=self._unavailable,
        )


def progress_from(store: DocumentStore, model_id: str | None) -> IndexProgress:
    """The numbers the database knows (speeds and the current file are the indexer's)."""
    c = store.counts(model_id)
    return IndexProgress(
        files_total=c.files_total,
        files_done=c.files_done,
        files_failed=c.files_failed,
        chunks_total=c.chunks_total,
        chunks_embedded=c.chunks_embedded,
        bytes_total=c.bytes_total,
        bytes_done=c.bytes_done,
    )


def _default_watcher(listener: Callable[[set[Path]], None], debounce: float) -> RootWatcher:
    from desktopchat.core.documents.watch import FolderWatcher

    return FolderWatcher(listener, debounce)


def _root_reachable(path: Path, roots: Sequence[Path]) -> bool:
    for root in roots:
        if path == root or path.is_relative_to(root):
            return os.path.isdir(root) if path != root else False
    return False
