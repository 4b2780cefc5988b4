"""The indexing pipeline on real folders, the real parsers, store and embedder: states and
reasons per file, vectors filling in, restarts that read nothing unchanged, moved and
deleted files, an unreachable folder kept, pause and yield, the size limit, a file that
changes while it is read, a parser's bug that stops nothing."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat.core.documents.embedder_slot import EmbedderSlot
from desktopchat.core.documents.indexer import READ_MEMORY_PER_BYTE, Indexer, IndexerConfig
from desktopchat.core.documents.scan import diff, scan
from desktopchat.core.documents.types import (
    DocumentFile,
    Embedder,
    FileState,
    IndexProgress,
    ParseLimits,
)
from desktopchat.core.storage.documents import DocumentStore
from tests.core.documents.indexing_helpers import eventually, lend, worker_hook, write_corpus


class Harness:
    """One indexer on a real database, started and stopped like the library does."""

    def __init__(self, db: Path, embedder: Embedder, **config: object) -> None:
        self.db = db
        self.updates: list[IndexProgress] = []
        self.slot = EmbedderSlot(lend(embedder), None)
        settings = IndexerConfig(**{"watch": False, **config})  # type: ignore[arg-type]
        self.indexer = Indexer(self._open, self.slot, self.updates.append, config=settings)
        self.store = DocumentStore.open(db)

    def _open(self) -> DocumentStore:
        return DocumentStore.open(self.db)

    def start(self) -> Harness:
        self.indexer.start()
        return self

    def settled(self) -> bool:
        if self.indexer.busy():
            return False
        model = self.slot.loaded_model_id()
        counts = self.store.counts(model)
        return counts.files_done == counts.files_total and (
            counts.chunks_embedded == counts.chunks_total
        )

    def wait(self) -> None:
        eventually(self.settled, "indexing to finish")

    def by_name(self, collection_id: int) -> dict[str, DocumentFile]:
        return {f.path.name: f for f in self.store.files(collection_id)}

    def chunk_ids(self, file_id: int) -> list[int]:
        return [p.chunk_id for p in self.store.chunks_of_file(file_id)]

    def stop(self) -> None:
        self.indexer.stop()
        self.slot.close()
        self.store.close()


@pytest.fixture
def harness(tmp_path: Path, embedder: Embedder) -> Iterator[Harness]:
    h = Harness(tmp_path / "documents.sqlite3", embedder)
    yield h
    h.stop()


def add_folder(h: Harness, folder: Path, name: str = "Docs") -> int:
    collection = h.store.create_collection(name)
    h.store.add_root(collection.id, folder)
    return collection.id


def test_a_folder_is_indexed_with_a_state_and_reason_per_file(
    harness: Harness, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    cid = add_folder(harness, tmp_path / "docs")
    harness.start().wait()

    states = harness.by_name(cid)
    for name in ("notes.md", "manual.txt", "page.html", "prices.csv", "legacy.txt"):
        assert states[name].state is FileState.INDEXED, (name, states[name].reason)
        assert states[name].chunks >= 1
        assert states[name].sha256
    assert states["photo.jpg"].state is FileState.SKIPPED
    assert "not a format we read" in states["photo.jpg"].reason
    assert states["fake.txt"].state is FileState.FAILED
    assert "not text" in states["fake.txt"].reason

    hits = harness.store.keyword_search("what is the warranty period", [cid])
    assert hits and hits[0].path == files["notes"]
    assert "façade" in harness.store.file_text(states["legacy.txt"].id)

    model = harness.slot.loaded_model_id()
    assert model is not None
    counts = harness.store.counts(model)
    assert counts.chunks_total > 0
    assert harness.store.count_vectors(model) == counts.chunks_total

    assert harness.updates, "progress was published"
    # Listeners hear from the progress thread a moment later (the first update, before the
    # scan, has nothing to count and is "idle" too): wait for one that counts the files.
    eventually(
        lambda: harness.updates[-1].idle and harness.updates[-1].files_total > 0,
        "the last progress update to say idle, with the files counted",
    )
    last = harness.updates[-1]
    assert last.files_total == len(files) and last.files_failed == 1
    assert last.bytes_done == last.bytes_total > 0


def test_a_restart_reads_no_unchanged_file_and_redoes_changed_ones(
    tmp_path: Path, embedder: Embedder
) -> None:
    files = write_corpus(tmp_path / "docs")
    first = Harness(tmp_path / "documents.sqlite3", embedder)
    cid = add_folder(first, tmp_path / "docs")
    first.start().wait()
    before = {name: first.chunk_ids(f.id) for name, f in first.by_name(cid).items()}
    first.stop()

    # touched only (same bytes, new mtime): the hash matches, nothing is read again
    later = time.time() + 10
    os.utime(files["notes"], (later, later))
    files["manual"].write_text("The grinder has twelve settings for the beans.\n")

    second = Harness(tmp_path / "documents.sqlite3", embedder)
    try:
        second.start().wait()
        after = {name: second.chunk_ids(f.id) for name, f in second.by_name(cid).items()}
        assert after["notes.md"] == before["notes.md"]
        assert after["page.html"] == before["page.html"]
        assert after["manual.txt"] != before["manual.txt"]
        assert second.by_name(cid)["notes.md"].mtime_ns == files["notes"].stat().st_mtime_ns
        assert second.store.keyword_search("grinder settings", [cid])
        assert not second.store.keyword_search("espresso boiler", [cid])
    finally:
        second.stop()


def test_moved_and_deleted_files_are_found_at_the_next_scan(
    tmp_path: Path, embedder: Embedder
) -> None:
    files = write_corpus(tmp_path / "docs")
    first = Harness(tmp_path / "documents.sqlite3", embedder)
    cid = add_folder(first, tmp_path / "docs")
    first.start().wait()
    old_text = first.store.file_text(first.by_name(cid)["page.html"].id)
    first.stop()

    moved = tmp_path / "docs" / "sub" / "garden.html"
    files["page"].rename(moved)
    files["table"].unlink()

    second = Harness(tmp_path / "documents.sqlite3", embedder)
    try:
        second.start().wait()
        names = second.by_name(cid)
        assert "page.html" not in names and "prices.csv" not in names
        assert names["garden.html"].state is FileState.INDEXED
        assert second.store.file_text(names["garden.html"].id) == old_text
        hits = second.store.keyword_search("tomatoes full sun", [cid])
        assert [h.path for h in hits] == [moved]
        model = second.slot.loaded_model_id()
        assert model is not None
        counts = second.store.counts(model)
        assert counts.chunks_total == sum(f.chunks for f in names.values())
        assert second.store.count_vectors(model) == counts.chunks_total
    finally:
        second.stop()


def test_an_unreachable_folder_keeps_its_index(tmp_path: Path, embedder: Embedder) -> None:
    write_corpus(tmp_path / "usb")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "todo.txt").write_text("Buy stamps and envelopes.\n")
    first = Harness(tmp_path / "documents.sqlite3", embedder)
    cid = add_folder(first, tmp_path / "usb")
    first.store.add_root(cid, tmp_path / "local")
    first.start().wait()
    count = len(first.store.files(cid))
    first.stop()

    (tmp_path / "usb").rename(tmp_path / "unplugged")  # the drive is gone
    (tmp_path / "local" / "more.txt").write_text("Call the plumber on Monday.\n")
    second = Harness(tmp_path / "documents.sqlite3", embedder)
    try:
        second.start().wait()
        assert len(second.store.files(cid)) == count + 1
        assert second.store.keyword_search("warranty period", [cid]), "the index is kept"
        assert second.indexer.unavailable == (tmp_path / "usb",)
        eventually(
            lambda: second.updates[-1].unavailable == (tmp_path / "usb",), "progress says so"
        )

        (tmp_path / "unplugged").rename(tmp_path / "usb")  # plugged in again
        second.indexer.request_scan()
        second.wait()
        eventually(lambda: second.indexer.unavailable == (), "the folder is back")
        assert len(second.store.files(cid)) == count + 1
    finally:
        second.stop()


def test_scan_follows_links_once_and_skips_hidden_and_system_folders(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep.txt").write_text("deep")
    (root / "top.txt").write_text("top")
    (root / "a" / "b" / "loop").symlink_to(root)  # a loop back to the root
    (root / "a" / "again").symlink_to(root / "a" / "b")  # the same folder twice
    (root / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    for hidden in (".git", "node_modules", "__pycache__"):
        (root / hidden).mkdir()
        (root / hidden / "inside.txt").write_text("hidden")
    (root / "~$report.docx").write_text("an office lock file")
    (root / ".DS_Store").write_text("x")

    result = scan([root])
    names = sorted(p.name for p in result.found)
    assert names == ["deep.txt", "top.txt"]
    assert not result.unavailable

    gone = scan([tmp_path / "nowhere"])
    assert gone.unavailable == [tmp_path / "nowhere"] and not gone.found


def test_diff_keeps_files_under_an_unreachable_root(tmp_path: Path) -> None:
    row = DocumentFile(
        id=1, collection_id=1, path=tmp_path / "usb" / "a.txt", state=FileState.INDEXED
    )
    changes = diff([row], scan([tmp_path / "usb"]))
    assert not changes.gone and not changes.new


def test_pause_and_a_streaming_reply_hold_the_pipeline(harness: Harness, tmp_path: Path) -> None:
    write_corpus(tmp_path / "docs")
    cid = add_folder(harness, tmp_path / "docs")
    harness.indexer.pause()
    harness.start()
    time.sleep(0.5)  # a chance to (wrongly) do work: nothing may be read while paused
    assert all(f.state is FileState.WAITING for f in harness.store.files(cid)) or not (
        harness.store.files(cid)
    )
    assert harness.indexer.held()

    harness.indexer.set_yielding(True)
    harness.indexer.resume()
    assert harness.indexer.held(), "still held while the reply streams"
    progress = harness.indexer.measure(harness.store)
    assert progress.yielding and not progress.paused

    harness.indexer.set_yielding(False)
    harness.wait()
    assert harness.by_name(cid)["notes.md"].state is FileState.INDEXED


def test_the_size_limit_fails_a_file_until_it_is_raised(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "big.log.txt").write_text("a line of the log about disk usage\n" * 200)
    (folder / "small.txt").write_text("a small note about disk usage\n")
    h = Harness(tmp_path / "documents.sqlite3", embedder, limits=ParseLimits(max_file_bytes=2000))
    try:
        cid = add_folder(h, folder)
        h.start().wait()
        big = h.by_name(cid)["big.log.txt"]
        assert big.state is FileState.FAILED and big.reason.startswith("too large")
        assert "settings" in big.reason
        assert h.by_name(cid)["small.txt"].state is FileState.INDEXED

        h.indexer.set_limits(ParseLimits(max_file_bytes=10_000_000))
        eventually(lambda: h.by_name(cid)["big.log.txt"].state is FileState.INDEXED, "a second try")
        h.wait()
    finally:
        h.stop()


def test_a_file_changed_while_it_is_read_is_read_again(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    target = folder / "draft.txt"
    target.write_text("first draft about lighthouses\n")
    raced = tmp_path / "raced"
    worker_hook(
        monkeypatch,
        tmp_path / "hook",
        f"""
        from pathlib import Path
        from desktopchat.core.documents.parsers import safety

        real_read = safety.read_chunks

        def read_and_change(fd, size):  # fault injection: a writer races the reader
            data = real_read(fd, size)
            if not Path({str(raced)!r}).exists():
                Path({str(raced)!r}).write_text("yes")
                Path({str(target)!r}).write_text(
                    "second draft about windmills, longer than the first\\n"
                )
            return data

        safety.read_chunks = read_and_change
        """,
    )
    cid = add_folder(harness, folder)
    harness.start().wait()
    row = harness.by_name(cid)["draft.txt"]
    assert raced.exists() and row.state is FileState.INDEXED
    assert "windmills" in harness.store.file_text(row.id)
    assert row.size == target.stat().st_size


def test_a_parser_bug_fails_one_file_and_stops_nothing(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_corpus(tmp_path / "docs")
    worker_hook(
        monkeypatch,
        tmp_path / "hook",
        """
        from desktopchat.core.documents import parsers

        real_extract = parsers.extract

        def extract(path, limits):  # fault injection: a bug inside a parser
            if path.name == "notes.md":
                raise RuntimeError("boom")
            return real_extract(path, limits)

        parsers.extract = extract
        """,
    )
    cid = add_folder(harness, tmp_path / "docs")
    harness.start().wait()
    states = harness.by_name(cid)
    assert states["notes.md"].state is FileState.FAILED
    assert "RuntimeError" in states["notes.md"].reason
    assert states["manual.txt"].state is FileState.INDEXED
    assert states["page.html"].state is FileState.INDEXED


def test_a_removed_collection_while_indexing_leaves_no_orphans(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"note{i:02}.txt").write_text(f"Note {i} about the harbour and its boats.\n")
    cid = add_folder(harness, folder)
    harness.start()
    eventually(
        lambda: any(f.state is FileState.INDEXED for f in harness.store.files(cid)),
        "some files indexed",
    )
    harness.store.delete_collection(cid)
    harness.wait()
    assert harness.store.counts(None).chunks_total == 0
    rows = harness.store.query("SELECT count(*) FROM chunks")
    assert rows[0][0] == 0
    shutil.rmtree(folder)


def test_the_rate_can_be_read_while_the_indexing_threads_add_to_it() -> None:
    """progress() read the rate's samples while an indexing thread appended to them:
    "deque mutated during iteration" escaped from progress() and wait()."""
    from desktopchat.core.documents.indexer import _Rate

    rate = _Rate()
    errors: list[BaseException] = []

    def add() -> None:
        for _ in range(300):
            rate.add(1.0)
            time.sleep(0)  # let the reader in between appends

    adder = threading.Thread(target=add)
    adder.start()
    while adder.is_alive():
        try:
            rate.per_second()
        except RuntimeError as exc:  # the bug this test is for
            errors.append(exc)
            break
    adder.join()
    assert not errors
    assert rate.per_second() > 0


def test_progress_is_published_only_when_it_changed(harness: Harness, tmp_path: Path) -> None:
    """It was published every wake of the progress thread (a few times a second while
    indexing, every 2 s when idle), each one a refresh of the window's Documents part."""
    write_corpus(tmp_path / "docs")
    add_folder(harness, tmp_path / "docs")
    harness.start().wait()
    eventually(
        lambda: (
            bool(harness.updates)
            and harness.updates[-1].idle
            and harness.updates[-1].files_total > 0
            and not harness.updates[-1].bytes_per_second
            and not harness.updates[-1].chunks_per_second
        ),
        "an idle update with the speeds faded",
        guard=60,
    )
    published = len(harness.updates)
    harness.indexer.request_scan(set())  # wakes it: nothing to do, nothing new to say
    time.sleep(2.5)  # past the thread's own 2 s wake
    assert harness.updates[published:] == []
    assert all(a != b for a, b in zip(harness.updates, harness.updates[1:], strict=False))


