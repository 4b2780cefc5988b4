"""Watched folders while the indexer runs: real files created, changed, deleted and moved
are picked up through the operating system's notifications (watchdog), debounced; waits
have a hang guard only."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat.core.documents.indexer import IndexerConfig
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.types import Embedder, FileState
from desktopchat.core.documents.watch import FolderWatcher
from tests.core.documents.indexing_helpers import HANG_GUARD, eventually, lend
from tests.core.documents.test_indexer import Harness, add_folder


@pytest.fixture
def watched(tmp_path: Path, embedder: Embedder) -> Iterator[Harness]:
    # the slow periodic rescan is far away: only notifications can find the changes
    h = Harness(tmp_path / "documents.sqlite3", embedder, watch=True, debounce=0.2)
    yield h
    h.stop()


def names(h: Harness, cid: int) -> dict[str, FileState]:
    return {f.path.name: f.state for f in h.store.files(cid)}


def test_changes_in_a_watched_folder_are_indexed_while_it_runs(
    watched: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    (folder / "deep").mkdir(parents=True)
    (folder / "first.txt").write_text("The ferry leaves at nine from pier four.\n")
    cid = add_folder(watched, folder)
    watched.start().wait()
    assert names(watched, cid) == {"first.txt": FileState.INDEXED}

    # a new file, in a subfolder
    (folder / "deep" / "second.md").write_text("# Bakery\n\nSourdough needs a starter.\n")
    eventually(lambda: bool(watched.store.keyword_search("sourdough starter", [cid])), "a new file")

    # a changed file: the new words are found, the old ones are not
    (folder / "first.txt").write_text("The ferry now leaves at ten from pier six.\n")

    def text_of(name: str) -> str:
        rows = [f for f in watched.store.files(cid) if f.path.name == name]
        return watched.store.file_text(rows[0].id) if rows else ""

    eventually(lambda: "pier six" in text_of("first.txt"), "the changed file re-indexed")
    assert "pier four" not in text_of("first.txt")
    assert watched.store.keyword_search("pier six", [cid])

    # a moved file keeps its content under the new name
    (folder / "deep" / "second.md").rename(folder / "bread.md")
    eventually(lambda: set(names(watched, cid)) == {"first.txt", "bread.md"}, "the moved file")
    hits = watched.store.keyword_search("sourdough starter", [cid])
    assert [h.path for h in hits] == [folder / "bread.md"]

    # a deleted file leaves the index
    (folder / "first.txt").unlink()
    eventually(lambda: set(names(watched, cid)) == {"bread.md"}, "the deleted file removed")
    assert not watched.store.keyword_search("ferry", [cid])
    assert text_of("first.txt") == ""

    # a new folder moved in whole
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "recipe.txt").write_text("Lentil soup with cumin and lemon.\n")
    outside.rename(folder / "recipes")
    eventually(
        lambda: bool(watched.store.keyword_search("lentil soup", [cid])), "a moved-in folder"
    )
    watched.wait()
    model = watched.slot.loaded_model_id()
    assert model is not None
    counts = watched.store.counts(model)
    assert watched.store.count_vectors(model) == counts.chunks_total


def test_a_watched_single_file_root(watched: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    target = folder / "plan.txt"
    target.write_text("Plant the roses in March.\n")
    (folder / "other.txt").write_text("Not part of the collection.\n")
    collection = watched.store.create_collection("One file")
    watched.store.add_root(collection.id, target)
    watched.start().wait()
    assert names(watched, collection.id) == {"plan.txt": FileState.INDEXED}

    target.write_text("Plant the tulips in October.\n")
    (folder / "other.txt").write_text("Still not part of it.\n")
    eventually(
        lambda: bool(watched.store.keyword_search("tulips october", [collection.id])),
        "the file root re-indexed",
    )
    assert names(watched, collection.id) == {"plan.txt": FileState.INDEXED}


def test_the_watcher_debounces_and_drops_hidden_folders(tmp_path: Path) -> None:
    got: list[set[Path]] = []
    arrived = threading.Event()

    def listener(paths: set[Path]) -> None:
        got.append(paths)
        arrived.set()

    watcher = FolderWatcher(listener, debounce=0.3)
    try:
        assert watcher.watch([tmp_path]) == []
        gone = tmp_path / "unplugged" / "drive"
        assert watcher.watch([gone]) == [gone]
        assert watcher.watch([tmp_path]) == []
        (tmp_path / ".git").mkdir()
        (tmp_path / ".git" / "index").write_text("ignored")
        for i in range(20):  # a burst of writes to one file arrives as one change
            (tmp_path / "burst.txt").write_text("x" * i)
        assert arrived.wait(30), "the change arrived"
        changed = set().union(*got)
        assert tmp_path / "burst.txt" in changed
        assert not any(".git" in p.parts for p in changed)
    finally:
        watcher.close()


def test_the_library_watches_its_folders(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    library = LocalDocumentLibrary(
        tmp_path / "documents.sqlite3",
        lend(embedder),
        config=IndexerConfig(watch=True, debounce=0.2),
    )
    try:
        col = library.create_collection("Inbox")
        library.add_paths(col.id, [folder])
        assert library.wait(HANG_GUARD)
        (folder / "letter.txt").write_text("Dear neighbour, the hedge needs trimming.\n")
        eventually(lambda: bool(library.search("hedge trimming")), "the new file is found")
        assert library.wait(HANG_GUARD)
        (folder / "letter.txt").unlink()
        eventually(lambda: library.files(col.id) == [], "the deleted file is gone")
    finally:
        library.close()
