"""The extract worker on real files in real child processes: what it reads equals reading
in process; a crash, a hang and the memory limit fail one file and a new worker goes on;
the indexer marks those files FAILED with the reason; the worker never outlives the
process that started it (ended by ``Indexer.stop``, gone when its parent is SIGKILLed,
also while it is stuck in code that holds the GIL); and the process that indexes loads no
parser library."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat.core.documents.chunking import approx_tokens, chunk
from desktopchat.core.documents.embedder_slot import EmbedderSlot
from desktopchat.core.documents.extract_worker import (
    ExtractCancelledError,
    ExtractWorker,
    Outcome,
    ReadFile,
    ReadSettings,
)
from desktopchat.core.documents.indexer import Indexer, IndexerConfig
from desktopchat.core.documents.parsers import extract
from desktopchat.core.documents.types import (
    DocumentError,
    Embedder,
    FileState,
    ParseLimits,
    UnsupportedDocumentError,
)
from desktopchat.core.storage.documents import DocumentStore
from tests.core.documents.indexing_helpers import (
    HANG_GUARD,
    eventually,
    lend,
    worker_hook,
    write_corpus,
)

SETTINGS = ReadSettings(ParseLimits(), 256, 32, approx_tokens)
ROOT = Path(__file__).resolve().parents[3]

# Faults by file name, in the worker only (see worker_hook).
FAULTS = """
import os
import re
import signal
import time
from desktopchat.core.documents import parsers

real_extract = parsers.extract

def extract(path, limits):
    if path.name == "crash.txt":
        os.kill(os.getpid(), signal.SIGSEGV)
    if path.name == "exit.txt":
        os._exit(3)
    if path.name == "slow.txt":
        time.sleep(3600)
    if path.name == "stuck.txt":  # holds the GIL: no Python thread of the worker runs
        re.match(r"(a+)+$", "a" * 64 + "b")
    if path.name == "hungry.txt":
        hoard = bytearray(16 << 30)
        return hoard
    return real_extract(path, limits)