def test_a_deleted_file_leaves_no_copy_of_its_words_once_the_indexer_is_idle(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The indexer removes files deleted on disk in one transaction without merging the
    search index (a merge of the whole index per file would take seconds each on
    SQLite < 3.42); the purge runs when it is idle, and then no word of them is left."""
    folder = tmp_path / "docs"
    folder.mkdir()
    marker = "Quokkazanzibar61733"
    for i in range(12):
        words = " ".join(f"word{(i * 13 + k) % 97}" for k in range(300))
        secret = f" {marker} confidential" if i == 5 else ""
        (folder / f"{i}.txt").write_text(f"Note {i}. {words}{secret} end.\n")
    h = Harness(tmp_path / "documents.sqlite3", embedder, purge_interval=0.0)
    try:
        cid = add_folder(h, folder)
        h.start().wait()
        assert h.store.keyword_search(marker, [cid])
        (folder / "5.txt").unlink()
        h.indexer.request_scan({folder / "5.txt"})
        eventually(lambda: "5.txt" not in h.by_name(cid), "the deleted file to go")
        h.wait()
        eventually(lambda: not h.store.purge_pending(), "the idle purge")
        h.store.checkpoint()
        data = b"".join(
            p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("documents.sqlite3")
        )
        assert marker.encode() not in data and marker[-8:].encode() not in data
        assert h.store.keyword_search(marker, [cid]) == []
    finally:
        h.stop()


def _address_space_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max address space"):
            return int(line.split()[3])
    raise AssertionError("no address space line")


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc (Linux)")
def test_a_bigger_size_limit_gives_the_reader_more_memory(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A 2 GB log file the user allowed must not fail for the reader's memory limit: the
    worker's limit grows with the size limit (a new worker after the change)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "one.txt").write_text("the first note about backups\n")
    h = Harness(tmp_path / "documents.sqlite3", embedder, reader_memory_bytes=2 << 30)
    try:
        cid = add_folder(h, folder)
        h.start().wait()
        worker = h.indexer._worker
        assert worker is not None and worker.pid is not None
        assert _address_space_limit(worker.pid) == 2 << 30  # 200 MB files fit in 2 GiB

        h.indexer.set_limits(ParseLimits(max_file_bytes=2 << 30))
        (folder / "two.txt").write_text("the second note about restores\n")
        h.indexer.request_scan({folder / "two.txt"})
        eventually(
            lambda: getattr(h.by_name(cid).get("two.txt"), "state", None) is FileState.INDEXED,
            "the new file",
        )
        worker = h.indexer._worker
        assert worker is not None and worker.pid is not None
        assert _address_space_limit(worker.pid) == READ_MEMORY_PER_BYTE * (2 << 30)
    finally:
        h.stop()
