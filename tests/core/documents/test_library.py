"""LocalDocumentLibrary end to end on real folders, the real store and embedder: hybrid
search, retrieval while indexing, the preview, removing paths, two processes' libraries
on one database (the lock), the embedder's name and a failing one, the language advice,
and a close that ends every thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktopchat.core.documents.indexer import IndexerConfig
from desktopchat.core.documents.library import (
    MULTILINGUAL_SUGGESTION,
    LocalDocumentLibrary,
    dominant_foreign_language,
    limits_from_settings,
)
from desktopchat.core.documents.lock import IndexerLock
from desktopchat.core.documents.types import Embedder, FileState, IndexProgress
from tests.core.documents.indexing_helpers import HANG_GUARD, eventually, lend, write_corpus

FAST = IndexerConfig(watch=False, roots_poll_interval=0.2)


def make(db: Path, embedder: Embedder, **options: object) -> LocalDocumentLibrary:
    options.setdefault("config", FAST)
    return LocalDocumentLibrary(db, lend(embedder), **options)  # type: ignore[arg-type]


@pytest.fixture
def library(tmp_path: Path, embedder: Embedder) -> Iterator[LocalDocumentLibrary]:
    lib = make(tmp_path / "documents.sqlite3", embedder)
    yield lib
    lib.close()


def words(n: int, topic: str) -> str:
    return " ".join(f"{topic} sentence number {i} says something plain." for i in range(n))


def test_search_is_hybrid_and_the_preview_shows_the_passage(
    library: LocalDocumentLibrary, tmp_path: Path
) -> None:
    files = write_corpus(tmp_path / "docs")
    docs = library.create_collection("Household")
    with pytest.raises(ValueError):
        library.create_collection("household")
    library.add_paths(docs.id, [tmp_path / "docs"])
    assert library.wait(HANG_GUARD)
    assert [c.name for c in library.collections()] == ["Household"]
    assert library.collections()[0].roots == (tmp_path / "docs",)

    progress = library.progress()
    assert progress.idle and progress.files_total == len(files), progress
    assert progress.chunks_embedded == progress.chunks_total > 0, progress

    hits = library.search("how long is the guarantee on what I bought", limit=3)
    assert hits and hits[0].path == files["notes"]
    assert hits[0].vector_rank is not None, "found by meaning too"
    keyword = library.search("espresso boiler", collection_ids=[docs.id])
    assert keyword[0].path == files["manual"] and keyword[0].keyword_rank == 1

    preview = library.preview(hits[0].chunk_id)
    assert preview.path == files["notes"]
    assert "warranty period is two years" in preview.text[preview.start : preview.end]
    assert preview.anchor_text  # the heading path or the lines

    library.rename_collection(docs.id, "Home")
    assert library.collections()[0].name == "Home"
    states = {f.path.name: f for f in library.files(docs.id)}
    assert states["notes.md"].embedded == states["notes.md"].chunks

    library.delete_collection(docs.id)
    assert library.collections() == []
    assert library.search("warranty") == []


def test_retrieve_whole_or_passages_and_says_when_indexing_is_not_done(
    library: LocalDocumentLibrary, tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "q1.txt").write_text("Revenue grew in the first quarter. " + words(150, "Sales"))
    (folder / "q2.txt").write_text("Costs fell in the second quarter. " + words(150, "Costs"))
    reports = library.create_collection("Reports")
    library.add_paths(reports.id, [folder])
    assert library.wait(HANG_GUARD)

    def count(text: str) -> int:
        return len(text.split())

    whole = library.retrieve("summarize", [reports.id], 100_000, count)
    assert whole.whole and not whole.still_indexing
    some = library.retrieve("did revenue grow", [reports.id], 120, count)
    assert not some.whole and some.passages
    assert some.passages[0].path == folder / "q1.txt"

    library.pause()
    (folder / "q3.txt").write_text("Profit doubled in the third quarter.\n")
    library.add_paths(reports.id, [folder])
    eventually(
        lambda: any(f.path.name == "q3.txt" for f in library.files(reports.id)),
        "the new file is listed",
    )
    waiting = library.retrieve("did revenue grow", [reports.id], 120, count)
    assert waiting.still_indexing and waiting.passages
    assert any("still being indexed" in note for note in waiting.notes)
    assert library.progress().paused
    assert not library.wait(0.5), "paused: not done"
    library.resume()
    assert library.wait(HANG_GUARD)
    assert not library.retrieve("profit", [reports.id], 120, count).still_indexing


def test_removing_paths(library: LocalDocumentLibrary, tmp_path: Path) -> None:
    write_corpus(tmp_path / "a")
    (tmp_path / "single.txt").write_text("A single file about penguins.\n")
    col = library.create_collection("Mixed")
    library.add_paths(col.id, [tmp_path / "a", tmp_path / "single.txt"])
    assert library.wait(HANG_GUARD)

    library.remove_paths(col.id, [tmp_path / "single.txt"])
    assert all(f.path.name != "single.txt" for f in library.files(col.id))
    assert library.collections()[0].roots == (tmp_path / "a",)

    # a file inside a watched folder: kept out, also after the folder's next scan
    library.remove_paths(col.id, [tmp_path / "a" / "notes.md"])
    assert library.wait(HANG_GUARD)
    notes = {f.path.name: f for f in library.files(col.id)}["notes.md"]
    assert notes.state is FileState.SKIPPED and notes.chunks == 0

    def found_notes(query: str) -> bool:
        hits = library.search(query, collection_ids=[col.id])
        return any(h.path.name == "notes.md" for h in hits)

    assert not found_notes("warranty period")
    (tmp_path / "a" / "notes.md").write_text("# Warranty\n\nNow three years.\n")
    library.add_paths(col.id, [])  # any change: a scan
    assert library.wait(HANG_GUARD)
    assert not found_notes("warranty")

    library.add_paths(col.id, [tmp_path / "a" / "notes.md"])  # asked for again: back
    assert library.wait(HANG_GUARD)
    assert found_notes("warranty three years")


def test_two_libraries_on_one_database_share_the_work_through_the_lock(
    tmp_path: Path, embedder: Embedder
) -> None:
    db = tmp_path / "documents.sqlite3"
    write_corpus(tmp_path / "window")
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "todo.txt").write_text("Renew the passport before June.\n")
    window = make(db, embedder)
    cli = make(db, embedder, index=False)
    try:
        eventually(lambda: IndexerLock(db).try_acquire() is False, "the window holds the lock")
        col = window.create_collection("Shared")
        window.add_paths(col.id, [tmp_path / "window"])
        # the CLI records a path; the window's indexer picks it up from the store
        cli.add_paths(col.id, [tmp_path / "cli"])
        assert cli.wait(HANG_GUARD), "the CLI waits for the window's indexer"
        assert window.wait(HANG_GUARD)
        assert {f.path.name for f in cli.files(col.id)} >= {"todo.txt", "notes.md"}
        assert cli.search("passport renewal", collection_ids=[col.id])[0].path.name == ("todo.txt")
        assert cli.progress().idle

        window.close()  # the window quits: the CLI's wait takes the indexing over
        (tmp_path / "cli" / "later.txt").write_text("Water the orchids every Sunday.\n")
        cli.add_paths(col.id, [tmp_path / "cli"])
        assert cli.wait(HANG_GUARD)
        later = {f.path.name: f for f in cli.files(col.id)}["later.txt"]
        assert later.state is FileState.INDEXED and later.embedded == later.chunks
    finally:
        window.close()
        cli.close()


def test_progress_listeners_and_a_streaming_reply(
    library: LocalDocumentLibrary, tmp_path: Path
) -> None:
    seen: list[IndexProgress] = []
    unsubscribe = library.subscribe(seen.append)
    write_corpus(tmp_path / "docs")
    col = library.create_collection("Docs")
    library.set_reply_streaming(True)
    library.add_paths(col.id, [tmp_path / "docs"])
    eventually(lambda: library.progress().yielding, "the library yields")
    library.set_reply_streaming(False)
    assert library.wait(HANG_GUARD)
    # The listener hears from the progress thread a moment after wait() returns (and the
    # first update, before the scan, counts nothing and is "idle" too).
    eventually(
        lambda: bool(seen) and seen[-1].idle and seen[-1].files_total > 0,
        "an idle update with the files counted",
    )
    unsubscribe()
    count = len(seen)
    library.add_paths(col.id, [])
    assert library.wait(HANG_GUARD)
    assert len(seen) == count


def test_a_failing_embedding_model_leaves_keyword_search_working(
    library: LocalDocumentLibrary, tmp_path: Path, embedder: Embedder
) -> None:
    assert library.embedder_name() == "all-MiniLM-L6-v2 (built in)"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("The quarterly budget meeting is on Friday.\n")
    col = library.create_collection("Docs")
    library.add_paths(col.id, [tmp_path / "docs"])
    assert library.wait(HANG_GUARD)

    broken = tmp_path / "broken-embed.gguf"
    broken.write_bytes(b"not a model")

    def factory(path: Path | None) -> Embedder:
        if path is not None:
            raise ValueError(f"{path.name} is not a GGUF file")
        return lend(embedder)(None)

    lib2 = LocalDocumentLibrary(
        tmp_path / "other.sqlite3", factory, embedding_model=broken, config=FAST
    )
    try:
        assert lib2.embedder_name() == "broken-embed"
        c2 = lib2.create_collection("Docs")
        lib2.add_paths(c2.id, [tmp_path / "docs"])
        assert lib2.wait(HANG_GUARD), "done: the embedding problem is reported, not waited on"
        hits = lib2.search("budget meeting")
        assert hits and hits[0].vector_rank is None
        lib2.set_embedding_model(None)
        assert lib2.embedder_name() == "all-MiniLM-L6-v2 (built in)"
        assert lib2.wait(HANG_GUARD)
        assert lib2.progress().chunks_embedded == lib2.progress().chunks_total
    finally:
        lib2.close()


def test_the_library_suggests_a_multilingual_model_for_other_languages(
    library: LocalDocumentLibrary, tmp_path: Path
) -> None:
    ja = tmp_path / "ja"
    ja.mkdir()
    (ja / "guide.txt").write_text(
        "この製品の保証期間は購入日から二年間です。"
        "修理が必要な場合は販売店にご連絡ください。\n" * 12
    )
    en = tmp_path / "en"
    en.mkdir()
    (en / "guide.txt").write_text(words(40, "English"))
    japanese = library.create_collection("Japanese")
    english = library.create_collection("English")
    library.add_paths(japanese.id, [ja])
    library.add_paths(english.id, [en])
    assert library.wait(HANG_GUARD)
    advice = library.suggestion(japanese.id)
    assert advice is not None and MULTILINGUAL_SUGGESTION in advice and "Japanese" in advice
    assert library.suggestion(english.id) is None
    assert library.search("保証期間", collection_ids=[japanese.id])


def test_language_detection() -> None:
    german = "Die Garantie gilt für zwei Jahre und ist nicht übertragbar, auch wenn es " * 20
    russian = "Гарантийный срок составляет два года с даты покупки товара. " * 20
    english = "The warranty is valid for two years and it is not transferable. " * 20
    assert dominant_foreign_language(german) == "German"
    assert dominant_foreign_language(russian) is not None
    assert "Russian" in (dominant_foreign_language(russian) or "")
    assert dominant_foreign_language(english) is None
    assert dominant_foreign_language("kurz") is None


def test_close_ends_every_thread_and_releases_the_lock(tmp_path: Path, embedder: Embedder) -> None:
    db = tmp_path / "documents.sqlite3"
    lib = make(db, embedder, config=IndexerConfig(watch=True))
    write_corpus(tmp_path / "docs")
    col = lib.create_collection("Docs")
    lib.add_paths(col.id, [tmp_path / "docs"])
    eventually(lambda: lib.progress().files_total > 0, "indexing started")
    lib.close()
    lib.close()  # twice is fine

    def ours() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("documents-")]

    eventually(lambda: ours() == [], "the library's threads end")
    lock = IndexerLock(db)
    assert lock.try_acquire(), "the lock is free"
    lock.release()
    with pytest.raises(RuntimeError):
        lib.collections()


def test_limits_from_settings() -> None:
    assert limits_from_settings(5).max_file_bytes == 5 * 1024 * 1024
    assert limits_from_settings(0).max_file_bytes == 1024 * 1024