parsers.extract = extract
"""


@pytest.fixture
def worker() -> Iterator[ExtractWorker]:
    w = ExtractWorker(memory_limit=2 << 30)
    yield w
    w.close()


def note(folder: Path, name: str, text: str = "A note about the harbour and its boats.\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def read(worker: ExtractWorker, path: Path, time_limit: float = HANG_GUARD) -> Outcome:
    worker.submit(path, SETTINGS, time_limit)
    return worker.next_result(threading.Event())[1]


def gone(pid: int) -> bool:
    """No such process, or only its zombie (a container's init may reap it late)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def test_what_the_worker_reads_is_what_reading_in_process_gives(
    worker: ExtractWorker, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    # more than one frame of text and of chunks (TEXT_PIECE, CHUNK_ROWS), and a table whose
    # continuation chunks carry its header in front of their span
    big = tmp_path / "docs" / "big.md"
    paragraphs = [
        f"Paragraph {i}: the harbour authority measured the tide and counted {i} boats."
        for i in range(16_000)
    ]
    table = "\n".join(f"| row {i} | {i * 3} kg | harbour |" for i in range(400))
    big.write_text(
        "# Log\n\n"
        + "\n\n".join(paragraphs)
        + "\n\n| item | weight | where |\n|---|---|---|\n"
        + table
        + "\n",
        encoding="utf-8",
    )
    assert big.stat().st_size > 1_100_000
    chunks = 0
    for path in [big, files["notes"], files["page"], files["table"], files["latin1"]]:
        outcome = read(worker, path)
        assert isinstance(outcome, ReadFile), (path, outcome)
        chunks += len(outcome.chunks)
        expected = extract(path, SETTINGS.limits)
        assert outcome.text == expected.text
        assert (outcome.format, outcome.size, outcome.mtime_ns, outcome.sha256) == (
            expected.format,
            expected.size,
            expected.mtime_ns,
            expected.sha256,
        )
        assert outcome.chunks == chunk(expected, budget_tokens=256, overlap_tokens=32)
    assert chunks > 2048
    assert worker.started == 1, "one worker read them all"


def test_reasons_come_back_and_skipped_files_are_told_apart(
    worker: ExtractWorker, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    binary = read(worker, files["binary"])
    assert type(binary) is DocumentError and "not text" in binary.reason
    disguised = note(tmp_path / "docs", "archive.xyz", "")
    disguised.write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(64))
    skipped = read(worker, disguised)
    assert isinstance(skipped, UnsupportedDocumentError)
    missing = read(worker, tmp_path / "docs" / "missing.txt")
    assert isinstance(missing, DocumentError) and "does not exist" in missing.reason


def test_a_token_counter_of_the_callers_is_used_by_the_worker(
    worker: ExtractWorker, tmp_path: Path
) -> None:
    path = note(tmp_path / "docs", "long.txt", "word " * 400)
    worker.submit(path, ReadSettings(ParseLimits(), 100, 10, len), HANG_GUARD)
    outcome = worker.next_result(threading.Event())[1]
    assert isinstance(outcome, ReadFile)
    assert len(outcome.chunks) > 10
    assert all(c.tokens == len(c.text) <= 100 for c in outcome.chunks)


def test_a_counter_that_cannot_reach_the_worker_is_refused_at_once(tmp_path: Path) -> None:
    def local_counter(text: str) -> int:
        return len(text)

    with pytest.raises(TypeError, match="picklable"):
        Indexer(
            lambda: DocumentStore.open(tmp_path / "d.sqlite3"),
            EmbedderSlot(lambda _p: None, None),  # type: ignore[arg-type,return-value]
            lambda _p: None,
            count_tokens=local_counter,
        )


def test_a_worker_that_cannot_start_raises_at_submit(tmp_path: Path) -> None:
    worker = ExtractWorker(command=[str(tmp_path / "no-such-program")])
    with pytest.raises(OSError):
        worker.submit(note(tmp_path / "docs", "a.txt"), SETTINGS, HANG_GUARD)
    assert worker.outstanding == 0  # nothing is waiting for an answer that cannot come
    worker.close()


def test_a_crash_fails_that_file_and_a_new_worker_reads_the_next(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    worker_hook(monkeypatch, tmp_path / "hook", FAULTS)
    folder = tmp_path / "docs"
    a, crash, exit_, b = (note(folder, n) for n in ("a.txt", "crash.txt", "exit.txt", "b.txt"))
    worker = ExtractWorker()
    try:
        for path in (a, crash, exit_, b):  # queued at once: those after a crash are resent
            worker.submit(path, SETTINGS, HANG_GUARD)
        outcomes = [worker.next_result(threading.Event())[1] for _ in range(4)]
    finally:
        worker.close()
    assert isinstance(outcomes[0], ReadFile) and isinstance(outcomes[3], ReadFile)
    assert isinstance(outcomes[1], DocumentError)
    assert outcomes[1].reason == "the reader stopped on this file — it crashed (SIGSEGV)"
    assert isinstance(outcomes[2], DocumentError)
    assert outcomes[2].reason == "the reader stopped on this file — it exited unexpectedly (code 3)"
    assert worker.started == 3


def test_a_file_that_takes_too_long_is_given_up_and_the_next_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    worker_hook(monkeypatch, tmp_path / "hook", FAULTS)
    folder = tmp_path / "docs"
    slow, after = note(folder, "slow.txt"), note(folder, "after.txt")
    worker = ExtractWorker()
    try:
        worker.submit(slow, SETTINGS, 1.0)
        worker.submit(after, SETTINGS, HANG_GUARD)
        first = worker.next_result(threading.Event())[1]
        second = worker.next_result(threading.Event())[1]
    finally:
        worker.close()
    assert isinstance(first, DocumentError)
    assert first.reason.startswith("took too long to read")
    assert isinstance(second, ReadFile) and "harbour" in second.text
    assert worker.started == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_the_memory_limit_stops_a_file_that_wants_too_much(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    worker_hook(monkeypatch, tmp_path / "hook", FAULTS)
    worker = ExtractWorker(memory_limit=1 << 30)
    try:
        outcome = read(worker, note(tmp_path / "docs", "hungry.txt"))
        fine = read(worker, note(tmp_path / "docs", "fine.txt"))
    finally:
        worker.close()
    assert isinstance(outcome, DocumentError)
    assert outcome.reason == "too large to read in memory"
    assert isinstance(fine, ReadFile)
    assert worker.started == 1, "a MemoryError is answered; the worker lives on"


def test_a_stop_while_waiting_ends_the_worker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    worker_hook(monkeypatch, tmp_path / "hook", FAULTS)
    worker = ExtractWorker()
    stop = threading.Event()
    try:
        worker.submit(note(tmp_path / "docs", "slow.txt"), SETTINGS, HANG_GUARD)
        pid = worker.pid
        assert pid is not None
        threading.Timer(0.5, stop.set).start()
        with pytest.raises(ExtractCancelledError):
            worker.next_result(stop)
        assert worker.pid is None and worker.outstanding == 0
        eventually(lambda: gone(pid), "the worker to end")
    finally:
        worker.close()


# -- through the indexer -----------------------------------------------------------------


class Indexing:
    def __init__(self, db: Path, embedder: Embedder, **config: object) -> None:
        self.db = db
        self.slot = EmbedderSlot(lend(embedder), None)
        settings = IndexerConfig(**{"watch": False, **config})  # type: ignore[arg-type]
        self.indexer = Indexer(self._open, self.slot, lambda _p: None, config=settings)
        self.store = DocumentStore.open(db)

    def _open(self) -> DocumentStore:
        return DocumentStore.open(self.db)

    def add(self, folder: Path) -> int:
        collection = self.store.create_collection("Docs")
        self.store.add_root(collection.id, folder)
        return collection.id

    def states(self, collection_id: int) -> dict[str, tuple[FileState, str]]:
        return {f.path.name: (f.state, f.reason) for f in self.store.files(collection_id)}

    def settled(self) -> bool:
        counts = self.store.counts(self.slot.loaded_model_id())
        return not self.indexer.busy() and counts.files_done == counts.files_total

    def stop(self) -> None:
        self.indexer.stop()
        self.slot.close()
        self.store.close()


def test_the_indexer_fails_a_crashing_and_a_hanging_file_and_reads_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedder: Embedder
) -> None:
    worker_hook(monkeypatch, tmp_path / "hook", FAULTS)
    folder = tmp_path / "docs"
    for name in ("a.txt", "crash.txt", "slow.txt", "z.txt"):
        note(folder, name)
    h = Indexing(tmp_path / "documents.sqlite3", embedder, read_seconds=1.0, read_seconds_per_mb=0)
    try:
        cid = h.add(folder)
        h.indexer.start()
        eventually(h.settled, "indexing to finish")
        states = h.states(cid)
        assert states["crash.txt"] == (
            FileState.FAILED,
            "the reader stopped on this file — it crashed (SIGSEGV)",
        )
        assert states["slow.txt"][0] is FileState.FAILED
        assert states["slow.txt"][1].startswith("took too long to read")
        assert states["a.txt"][0] is states["z.txt"][0] is FileState.INDEXED
        assert h.store.keyword_search("harbour boats", [cid])
    finally:
        h.stop()


def test_stop_ends_a_worker_stuck_on_a_file_and_the_file_is_read_next_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedder: Embedder
) -> None:
    hook = worker_hook(monkeypatch, tmp_path / "hook", FAULTS)
    folder = tmp_path / "docs"
    note(folder, "slow.txt", "Slow but fine in the end: lighthouses.\n")
    db = tmp_path / "documents.sqlite3"
    h = Indexing(db, embedder)
    try:
        cid = h.add(folder)
        h.indexer.start()
        eventually(
            lambda: h.indexer._worker is not None and bool(h.indexer._worker.pid), "a worker"
        )
        worker = h.indexer._worker
        assert worker is not None
        pid = worker.pid
        assert pid is not None
        eventually(lambda: h.states(cid)["slow.txt"][0] is FileState.INDEXING, "reading")
    finally:
        h.stop()
    eventually(lambda: gone(pid), "the worker to end with the indexer")

    hook.write_text("", encoding="utf-8")  # the file reads normally now
    again = Indexing(db, embedder)
    try:
        again.indexer.start()
        eventually(again.settled, "indexing to finish")
        assert again.states(cid)["slow.txt"][0] is FileState.INDEXED
    finally:
        again.stop()


# -- never orphaned --------------------------------------------------------------------------

PARENT = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from desktopchat.core.documents.chunking import approx_tokens
    from desktopchat.core.documents.extract_worker import ExtractWorker, ReadSettings
    from desktopchat.core.documents.types import ParseLimits

    worker = ExtractWorker()
    worker.submit(Path(sys.argv[1]), ReadSettings(ParseLimits(), 256, 32, approx_tokens), 3600)
    if sys.argv[2] == "idle":
        worker.next_result(threading.Event())
    print(worker.pid, flush=True)
    threading.Event().wait()  # until killed
    """
)


@pytest.mark.parametrize("state", ["idle", "stuck"])
def test_the_worker_does_not_outlive_a_parent_killed_with_sigkill(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, state: str
) -> None:
    """Idle, it sees its stdin close; stuck in code that holds the GIL (no Python thread of
    it runs), the kernel ends it with its parent (Linux)."""
    if state == "stuck" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    worker_hook(monkeypatch, tmp_path / "hook", FAULTS)
    path = note(tmp_path / "docs", "stuck.txt" if state == "stuck" else "fine.txt")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(path), state],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert not gone(pid)
        if state == "stuck":
            eventually(lambda: _cpu_seconds(pid) > 0.2, "the worker to be stuck on the file")
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(HANG_GUARD)
        if parent.stdout is not None:
            parent.stdout.close()
    eventually(lambda: gone(pid), "the orphaned worker to end")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the indexing process loads no parser library --------------------------------------------

INDEXING_PROCESS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from desktopchat.core.documents.embedder_slot import EmbedderSlot
    from desktopchat.core.documents.indexer import Indexer, IndexerConfig
    from desktopchat.core.storage.documents import DocumentStore

    db, folder = Path(sys.argv[1]), Path(sys.argv[2])

    def no_model(path):
        raise RuntimeError("keyword search only")

    store = DocumentStore.open(db)
    collection = store.create_collection("Docs")
    store.add_root(collection.id, folder)
    indexer = Indexer(
        lambda: DocumentStore.open(db), EmbedderSlot(no_model, None), lambda p: None,
        config=IndexerConfig(watch=False),
    )
    indexer.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        counts = store.counts(None)
        if counts.files_total and counts.files_done == counts.files_total:
            break
        time.sleep(0.05)
    indexed = sum(f.state.value == "indexed" for f in store.files(collection.id))
    indexer.stop()
    heavy = ("pypdfium2", "docx", "selectolax", "charset_normalizer", "odf", "pptx",
             "openpyxl", "ebooklib", "desktopchat.core.documents.parsers.text")
    print(indexed, sorted(m for m in heavy if m in sys.modules))
    """
)


