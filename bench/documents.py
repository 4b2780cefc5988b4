"""The documents benchmark: ``python -m bench.documents [--rows a,b,...] [--rounds N]``.

Every figure comes from the real parts, each row measured in one run (ratios pair by pair):

- ``keyword``: 1,000 generated text files (50 MB of prose, bench/prose.py) added to a
  collection: seconds until a word found only in the last file is found by the store's
  keyword search (polled on a connection of its own every 20 ms), and until every file
  is indexed. The embedder fills in behind meanwhile, as in the app.
- ``pipeline``: a folder of prose indexed end to end (scan, parse, chunk, store, embed;
  the embedder loaded before the clock starts) against llama.cpp's raw embedding rate
  (``benchmark_embed``, same model, same threads, same decode size). The pipeline's
  time runs from adding the folder until its last vector is stored (polled every 0.1 s;
  ``library.wait``'s settling moment is not counted). The raw rate is measured right
  before, on the chunks the indexer's settings make, and right after, on the very chunks
  it stored; the ratio is against the mean of the two, so a load that drifts during the
  round (2 cores shared) favours neither side: chunks/s, MB/min.
- ``recheck``: a 10,000-file folder, indexed and embedded, then a new library opened
  over it as at the app's start: seconds until it has checked every file against the
  store and is idle (nothing changed, nothing read), and how long its constructor held
  the calling thread. The 10,000 files' vectors are random unit vectors of the model's
  dimension (embedding them for real takes minutes here and the re-check never reads
  them).
- ``hybrid``: 100,000 chunks of prose in the store with *random* unit vectors of the
  model's dimension (100,000 real embeddings take about half an hour on 2 cores), then
  the library's hybrid search with the question embedded for real by the model: ms per
  query (the first after opening separately: it loads the vector index), and the
  question's embedding alone.
- ``stall``: the real main window offscreen, with a library indexing a folder of prose
  beside it (the Documents dialog open, its progress updating; then closed): the worst
  lateness of a 5 ms timer on the GUI thread (StallProbe, as bench/stalls.py), and the
  same for the window idle before the folder is added (the machine's floor, measured in
  the same run). Beside the window a reference process that only sleeps 5 ms at a time
  (stalls.MachinePauses) records when the machine itself ran nothing: on a shared
  virtual machine both are woken late at the same moments, by tens of ms, indexing or
  not. The goal row is each GUI pause less the time the reference was paused with it
  (the window's own stall); the raw figures are reported beside it.
- ``chat``: a chat with a collection attached, on the starter model through ChatService
  (the CLI's wiring: llama.cpp in this process): the retrieval's seconds (the question's
  embedding and the search, as the service times them), the time from sending until
  prompt evaluation starts against the same for a chat without documents, the passages'
  prompt evaluation rate against the raw prompt rate of the same engine on a prompt of
  the same length (``benchmark_prompt``, llama-bench's pp), and on a follow-up question
  how much of the prompt was evaluated (the history before the passages is reused).

It prints a table and writes JSON; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.prose import Prose, marker, write_folder
from desktopchat.core.chat import default_threads
from desktopchat.core.documents.chunking import chunk
from desktopchat.core.documents.default_embedder import default_embedder_path
from desktopchat.core.documents.indexer import IndexerConfig
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.parsers import extract
from desktopchat.core.documents.types import Anchor, ChunkText, Embedder
from desktopchat.core.inference.llama.embedding import (
    EmbedTiming,
    LlamaEmbedder,
    benchmark_embed,
)
from desktopchat.core.storage.documents import DocumentStore

KEYWORD_FILES = 1_000
KEYWORD_BYTES = 50_000_000
PIPELINE_FILES = 30
PIPELINE_BYTES = 300_000
RECHECK_FILES = 10_000
RECHECK_BYTES = 10_000_000
HYBRID_CHUNKS = 100_000
HYBRID_FILES = 1_000
STALL_FILES = 100
STALL_BYTES = 2_000_000
STALL_EMBED_SECONDS = 30.0
STALL_IDLE_SECONDS = 10.0


@dataclass
class Figures:
    """Lists of per-round samples, summarised by median; notes say what was measured."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.samples.setdefault(name, []).append(value)


def embedder_factory(threads: int) -> Callable[[Path | None], Embedder]:
    def make(model: Path | None) -> Embedder:
        return LlamaEmbedder(model or default_embedder_path(), n_threads=threads)

    return make


