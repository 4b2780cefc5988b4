"""Deleting a collection (or removing a root) leaves no copy of its text in the database
file, its WAL or its shared-memory file: checked by reading their raw bytes for a unique
marker, for the last letters of it (the search index stores a word after the prefix it
shares with the word before it), and for a piece of the zlib stream of the file's text.
Each check is first shown to find the text while it is still there."""

from __future__ import annotations

import zlib
from pathlib import Path

from desktopchat.core.documents.types import Anchor, ChunkText
from desktopchat.core.storage.documents import DocumentStore

MARKER = "Zanzibarquokka58214"
WORDS = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel"]


def raw(path: Path) -> bytes:
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def fill(store: DocumentStore, collection_id: int, prefix: str, secret: bool) -> str:
    """Twenty files; with ``secret``, the seventh holds the marker. Returns its text."""
    secret_text = ""
    for i in range(20):
        words = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(400)]
        if secret and i == 6:
            words[200:200] = [MARKER, "confidential", "salary", "figures"]
        text = " ".join(words)
        file = store.upsert_file(collection_id, Path(f"/{prefix}/{i}.txt"), len(text), 1)
        chunks = [
            ChunkText(n, text[at : at + 300], Anchor(line_start=n + 1), 60, at, at + 300)
            for n, at in enumerate(range(0, len(text), 300))
        ]
        store.replace_file_content(file.id, sha256=str(i), format="text", text=text, chunks=chunks)
        store.put_vectors(
            "m", 3, [(c.chunk_id, [1.0, i, 2.0]) for c in store.chunks_of_file(file.id)]
        )
        if secret and i == 6:
            secret_text = text
    return secret_text


def needles(secret_text: str) -> list[bytes]:
    packed = zlib.compress(secret_text.encode("utf-8"), 6)
    return [MARKER.encode(), MARKER[-8:].encode(), packed[16:48]]


def test_deleting_a_collection_leaves_no_copy_of_its_text(tmp_path: Path) -> None:
    path = tmp_path / "documents.sqlite3"
    store = DocumentStore.open(path)
    keep = store.create_collection("Keep")
    gone = store.create_collection("Private")
    fill(store, keep.id, "keep", secret=False)
    secret_text = fill(store, gone.id, "private", secret=True)
    store.checkpoint()  # some of it in the database file, some in the WAL
    fill(store, gone.id, "private-more", secret=False)
    before = raw(path)
    for needle in needles(secret_text):
        assert needle in before, needle  # the checks can see the text
    assert store.keyword_search(MARKER)

    store.delete_collection(gone.id)

    after = raw(path)
    for needle in needles(secret_text):
        assert needle not in after, needle
    assert path.with_name(path.name + "-wal").stat().st_size == 0
    assert store.keyword_search(MARKER) == []
    assert len(store.keyword_search("banana", limit=100)) > 0  # the other one is intact
    assert store.count_vectors("m") == sum(f.chunks for f in store.files(keep.id))
    assert store.query("PRAGMA integrity_check")[0][0] == "ok"
    store.close()
    reopened = DocumentStore.open(path, check=True)
    assert [c.name for c in reopened.collections()] == ["Keep"]
    reopened.close()


def test_removing_a_root_leaves_no_copy_of_its_files_text(tmp_path: Path) -> None:
    path = tmp_path / "documents.sqlite3"
    store = DocumentStore.open(path)
    c = store.create_collection("Mixed")
    store.add_root(c.id, Path("/keep"))
    store.add_root(c.id, Path("/private"))
    fill(store, c.id, "keep", secret=False)
    secret_text = fill(store, c.id, "private", secret=True)
    assert all(n in raw(path) for n in needles(secret_text))
    store.remove_root(c.id, Path("/private"))
    after = raw(path)
    for needle in needles(secret_text):
        assert needle not in after, needle
    assert {f.path.parent for f in store.files(c.id)} == {Path("/keep")}
    store.close()


def _secret_file(store: DocumentStore, collection_id: int) -> int:
    """The id of the file that holds the marker (the seventh of ``fill``'s "private")."""
    return next(f.id for f in store.files(collection_id) if f.path == Path("/private/6.txt"))


def test_removing_one_file_leaves_no_copy_of_its_text(tmp_path: Path) -> None:
    """What the indexer does when a file is deleted from a watched folder: its words are
    gone from the search index's segments too, not only its row (FTS5 keeps a deleted
    row's words in the old segments until they are merged)."""
    path = tmp_path / "documents.sqlite3"
    store = DocumentStore.open(path)
    c = store.create_collection("Notes")
    fill(store, c.id, "keep", secret=False)
    secret_text = fill(store, c.id, "private", secret=True)
    store.checkpoint()
    fill(store, c.id, "later", secret=False)  # the marker's segment is not the newest
    assert all(n in raw(path) for n in needles(secret_text))

    store.remove_file(_secret_file(store, c.id))

    after = raw(path)
    for needle in needles(secret_text):
        assert needle not in after, needle
    assert store.keyword_search(MARKER) == []
    assert len(store.keyword_search("banana", limit=100)) > 0
    assert len(store.files(c.id)) == 59
    assert store.query("PRAGMA integrity_check")[0][0] == "ok"
    store.close()


def test_emptying_one_file_leaves_no_copy_of_its_text(tmp_path: Path) -> None:
    """What the library does when the user removes one file of a watched folder from the
    collection (its row stays, SKIPPED, with no text): its words go from the file too."""
    path = tmp_path / "documents.sqlite3"
    store = DocumentStore.open(path)
    c = store.create_collection("Notes")
    fill(store, c.id, "keep", secret=False)
    secret_text = fill(store, c.id, "private", secret=True)
    store.checkpoint()
    fill(store, c.id, "later", secret=False)
    assert all(n in raw(path) for n in needles(secret_text))

    file_id = _secret_file(store, c.id)
    store.replace_file_content(file_id, sha256="6", format="text", text="", chunks=())

    after = raw(path)
    for needle in needles(secret_text):
        assert needle not in after, needle
    assert store.keyword_search(MARKER) == []
    assert store.chunks_of_file(file_id) == []
    assert store.query("PRAGMA integrity_check")[0][0] == "ok"
    store.close()


def test_a_removal_without_purge_is_purged_later(tmp_path: Path) -> None:
    """remove_file(purge=False) (the indexer's) marks the index for a purge, and
    purge_index then leaves no copy; the mark survives closing the store."""
    path = tmp_path / "documents.sqlite3"
    store = DocumentStore.open(path)
    c = store.create_collection("Notes")
    fill(store, c.id, "keep", secret=False)
    secret_text = fill(store, c.id, "private", secret=True)
    store.checkpoint()
    fill(store, c.id, "later", secret=False)
    store.remove_file(_secret_file(store, c.id), purge=False)
    assert store.keyword_search(MARKER) == []
    store.close()
    store = DocumentStore.open(path)
    assert store.purge_pending()
    store.purge_index()
    assert not store.purge_pending()
    after = raw(path)
    for needle in needles(secret_text):
        assert needle not in after, needle
    store.close()