def test_the_process_that_indexes_imports_no_parser_library(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write_corpus(folder)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            INDEXING_PROCESS,
            str(tmp_path / "d.sqlite3"),
            str(tmp_path / "docs"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=HANG_GUARD,
        check=True,
    )
    indexed, loaded = done.stdout.split(" ", 1)
    assert int(indexed) == 5, done.stdout  # read by the worker
    assert loaded.strip() == "[]", done.stdout


def test_a_reader_that_cannot_start_fails_the_files_and_the_indexer_goes_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedder: Embedder
) -> None:
    from desktopchat.core.documents import extract_worker

    monkeypatch.setattr(extract_worker, "worker_command", lambda: [str(tmp_path / "missing")])
    folder = tmp_path / "docs"
    note(folder, "a.txt")
    note(folder, "b.txt")
    h = Indexing(tmp_path / "documents.sqlite3", embedder)
    try:
        cid = h.add(folder)
        h.indexer.start()
        eventually(h.settled, "indexing to finish")
        for state, reason in h.states(cid).values():
            assert state is FileState.FAILED
            assert reason.startswith("the reader could not be started")
        assert h.indexer._threads[0].is_alive(), "the index thread goes on"
    finally:
        h.stop()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_the_worker_runs_at_a_lower_priority(worker: ExtractWorker, tmp_path: Path) -> None:
    """Reading files gives way to the window: the worker is nicer than the app."""
    from desktopchat.core.inference.process_engine import BACKGROUND_NICENESS
    from tests.core.documents.test_embedder import _thread_niceness

    read(worker, note(tmp_path, "a.txt"))
    pid = worker.pid
    assert pid is not None
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(n >= min(19, ours + BACKGROUND_NICENESS) for n in _thread_niceness(pid))