def open_library(database: Path, threads: int, *, index: bool = True) -> LocalDocumentLibrary:
    return LocalDocumentLibrary(database, embedder_factory(threads), index=index)


def poll(done: Callable[[], bool], timeout: float, step: float = 0.02) -> float:
    """Seconds until ``done()`` (looked at every ``step``); raises TimeoutError."""
    started = time.perf_counter()
    while not done():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the library did not finish in time")
        time.sleep(step)
    return time.perf_counter() - started


def _found(store: DocumentStore, word: str) -> bool:
    return bool(store.keyword_search(word, None, 1))


def _files_done(store: DocumentStore, files: int) -> bool:
    """Every file indexed, failed or skipped (asked of the bench's own connection)."""
    return store.counts().files_done >= files


# Times library.wait raised RuntimeError ("deque mutated during iteration": the indexer's
# rate counters are read on the store thread while the indexing threads add to them).
WAIT_RETRIES = [0]


def wait_idle(library: LocalDocumentLibrary, timeout: float) -> bool:
    """``library.wait``, tried again when it raises the RuntimeError above."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return library.wait(timeout=max(0.0, deadline - time.monotonic()))
        except RuntimeError:
            WAIT_RETRIES[0] += 1
            if time.monotonic() > deadline:
                raise


def warm(library: LocalDocumentLibrary) -> None:
    """Load the library's embedding model before a clock starts (a search embeds)."""
    library.search("warm up the embedding model", limit=1)


# -- keyword: 1,000 files, 50 MB --------------------------------------------------------


def measure_keyword(figures: Figures, temp: Path, threads: int, rounds: int) -> None:
    folder = temp / "keyword-files"
    write_folder(folder, KEYWORD_FILES, KEYWORD_BYTES, seed=7)
    figures.notes["keyword_folder_mb"] = round(_folder_bytes(folder) / 1e6, 1)
    word = marker(KEYWORD_FILES - 1)
    for r in range(rounds):
        database = temp / f"keyword-{r}.sqlite3"
        library = open_library(database, threads)
        reader = DocumentStore.open(database)
        try:
            warm(library)
            collection = library.create_collection("Notes")
            started = time.perf_counter()
            library.add_paths(collection.id, [folder])
            poll(functools.partial(_found, reader, word), 600)
            figures.add("keyword_last_file_s", time.perf_counter() - started)
            poll(functools.partial(_files_done, reader, KEYWORD_FILES), 600, 0.05)
            figures.add("keyword_all_files_s", time.perf_counter() - started)
            figures.notes["keyword_chunks"] = reader.counts().chunks_total
        finally:
            reader.close()
            library.close()
            _remove_database(database)


# -- pipeline: throughput against llama.cpp's raw rate ------------------------------------


def measure_pipeline(
    figures: Figures, temp: Path, threads: int, rounds: int, size: int = PIPELINE_BYTES
) -> None:
    folder = temp / "pipeline-files"
    write_folder(folder, max(1, PIPELINE_FILES * size // PIPELINE_BYTES), size, seed=11)
    megabytes = _folder_bytes(folder) / 1e6
    figures.notes["pipeline_folder_mb"] = round(megabytes, 2)
    expected = _expected_chunk_texts(folder)
    files_expected = len(list(folder.rglob("*.txt")))
    for r in range(rounds):
        database = temp / f"pipeline-{r}.sqlite3"
        before = _raw_rate(expected, threads)
        library = open_library(database, threads)
        try:
            warm(library)
            collection = library.create_collection("Pipeline")
            reader = DocumentStore.open(database)
            try:
                started = time.perf_counter()
                library.add_paths(collection.id, [folder])
                # the end: the last vector stored (library.wait then settles for a moment)
                poll(functools.partial(_all_embedded, reader, files_expected), 1800, 0.1)
                seconds = time.perf_counter() - started
            finally:
                reader.close()
            if not wait_idle(library, 1800):
                raise TimeoutError("the pipeline did not finish")
            files = library.files(collection.id)
            chunks = sum(f.chunks for f in files)
            embedded = sum(f.embedded for f in files)
        finally:
            library.close()
        texts = _chunk_texts(database)
        _remove_database(database)
        after = _raw_rate(texts, threads)
        raw_rate = (before.texts_per_second + after.texts_per_second) / 2
        app_rate = embedded / seconds
        figures.add("pipeline_chunks_per_second", app_rate)
        figures.add("pipeline_mb_per_minute", megabytes / seconds * 60)
        figures.add("raw_embed_chunks_per_second", raw_rate)
        figures.add("raw_embed_before_chunks_per_second", before.texts_per_second)
        figures.add("raw_embed_after_chunks_per_second", after.texts_per_second)
        figures.add("pipeline_to_raw_ratio", app_rate / raw_rate)
        figures.notes["pipeline_chunks"] = chunks
        figures.notes["pipeline_tokens_per_chunk"] = round(after.tokens / max(1, after.texts), 1)
        figures.notes["pipeline_raw_before_same_chunks"] = sorted(expected) == sorted(texts)


def _raw_rate(texts: list[str], threads: int) -> EmbedTiming:
    raw = LlamaEmbedder(default_embedder_path(), n_threads=threads)
    try:
        return benchmark_embed(raw, texts)
    finally:
        raw.close()


def _expected_chunk_texts(folder: Path) -> list[str]:
    """The chunks the pipeline will store, made here with the indexer's settings (the raw
    rate before the pipeline runs on them; the one after, on what it stored)."""
    config = IndexerConfig()
    texts: list[str] = []
    for path in sorted(folder.rglob("*.txt")):
        extracted = extract(path, config.limits)
        texts += [
            c.text
            for c in chunk(
                extracted,
                budget_tokens=config.chunk_tokens,
                overlap_tokens=config.overlap_tokens,
            )
        ]
    return texts


def _all_embedded(store: DocumentStore, files: int) -> bool:
    """Every file read and every chunk with a vector (of the one model the row uses)."""
    counts = store.counts()
    if counts.files_done < files or not counts.chunks_total:
        return False
    vectors = int(store.query("SELECT count(*) FROM vectors")[0][0])
    return vectors >= counts.chunks_total


def _chunk_texts(database: Path) -> list[str]:
    store = DocumentStore.open(database)
    try:
        texts: list[str] = []
        after = 0
        while True:
            # A model id with no vectors: every chunk, in id order.
            batch = store.chunks_needing_vectors("bench: every chunk", 1000, after=after)
            if not batch:
                return texts
            texts += [t for _, t in batch]
            after = batch[-1][0]
    finally:
        store.close()


# -- recheck: an unchanged 10,000-file folder at start --------------------------------------


def measure_recheck(figures: Figures, temp: Path, threads: int, rounds: int) -> None:
    folder = temp / "recheck-files"
    write_folder(folder, RECHECK_FILES, RECHECK_BYTES, seed=13, nested=100)
    database = temp / "recheck.sqlite3"
    model_id, dimensions = _model_identity(threads)
    library = open_library(database, threads, index=True)
    reader = DocumentStore.open(database)
    try:
        collection = library.create_collection("Ten thousand")
        started = time.perf_counter()
        library.add_paths(collection.id, [folder])
        # Keyword phase: every file indexed; then the vectors (random: see the docstring).
        poll(functools.partial(_files_done, reader, RECHECK_FILES), 3600, 0.2)
        figures.notes["recheck_first_index_s"] = round(time.perf_counter() - started, 1)
    finally:
        reader.close()
        library.close()
    _fill_random_vectors(database, model_id, dimensions)
    for _ in range(rounds):
        started = time.perf_counter()
        library = open_library(database, threads, index=True)
        try:
            figures.add("recheck_constructor_ms", (time.perf_counter() - started) * 1000)
            if not wait_idle(library, 600):
                raise TimeoutError("the re-check did not finish")
            figures.add("recheck_10k_s", time.perf_counter() - started)
            progress = library.progress()
            figures.notes["recheck_files"] = progress.files_total
            figures.notes["recheck_chunks_embedded"] = (
                f"{progress.chunks_embedded}/{progress.chunks_total}"
            )
        finally:
            library.close()


def _model_identity(threads: int) -> tuple[str, int]:
    embedder = LlamaEmbedder(default_embedder_path(), n_threads=threads)
    try:
        return embedder.model_id, embedder.dimensions
    finally:
        embedder.close()


def _fill_random_vectors(database: Path, model_id: str, dimensions: int) -> int:
    """A random unit vector for every chunk without a vector of ``model_id``."""
    rng = np.random.default_rng(5)
    store = DocumentStore.open(database)
    stored = 0
    try:
        after = 0
        while True:
            batch = store.chunks_needing_vectors(model_id, 5000, after=after)
            if not batch:
                return stored
            vectors = rng.standard_normal((len(batch), dimensions)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            stored += store.put_vectors(
                model_id, dimensions, [(c, v) for (c, _), v in zip(batch, vectors, strict=True)]
            )
            after = batch[-1][0]
    finally:
        store.close()


# -- hybrid: 100,000 chunks --------------------------------------------------------------


def measure_hybrid(figures: Figures, temp: Path, threads: int, rounds: int) -> None:
    database = temp / "hybrid.sqlite3"
    model_id, dimensions = _model_identity(threads)
    prose = Prose(seed=17)
    started = time.perf_counter()
    _fill_store(database, prose, HYBRID_FILES, HYBRID_CHUNKS // HYBRID_FILES, temp / "hybrid")
    _fill_random_vectors(database, model_id, dimensions)
    figures.notes["hybrid_build_s"] = round(time.perf_counter() - started, 1)
    figures.notes["hybrid_database_mb"] = round(database.stat().st_size / 1e6, 1)
    rng = random.Random(3)
    queries = [_question(rng, prose) for _ in range(20)]
    for _ in range(rounds):
        library = open_library(database, threads, index=False)
        embedder = LlamaEmbedder(default_embedder_path(), n_threads=threads)
        reader = DocumentStore.open(database)  # the two lists alone, for the breakdown
        try:
            vector = embedder.embed(["warm up"])[0]
            reader.vector_search(model_id, vector, None, 30)  # loads its vector index
            warm(library)  # loads the embedding model (not the vector index: no vectors asked)
            t = time.perf_counter()
            library.search(queries[0], limit=10)
            figures.add("hybrid_first_ms", (time.perf_counter() - t) * 1000)
            for query in queries[1:]:
                t = time.perf_counter()
                passages = library.search(query, limit=10)
                figures.add("hybrid_100k_ms", (time.perf_counter() - t) * 1000)
                assert passages, "the hybrid search found nothing"
                t = time.perf_counter()
                vector = embedder.embed([query])[0]
                figures.add("query_embed_ms", (time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                reader.keyword_search(query, None, 30)
                figures.add("keyword_100k_ms", (time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                reader.vector_search(model_id, vector, None, 30)
                figures.add("vector_100k_ms", (time.perf_counter() - t) * 1000)
            figures.notes["hybrid_chunks"] = library.progress().chunks_total
        finally:
            reader.close()
            embedder.close()
            library.close()
    _remove_database(database)


def _question(rng: random.Random, prose: Prose) -> str:
    words = rng.choice(prose.sentences).rstrip(".").split()
    start = rng.randrange(max(1, len(words) - 8))
    return "What does it say about " + " ".join(words[start : start + 8]) + "?"


def _fill_store(database: Path, prose: Prose, files: int, per_file: int, folder: Path) -> None:
    """``files`` files of ``per_file`` paragraph chunks each, written to disk too (the
    store's rows match real files under a root)."""
    store = DocumentStore.open(database)
    try:
        collection = store.create_collection("Hundred thousand")
        folder.mkdir(parents=True, exist_ok=True)
        store.add_root(collection.id, folder)
        for i in range(files):
            paragraphs = [prose.paragraph() for _ in range(per_file)]
            text = "\n\n".join(paragraphs)
            path = folder / f"doc-{i:05d}.txt"
            path.write_text(text, encoding="utf-8")
            stat = path.stat()
            row = store.upsert_file(collection.id, path, stat.st_size, stat.st_mtime_ns)
            chunks = []
            offset = 0
            line = 1
            for ordinal, paragraph in enumerate(paragraphs):
                chunks.append(
                    ChunkText(
                        ordinal,
                        paragraph,
                        Anchor(line_start=line, line_end=line),
                        tokens=len(paragraph) // 4,
                        start=offset,
                        end=offset + len(paragraph),
                    )
                )
                offset += len(paragraph) + 2
                line += 2
            store.replace_file_content(
                row.id,
                sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                format="text",
                text=text,
                chunks=chunks,
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
            )
    finally:
        store.close()


# -- stall: the window while indexing -----------------------------------------------------


def measure_stall(figures: Figures, temp: Path, threads: int, rounds: int) -> None:
    """With the Documents dialog open (its progress updating), then with it closed."""
    for r in range(rounds):
        for dialog in (True, False):
            _stall_round(figures, temp / f"stall-{r}-{int(dialog)}", threads, dialog)


def _stall_round(figures: Figures, temp: Path, threads: int, with_dialog: bool) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from bench import stalls
    from desktopchat.app import window_services
    from desktopchat.core.paths import AppPaths
    from desktopchat.ui.application import build_window
    from desktopchat.ui.probes import StallProbe

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert app is not None
    folder = temp / "stall-files"
    write_folder(folder, STALL_FILES, STALL_BYTES, seed=19)
    model_id, _ = _model_identity(threads)  # before the probe: loading it takes a while
    paths = AppPaths.under(temp / "home")
    services = window_services(paths)
    library = services.documents
    if library is None:
        raise RuntimeError("the window's services have no documents library")
    window = build_window(paths, services)
    window.show()
    window.start()
    stalls.idle(2.0)  # the start-up work is done
    try:
        collection = library.create_collection("Stall")
        dialog = _open_documents(window) if with_dialog else None
        stalls.idle(1.0)
        watch = _IndexingWatch(library, collection.id, folder, paths.documents_database)
        watch.model_id = model_id
        probe = StallProbe(5)
        machine = stalls.MachinePauses()
        machine.start()
        stalls.idle(0.5)  # the reference process is up
        # The floor: the same window doing nothing, as long as the files take to be read
        # and embed (the machine's own noise: other processes, the scheduler).
        probe.start()
        stalls.idle(STALL_IDLE_SECONDS)
        floor = probe.stop()
        probe.start()
        # The GUI thread only runs its event loop: adding the folder, waiting and
        # counting happen on the watch's thread (the window adds on its task pool).
        watch.start()
        stalls.wait_for(watch.files_indexed.is_set, 1800)
        reading = probe.stop()
        indexing_pauses = list(probe.pauses)
        probe.start()
        stalls.wait_for(watch.finished.is_set, 1800)
        stalls.idle(0.5)
        embedding = probe.stop()
        indexing_pauses += probe.pauses
        pauses = machine.stop()
        if watch.error is not None:
            raise watch.error
        figures.add("stall_idle_window_ms", floor * 1000)
        # The window's own stalls: each pause of the GUI thread less the time the
        # machine's reference process was paused too (the hypervisor, not the window).
        own = stalls.own_worst(indexing_pauses, pauses)
        figures.add("stall_own_ms", own * 1000)
        figures.add("stall_own_open_ms" if with_dialog else "stall_own_closed_ms", own * 1000)
        figures.add("stall_machine_ms", max((m for _, m in pauses), default=0.0) * 1000)
        if not with_dialog:
            figures.add("stall_closed_dialog_ms", max(reading, embedding) * 1000)
            return
        figures.add("stall_indexing_ms", max(reading, embedding) * 1000)
        figures.add("stall_reading_ms", reading * 1000)
        figures.add("stall_embedding_ms", embedding * 1000)
        figures.notes["stall_files_indexed_s"] = round(watch.files_seconds, 1)
        figures.notes["stall_chunks_embedded"] = watch.embedded
        if dialog is not None:
            dialog.close()
    finally:
        window.close()
        stalls.idle(0.5)
        library.close()  # as the app does after its event loop


class _IndexingWatch(threading.Thread):
    """Adds the folder, then watches the store from its own connection: ``files_indexed``
    once every file is read, ``finished`` once everything is embedded or
    STALL_EMBED_SECONDS of embedding have passed."""

    def __init__(self, library: Any, collection_id: int, folder: Path, database: Path) -> None:
        super().__init__(name="bench-indexing-watch", daemon=True)
        self.library = library
        self.collection_id = collection_id
        self.folder = folder
        self.database = database
        self.model_id = ""
        self.files_indexed = threading.Event()
        self.finished = threading.Event()
        self.files_seconds = 0.0
        self.embedded = ""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            started = time.perf_counter()
            self.library.add_paths(self.collection_id, [self.folder])
            reader = DocumentStore.open(self.database)
            try:
                poll(functools.partial(_files_done, reader, STALL_FILES), 1800, 0.1)
                self.files_seconds = time.perf_counter() - started
                self.files_indexed.set()
                deadline = time.monotonic() + STALL_EMBED_SECONDS
                while time.monotonic() < deadline:
                    counts = reader.counts(self.model_id)
                    if counts.chunks_embedded >= counts.chunks_total:
                        break
                    time.sleep(0.25)
                counts = reader.counts(self.model_id)
                self.embedded = f"{counts.chunks_embedded}/{counts.chunks_total}"
            finally:
                reader.close()
        except BaseException as exc:  # reported on the GUI thread
            self.error = exc
        finally:
            self.files_indexed.set()
            self.finished.set()


def _open_documents(window: Any) -> Any:
    """The Documents dialog, where the window has one (its progress then updates)."""
    show = getattr(window, "show_documents", None)
    return show() if callable(show) else None


# -- chat: retrieval before prompt evaluation, the passages' prompt rate ----------------------


def measure_chat(figures: Figures, temp: Path, threads: int, rounds: int, ctx: int) -> None:
    from bench.eval_data import load
    from desktopchat.app import make_chat_service
    from desktopchat.core.chat import GenerationParams
    from desktopchat.core.inference.engine import LoadConfig
    from desktopchat.core.inference.llama import LlamaEngine
    from desktopchat.core.inference.service import NullListener, ReplyResult, ReplyStarted
    from desktopchat.core.models.library import starter_model_path
    from desktopchat.core.paths import AppPaths
    from desktopchat.core.session import open_core

    model = starter_model_path()
    if model is None:
        raise RuntimeError("the starter model is not installed")
    documents, questions = load()
    folder = temp / "chat-docs"
    documents.copy_to(folder)
    paths = AppPaths.under(temp / "chat-home")
    library = open_library(paths.documents_database, threads)
    collection = library.create_collection("AWS CLI documentation")
    library.add_paths(collection.id, [folder])
    reader = DocumentStore.open(paths.documents_database)
    try:
        poll(functools.partial(_files_done, reader, len(documents.files())), 3600, 0.2)
    finally:
        reader.close()
    library.close()
    # The vectors the embedder has not written yet are random (the timing does not depend
    # on their values; embedding the whole set takes minutes on a busy 2-core machine).
    model_id, dimensions = _model_identity(threads)
    figures.notes["chat_random_vectors"] = _fill_random_vectors(
        paths.documents_database, model_id, dimensions
    )
    library = open_library(paths.documents_database, threads)
    core = open_core(paths)
    engine = LlamaEngine()
    engine.load(LoadConfig(model, ctx, threads), lambda _f, _s: None)
    service = make_chat_service(core, engine, documents=library)
    figures.notes["chat_model"] = model.name

    class Timed(NullListener):
        started: float | None = None
        record: ReplyStarted | None = None

        def on_reply_started(self, started: ReplyStarted) -> None:
            self.started = time.perf_counter()
            self.record = started

    def send(conv: int, text: str, params: GenerationParams) -> tuple[float, ReplyResult]:
        listener = Timed()
        sent = time.perf_counter()
        result = service.reply(conv, text, params, threading.Event(), listener)
        assert listener.started is not None
        return listener.started - sent, result

    try:
        base = GenerationParams(temperature=0.0, seed=1, max_tokens=8, n_ctx=ctx, n_threads=threads)
        with_docs = base.with_changes(documents=(collection.id,))
        for i in range(rounds):
            q = questions[i % len(questions)]
            follow = questions[(i + 7) % len(questions)]
            plain_conv = core.conversations.create(params=base).id
            plain_s, _ = send(plain_conv, q.question, base)
            conv = core.conversations.create(params=with_docs).id
            before_s, result = send(conv, q.question, with_docs)
            stats = result.stats
            use = stats.documents
            assert use is not None, "the reply has no documents record"
            figures.add("retrieval_ms", use.retrieval_seconds * 1000)
            figures.add("before_prompt_ms", before_s * 1000)
            figures.add("before_prompt_added_ms", (before_s - plain_s) * 1000)
            evaluated = stats.prompt_evaluated or stats.prompt_tokens
            assert stats.time_to_first_token is not None
            app_rate = evaluated / stats.time_to_first_token
            record = core.conversations.prompt_for(result.assistant_message_id)
            assert record is not None
            tokens = engine.tokenize(record.text, add_bos=False)[:evaluated]
            # The follow-up before the raw run (which empties the context), after the
            # window's reading pause: it evaluates the history for the next turn.
            prepared = service.prepare_next_turn(conv, with_docs, threading.Event())
            figures.add("prepared_tokens", float(prepared))
            _, followed = send(conv, follow.question, with_docs)
            f_stats = followed.stats
            raw_rate = len(tokens) / engine.benchmark_prompt(tokens)
            figures.add("passages_prompt_tokens_per_second", app_rate)
            figures.add("raw_prompt_tokens_per_second", raw_rate)
            figures.add("passages_to_raw_prompt_ratio", app_rate / raw_rate)
            figures.add("documents_tokens", float(stats.documents_tokens))
            figures.add("turn1_prompt_tokens", float(stats.prompt_tokens))
            figures.add("followup_prompt_tokens", float(f_stats.prompt_tokens))
            figures.add("followup_evaluated_tokens", float(f_stats.prompt_evaluated or 0))
            figures.add("followup_documents_tokens", float(f_stats.documents_tokens))
    finally:
        engine.unload()
        core.close()
        library.close()


# -- helpers -----------------------------------------------------------------------------


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _remove_database(database: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".indexer-lock"):
        with contextlib.suppress(OSError):
            Path(f"{database}{suffix}").unlink()


@contextlib.contextmanager
def _section(name: str) -> Iterator[None]:
    # On stdout: llama.cpp's log capture may hold this process's stderr.
    print(f"{name}…", flush=True)
    started = time.perf_counter()
    yield
    print(f"  {name}: {time.perf_counter() - started:.0f} s", flush=True)


# (key, label, unit, format, goal)
ROWS = [
    ("keyword_last_file_s", "1,000 files (50 MB): last file's word found", "s", "{:.1f}", "< 30"),
    ("keyword_all_files_s", "  every file keyword-searchable", "s", "{:.1f}", "< 30"),
    ("pipeline_chunks_per_second", "Embedding pipeline, end to end", "chunks/s", "{:.1f}", ""),
    ("pipeline_mb_per_minute", "  the same in text", "MB/min", "{:.2f}", ""),
    (
        "raw_embed_chunks_per_second",
        "llama.cpp raw embedding, same chunks (mean)",
        "chunks/s",
        "{:.1f}",
        "",
    ),
    ("raw_embed_before_chunks_per_second", "  raw, right before", "chunks/s", "{:.1f}", ""),
    ("raw_embed_after_chunks_per_second", "  raw, right after", "chunks/s", "{:.1f}", ""),
    ("pipeline_to_raw_ratio", "Pipeline / raw (pairwise)", "", "{:.3f}", ">= 0.9"),
    ("recheck_10k_s", "Re-check unchanged 10,000 files at start", "s", "{:.2f}", "< 2"),
    ("recheck_constructor_ms", "  the caller's thread held by opening", "ms", "{:.0f}", ""),
    ("hybrid_100k_ms", "Hybrid search, 100,000 chunks, with embedding", "ms", "{:.1f}", "< 100"),
    ("hybrid_first_ms", "  first search after opening", "ms", "{:.0f}", ""),
    ("query_embed_ms", "  the question's embedding alone", "ms", "{:.1f}", ""),
    ("keyword_100k_ms", "  the BM25 list alone (30)", "ms", "{:.1f}", ""),
    ("vector_100k_ms", "  the vector list alone (30, numpy)", "ms", "{:.1f}", ""),
    ("stall_own_ms", "Worst GUI stall the window caused, indexing", "ms", "{:.0f}", "<= 16"),
    ("stall_own_open_ms", "  Documents dialog open", "ms", "{:.0f}", ""),
    ("stall_own_closed_ms", "  Documents dialog closed", "ms", "{:.0f}", ""),
    ("stall_machine_ms", "  the machine's worst pause meanwhile", "ms", "{:.0f}", ""),
    ("stall_indexing_ms", "Worst GUI stall while indexing, raw", "ms", "{:.0f}", ""),
    ("stall_reading_ms", "  while the files are read", "ms", "{:.0f}", ""),
    ("stall_embedding_ms", "  while embeddings fill in", "ms", "{:.0f}", ""),
    ("stall_closed_dialog_ms", "  the same with the dialog closed", "ms", "{:.0f}", ""),
    ("stall_idle_window_ms", "  the window idle, no indexing (the floor)", "ms", "{:.0f}", ""),
    ("retrieval_ms", "Retrieval (embedding + search), in a chat", "ms", "{:.1f}", "< 100"),
    ("before_prompt_ms", "  send until prompt evaluation starts", "ms", "{:.1f}", ""),
    ("before_prompt_added_ms", "  added by documents (pairwise)", "ms", "{:.1f}", "< 100"),
    ("passages_prompt_tokens_per_second", "Passages' prompt evaluation", "tok/s", "{:.0f}", ""),
    ("raw_prompt_tokens_per_second", "Raw prompt evaluation (pp)", "tok/s", "{:.0f}", ""),
    ("passages_to_raw_prompt_ratio", "Passages / raw (pairwise)", "", "{:.3f}", ""),
    ("documents_tokens", "  passages' tokens in the prompt", "tok", "{:.0f}", ""),
    ("prepared_tokens", "Follow-up: history evaluated while reading", "tok", "{:.0f}", ""),
    ("followup_prompt_tokens", "  prompt tokens", "tok", "{:.0f}", ""),
    ("followup_evaluated_tokens", "  of them evaluated (rest reused)", "tok", "{:.0f}", ""),
]


def table(figures: Figures, only: set[str] | None = None) -> str:
    """The rows measured (``only``: these keys), then the notes."""
    lines = []
    for key, label, unit, fmt, goal in ROWS:
        values = figures.samples.get(key)
        if not values or (only is not None and key not in only):
            continue
        median = fmt.format(statistics.median(values))
        spread = f"{fmt.format(min(values))}–{fmt.format(max(values))}"
        aim = f"goal {goal}" if goal else ""
        lines.append(
            f"  {label:<46} {median:>9} {unit:<8} (n={len(values)}, {spread}) {aim}".rstrip()
        )
    for key, value in figures.notes.items():
        if only is None or key in only:
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


ALL = ("keyword", "pipeline", "recheck", "hybrid", "stall", "chat")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.documents", description=__doc__)
    parser.add_argument("--rows", default=",".join(ALL), help=f"any of {','.join(ALL)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument(
        "--pipeline-kb",
        type=int,
        default=PIPELINE_BYTES // 1000,
        help="text the pipeline row embeds",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/documents.json"))
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(rows) - set(ALL)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    from bench.harness import machine

    info = machine()
    print(
        f"DesktopChat documents benchmark, {time.strftime('%Y-%m-%d %H:%M:%S')}: {info['cpu']}, "
        f"{info['cores']} cores, {args.threads} threads",
        flush=True,
    )
    figures = Figures()
    figures.notes["threads"] = args.threads
    figures.notes["load_average_at_start"] = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="desktopchat-bench-docs-") as name:
        temp = Path(name)
        for row in rows:
            before = set(figures.samples) | set(figures.notes)
            with _section(row):
                if row == "keyword":
                    measure_keyword(figures, temp, args.threads, args.rounds)
                elif row == "pipeline":
                    size = args.pipeline_kb * 1000
                    measure_pipeline(figures, temp, args.threads, args.rounds, size)
                elif row == "recheck":
                    measure_recheck(figures, temp, args.threads, args.rounds)
                elif row == "hybrid":
                    measure_hybrid(figures, temp, args.threads, args.rounds)
                elif row == "stall":
                    measure_stall(figures, temp, args.threads, args.rounds)
                elif row == "chat":
                    measure_chat(figures, temp, args.threads, args.rounds, args.ctx)
            figures.notes[f"load_average_after_{row}"] = round(os.getloadavg()[0], 2)
            print(
                table(figures, only=(set(figures.samples) | set(figures.notes)) - before),
                flush=True,
            )
            write_report(args, info, figures)
    figures.notes["library_wait_runtime_errors"] = WAIT_RETRIES[0]
    write_report(args, info, figures)
    print("\nAll rows:")
    print(table(figures))
    print(f"\nJSON: {args.out}", flush=True)
    return 0


def write_report(args: argparse.Namespace, info: dict[str, Any], figures: Figures) -> None:
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": info,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "median": {k: statistics.median(v) for k, v in figures.samples.items()},
        "samples": figures.samples,
        "notes": figures.notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
