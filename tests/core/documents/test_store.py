"""The documents database on real SQLite files: schema and pragmas, collections, roots,
files and their states, content replaced in one transaction (SIGKILL in the middle of
it), keyword search for questions in several scripts, vectors searched with numpy."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from desktopchat.core.documents.types import Anchor, ChunkText, FileState
from desktopchat.core.errors import StorageCorruptError, StorageTooNewError
from desktopchat.core.paths import AppPaths
from desktopchat.core.storage.database import move_aside
from desktopchat.core.storage.documents import DocumentStore
from desktopchat.core.storage.documents.schema import SCHEMA_VERSION


def chunked(text: str, size: int = 200, tokens: int = 50) -> list[ChunkText]:
    """Chunks of ``size`` characters with their spans, anchors and token counts."""
    return [
        ChunkText(
            ordinal=n,
            text=text[at : at + size],
            anchor=Anchor(page=n + 1, headings=("Guide", f"Part {n}"), line_start=n + 1),
            tokens=tokens,
            start=at,
            end=min(len(text), at + size),
        )
        for n, at in enumerate(range(0, len(text), size))
    ]


def add_text(
    store: DocumentStore, collection_id: int, name: str, text: str, size: int = 200
) -> int:
    file = store.upsert_file(collection_id, Path("/docs") / name, len(text), 1)
    assert store.replace_file_content(
        file.id, sha256=f"sha-{name}", format="text", text=text, chunks=chunked(text, size)
    )
    return file.id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocumentStore]:
    s = DocumentStore.open(tmp_path / "documents.sqlite3")
    yield s
    s.close()


def consistency(path: Path) -> dict[str, int]:
    """Counts that must join up, read with a plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        q = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "integrity": int(q("PRAGMA integrity_check") == "ok"),
            "fts_integrity": int(
                conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
                is not None
            ),
            "chunks": q("SELECT count(*) FROM chunks"),
            "fts_rows": q("SELECT count(*) FROM chunks_fts"),
            "fts_without_chunk": q(
                "SELECT count(*) FROM chunks_fts WHERE rowid NOT IN (SELECT id FROM chunks)"
            ),
            "chunks_without_file": q(
                "SELECT count(*) FROM chunks WHERE file_id NOT IN (SELECT id FROM files)"
            ),
            "vectors_without_chunk": q(
                "SELECT count(*) FROM vectors WHERE chunk_id NOT IN (SELECT id FROM chunks)"
            ),
            "chunk_count_wrong": q(
                "SELECT count(*) FROM files f WHERE chunk_count !="
                " (SELECT count(*) FROM chunks c WHERE c.file_id = f.id)"
            ),
            "indexed_without_text": q(
                "SELECT count(*) FROM files WHERE state = 'indexed'"
                " AND id NOT IN (SELECT file_id FROM texts)"
            ),
        }
    finally:
        conn.close()


# -- the file ---------------------------------------------------------------------------


def test_pragmas_schema_and_its_own_file(tmp_path: Path, store: DocumentStore) -> None:
    assert AppPaths.under(tmp_path).documents_database.name == "documents.sqlite3"
    assert AppPaths.under(tmp_path).documents_database != AppPaths.under(tmp_path).database
    assert store.pragmas() == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "trusted_schema": 0,
        "secure_delete": 1,
    }
    assert store.user_version() == SCHEMA_VERSION
    store.close()
    again = DocumentStore.open(store.path, check=True)  # reopening migrates nothing
    assert again.user_version() == SCHEMA_VERSION
    again.close()
    assert not (tmp_path / "backups").exists()


def test_newer_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "documents.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StorageTooNewError, match=r"documents database .* newer DesktopChat"):
        DocumentStore.open(path)
    assert path.read_bytes() == before


def test_damaged_file_is_reported_and_can_be_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "documents.sqlite3"
    path.write_bytes(b"not a database at all " * 200)
    before = path.read_bytes()
    with pytest.raises(StorageCorruptError, match="documents database"):
        DocumentStore.open(path)
    assert path.read_bytes() == before
    aside = move_aside(path)
    assert aside.read_bytes() == before
    DocumentStore.open(path).close()


def test_a_damaged_page_fails_the_check(tmp_path: Path) -> None:
    path = tmp_path / "documents.sqlite3"
    store = DocumentStore.open(path)
    c = store.create_collection("Notes")
    for i in range(40):
        add_text(store, c.id, f"{i}.txt", f"page {i} " * 400)
    store.checkpoint()
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for at in range(2 * page, min(len(data), 12 * page), page):
        data[at : at + 12] = b"\x07" + b"\xff" * 11  # no b-tree page starts like this
    path.write_bytes(bytes(data))
    with pytest.raises(StorageCorruptError):
        DocumentStore.open(path, check=True)


# -- collections and roots --------------------------------------------------------------


def test_collections_are_named_uniquely(store: DocumentStore) -> None:
    work = store.create_collection("  Work   papers ")
    assert work.name == "Work papers"
    with pytest.raises(ValueError, match="already a collection"):
        store.create_collection("WORK PAPERS")
    with pytest.raises(ValueError, match="needs a name"):
        store.create_collection(" \n\t")
    with pytest.raises(ValueError, match="at most"):
        store.create_collection("x" * 201)
    home = store.create_collection("Home \ud800")  # a lone surrogate cannot be stored
    assert home.name == "Home \ufffd"
    with pytest.raises(ValueError, match="already a collection"):
        store.rename_collection(home.id, "work papers")
    store.rename_collection(home.id, "Household")
    assert [c.name for c in store.collections()] == ["Household", "Work papers"]
    named = store.collection_named("household")
    assert named is not None and named.id == home.id
    store.delete_collection(work.id)
    assert store.collection(work.id) is None
    assert [c.name for c in store.collections()] == ["Household"]


def test_roots_and_removing_a_root_removes_its_files(store: DocumentStore) -> None:
    c = store.create_collection("Projects")
    odd = Path(os.fsdecode(b"/data/caf\xe9-latin1"))  # not UTF-8: kept byte for byte
    for root in (Path("/data/a"), Path("/data/a/b"), odd, Path("/data/a")):
        store.add_root(c.id, root)
    collection = store.collection(c.id)
    assert collection is not None
    assert collection.roots == (Path("/data/a"), Path("/data/a/b"), odd)
    names = ["/data/a/x.txt", "/data/a/b/y.txt", "/data/ab/z.txt", str(odd / "w.txt")]
    for name in names:
        file = store.upsert_file(c.id, Path(name), 10, 1)
        store.replace_file_content(
            file.id, sha256="s", format="text", text=name, chunks=chunked(name)
        )
    store.remove_root(c.id, Path("/data/a/b"))  # still covered by /data/a
    assert len(store.files(c.id)) == 4
    store.remove_root(c.id, Path("/data/a"))
    assert sorted(str(f.path) for f in store.files(c.id)) == sorted(
        ["/data/ab/z.txt", str(odd / "w.txt")]
    )
    store.remove_root(c.id, odd)
    assert [str(f.path) for f in store.files(c.id)] == ["/data/ab/z.txt"]
    with pytest.raises(ValueError, match="no collection"):
        store.add_root(999, Path("/nowhere"))
    assert consistency(store.path)["fts_without_chunk"] == 0


# -- files and their content ------------------------------------------------------------


def test_file_states_follow_size_and_mtime(store: DocumentStore) -> None:
    c = store.create_collection("Docs")
    path = Path("/docs/manual.txt")
    new = store.upsert_file(c.id, path, 100, 5)
    assert new.state == FileState.WAITING and new.chunks == 0
    store.set_file_state(new.id, FileState.INDEXING)
    text = "The warranty period is two years. " * 20
    store.replace_file_content(
        new.id, sha256="abc", format="text", text=text, chunks=chunked(text), size=101, mtime_ns=6
    )
    indexed = store.file(new.id)
    assert indexed is not None
    assert (indexed.state, indexed.sha256, indexed.format, indexed.chunks) == (
        FileState.INDEXED,
        "abc",
        "text",
        4,
    )
    assert (indexed.size, indexed.mtime_ns) == (101, 6)
    assert store.upsert_file(c.id, path, 101, 6).state == FileState.INDEXED  # unchanged
    changed = store.upsert_file(c.id, path, 101, 7)
    assert changed.state == FileState.WAITING and changed.id == new.id
    assert store.keyword_search("warranty")  # the old content is searchable meanwhile
    store.mark_unchanged(new.id, 101, 7)  # its hash matched
    after = store.file(new.id)
    assert after is not None and after.state == FileState.INDEXED and after.chunks == 4
    failed = store.upsert_file(c.id, Path("/docs/broken.pdf"), 5, 5)
    store.set_file_state(failed.id, FileState.FAILED, "damaged PDF")
    again = store.upsert_file(c.id, Path("/docs/broken.pdf"), 5, 5)
    assert (again.state, again.reason) == (FileState.FAILED, "damaged PDF")
    queue = store.files_in_state([FileState.WAITING, FileState.FAILED], limit=10)
    assert [f.id for f in queue] == [failed.id]
    counts = store.counts()
    assert (counts.files_total, counts.files_done, counts.files_failed) == (2, 2, 1)
    assert counts.chunks_total == 4 and counts.bytes_total == 106


def test_content_is_replaced_whole(store: DocumentStore) -> None:
    c = store.create_collection("Docs")
    old = "Chapter one. Otters hold hands while sleeping.\n" * 30
    file_id = add_text(store, c.id, "otters.txt", old)
    first = store.chunks_of_file(file_id)
    assert [p.ordinal for p in first] == list(range(len(first)))
    assert all(old[p.start : p.end] == p.text for p in first)
    assert first[1].anchor == Anchor(page=2, headings=("Guide", "Part 1"), line_start=2)
    assert store.file_text(file_id) == old
    new = "Chapter two. Beavers build dams across rivers.\n" * 10
    store.replace_file_content(file_id, sha256="2", format="text", text=new, chunks=chunked(new))
    second = store.chunks_of_file(file_id)
    assert store.file_text(file_id) == new
    assert {p.chunk_id for p in first}.isdisjoint(p.chunk_id for p in second)
    old_ids = {p.chunk_id for p in first}
    assert old_ids.isdisjoint(h.chunk_id for h in store.keyword_search("otters sleeping"))
    assert not store.keyword_search("sleeping")  # the old text is gone from the index
    assert {p.chunk_id for p in store.keyword_search("beavers")} == {p.chunk_id for p in second}
    assert store.total_tokens([c.id]) == 50 * len(second)
    store.remove_file(file_id)
    assert store.file(file_id) is None and store.chunk(second[0].chunk_id) is None
    assert not store.replace_file_content(
        file_id, sha256="3", format="text", text=new, chunks=chunked(new)
    )
    counts = consistency(store.path)
    assert counts["chunks"] == counts["fts_rows"] == 0


def test_nul_and_surrogates_are_stored_character_for_character(store: DocumentStore) -> None:
    c = store.create_collection("Odd")
    text = "before\x00after \udc80 tail words here"
    file_id = add_text(store, c.id, "odd.txt", text, size=12)
    stored = store.file_text(file_id)
    assert stored == "before after \ufffd tail words here" and len(stored) == len(text)
    assert [p.text for p in store.chunks_of_file(file_id)] == [
        stored[0:12],
        stored[12:24],
        stored[24:],
    ]
    assert store.keyword_search("after")


CRASH_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from desktopchat.core.storage.documents import DocumentStore
    from tests.core.documents.test_store import chunked

    store = DocumentStore.open(Path(sys.argv[1]))
    ids = [int(i) for i in sys.argv[2].split(",")]
    round = 0
    while True:
        round += 1
        for n, file_id in enumerate(ids):
            text = " ".join(f"new{round}x{n}w{k}" for k in range(40 + (round * 7 + n) % 300))
            store.replace_file_content(
                file_id, sha256=f"new-{round}", format="text", text=text,
                chunks=chunked(text, 90 + n),
            )
            store.put_vectors("m", 4, [(p.chunk_id, [1.0, n, round, 1.0])
                                       for p in store.chunks_of_file(file_id)[:3]])
            if round == 1 and n == 5:
                print("writing", flush=True)
    """
)


def test_sigkill_while_writing_leaves_each_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "documents.sqlite3"
    store = DocumentStore.open(path)
    c = store.create_collection("Crash")
    ids = [add_text(store, c.id, f"{n}.txt", f"old{n} " * 200, size=64) for n in range(30)]
    store.close()
    root = Path(__file__).resolve().parents[3]
    with subprocess.Popen(
        [sys.executable, "-c", CRASH_WRITER, str(path), ",".join(map(str, ids))],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
        time.sleep(0.5)  # somewhere in the middle of a later round
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)

    counts = consistency(path)
    assert counts["integrity"] == 1
    assert {k: v for k, v in counts.items() if k not in ("integrity", "chunks", "fts_rows")} == {
        "fts_integrity": 1,
        "fts_without_chunk": 0,
        "chunks_without_file": 0,
        "vectors_without_chunk": 0,
        "chunk_count_wrong": 0,
        "indexed_without_text": 0,
    }
    assert counts["chunks"] == counts["fts_rows"]
    store = DocumentStore.open(path, check=True)
    versions = set()
    for file_id in ids:
        file = store.file(file_id)
        assert file is not None and file.state == FileState.INDEXED
        text = store.file_text(file_id)
        chunks = store.chunks_of_file(file_id)
        assert "".join(p.text for p in chunks) == text  # the chunks are of this very text
        version = file.sha256
        versions.add(version)
        n = ids.index(file_id)
        if version == "sha-" + f"{n}.txt":
            assert text == f"old{n} " * 200
        else:
            round = int(version.removeprefix("new-"))
            assert text.startswith(f"new{round}x{n}w0 ")
    assert len(versions) > 1  # the kill came mid-way, not before or after everything
    store.close()


# -- keyword search ---------------------------------------------------------------------


def test_a_question_finds_its_words_and_stopwords_do_not_dominate(store: DocumentStore) -> None:
    c = store.create_collection("Manuals")
    filler = [
        "What is the answer? What is the time? It is what it is, and that is the way it is.",
        "Where is the station and what is the fare? The fare is what the sign says it is.",
        "Is it the one? What is it for? It is for the people who ask what it is.",
    ]
    ids = [add_text(store, c.id, f"filler{i}.txt", t, size=1000) for i, t in enumerate(filler)]
    target = add_text(
        store,
        c.id,
        "warranty.txt",
        "Returns and repairs. The warranty period for the device lasts twenty-four months.",
        size=1000,
    )
    only_one = add_text(
        store, c.id, "period.txt", "A period of rain followed the warranty claim.", size=1000
    )
    hits = store.keyword_search("What is the warranty period?")
    assert [h.file_id for h in hits][:2] == [target, only_one]  # the phrase ranks first
    assert all(h.file_id not in ids for h in hits)  # "what is the" finds nothing by itself
    assert hits[0].keyword_rank == 1 and hits[0].keyword_score is not None
    assert hits[0].score == -hits[0].keyword_score
    assert hits[0].path == Path("/docs/warranty.txt")
    # a question of nothing but stopwords still asks for them
    assert {h.file_id for h in store.keyword_search("what is it")} >= set(ids)
    assert store.keyword_search('"quotes" AND (operators) NEAR warranty* -')  # not interpreted
    assert store.keyword_search("?!") == []


def test_words_are_found_inside_unspaced_scripts(store: DocumentStore) -> None:
    c = store.create_collection("Languages")
    ja = add_text(store, c.id, "ja.txt", "東京の天気について教えてください。明日は晴れです。")
    zh = add_text(store, c.id, "zh.txt", "我们明天去北京参观故宫博物院。")
    th = add_text(store, c.id, "th.txt", "ประเทศไทยมีอาหารอร่อยมากมาย")
    de = add_text(store, c.id, "de.txt", "Die Gewährleistungsfrist beträgt zwei Jahre.")
    assert store.keyword_search("天気")[0].file_id == ja
    assert store.keyword_search("明日の天気は？")[0].file_id == ja
    assert store.keyword_search("故宫在哪里")[0].file_id == zh
    assert store.keyword_search("อาหาร")[0].file_id == th
    assert store.keyword_search("Wie lange ist die Gewährleistungsfrist?")[0].file_id == de
    assert store.keyword_search("gewahrleistungsfrist")[0].file_id == de  # accents folded


def test_keyword_search_in_some_collections_or_files(store: DocumentStore) -> None:
    a = store.create_collection("A")
    b = store.create_collection("B")
    in_a = add_text(store, a.id, "a.txt", "Llamas graze on the high plains.")
    in_b = [
        add_text(store, b.id, f"b{i}.txt", "Llamas llamas llamas everywhere.") for i in range(30)
    ]
    assert [h.file_id for h in store.keyword_search("llamas", [a.id], limit=5)] == [in_a]
    assert len(store.keyword_search("llamas", [b.id], limit=5)) == 5
    assert len(store.keyword_search("llamas", None, limit=50)) == 31
    assert store.keyword_search("llamas", []) == []
    found = store.keyword_search("llamas", file_ids=[in_b[3], in_a])
    assert {h.file_id for h in found} == {in_b[3], in_a}


# -- vectors ----------------------------------------------------------------------------


def unit(rng: np.random.Generator, n: int, d: int) -> npt.NDArray[np.float32]:
    v = rng.standard_normal((n, d)).astype(np.float32)
    out: npt.NDArray[np.float32] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def text_of(store: DocumentStore, chunk_id: int) -> str:
    passage = store.chunk(chunk_id)
    assert passage is not None
    return passage.text


def embed_all(store: DocumentStore, model: str, vectors: dict[int, np.ndarray]) -> None:
    pending = store.chunks_needing_vectors(model, 1000)
    store.put_vectors(model, 16, [(i, vectors[i].tolist()) for i, _ in pending])


def test_vector_search_finds_known_neighbours(store: DocumentStore) -> None:
    rng = np.random.default_rng(7)
    a = store.create_collection("A")
    b = store.create_collection("B")
    files = [
        add_text(store, (a if i % 2 else b).id, f"{i}.txt", f"text {i} " * 60) for i in range(20)
    ]
    chunk_ids = [p.chunk_id for f in files for p in store.chunks_of_file(f)]
    base = dict(zip(chunk_ids, unit(rng, len(chunk_ids), 16), strict=True))
    assert store.vector_search("m", [1.0] * 16) == []  # nothing embedded yet
    # batches that start where the last one ended
    first = store.chunks_needing_vectors("m", 10)
    second = store.chunks_needing_vectors("m", 10, after=first[-1][0])
    assert [i for i, _ in first + second] == chunk_ids[:20]
    assert first[0][1] == text_of(store, first[0][0])
    assert store.put_vectors("m", 16, [(i, base[i]) for i, _ in first]) == 10
    assert store.put_vectors("m", 16, [(i, base[i]) for i, _ in first]) == 0  # already there
    assert store.count_vectors("m") == 10
    target = first[3][0]
    near = base[target] + 0.05 * unit(rng, 1, 16)[0]
    hits = store.vector_search("m", near.tolist(), limit=3)
    assert hits[0].chunk_id == target and hits[0].vector_rank == 1
    assert hits[0].vector_score == pytest.approx(
        float(base[target] @ near / np.linalg.norm(near)), abs=1e-5
    )
    # the rest arrive: the in-memory index takes the new rows on the next search
    embed_all(store, "m", base)
    assert store.vector_index_size("m") == len(chunk_ids)
    last = chunk_ids[-1]
    assert store.vector_search("m", base[last].tolist(), limit=1)[0].chunk_id == last
    # limited to a collection: the best of that collection, never one of another
    in_a = {p.chunk_id for f in files[1::2] for p in store.chunks_of_file(f)}
    hits = store.vector_search("m", base[last].tolist(), [a.id], limit=len(chunk_ids))
    assert {h.chunk_id for h in hits} == in_a
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    expected = max(in_a, key=lambda i: float(base[i] @ base[last]))
    assert hits[0].chunk_id == expected
    one_file = store.vector_search("m", base[last].tolist(), file_ids=[files[0]], limit=50)
    assert {h.file_id for h in one_file} == {files[0]}
    counts = store.counts("m", [a.id])
    assert counts.chunks_embedded == len(in_a)
    assert sum(f.embedded for f in store.files(a.id, "m")) == len(in_a)


def test_changed_and_removed_chunks_never_return_stale_vectors(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "documents.sqlite3"
    writer = DocumentStore.open(path)
    reader = DocumentStore.open(path)  # another thread's connection, its own index
    c = writer.create_collection("C")
    files = [add_text(writer, c.id, f"{i}.txt", f"words {i} " * 50) for i in range(6)]
    ids = [p.chunk_id for f in files for p in writer.chunks_of_file(f)]
    base = dict(zip(ids, unit(rng, len(ids), 16), strict=True))
    embed_all(writer, "m", base)
    victim = writer.chunks_of_file(files[2])[0]
    assert reader.vector_search("m", base[victim.chunk_id].tolist(), limit=1)[0].chunk_id == (
        victim.chunk_id
    )
    loaded = reader.vector_index_size("m")
    # the file changes: its old chunks (and their vectors) go, new ones come
    text = "entirely new words " * 30
    writer.replace_file_content(
        files[2], sha256="n", format="text", text=text, chunks=chunked(text)
    )
    writer.remove_file(files[4])
    hits = reader.vector_search("m", base[victim.chunk_id].tolist(), limit=len(ids))
    live = {p.chunk_id for f in files for p in writer.chunks_of_file(f)}
    gone = {victim.chunk_id} | {i for i in ids if i not in live}
    assert gone.isdisjoint(h.chunk_id for h in hits)
    assert reader.vector_index_size("m") < loaded
    assert reader.vector_index_size("m") == writer.count_vectors("m")
    # the new chunks get vectors and are found
    new = writer.chunks_needing_vectors("m", 100)
    fresh = unit(rng, len(new), 16)
    writer.put_vectors("m", 16, [(i, v) for (i, _), v in zip(new, fresh, strict=True)])
    assert reader.vector_search("m", fresh[0].tolist(), limit=1)[0].chunk_id == new[0][0]
    # a vector for a chunk removed meanwhile is passed over
    assert writer.put_vectors("m", 16, [(victim.chunk_id, base[victim.chunk_id])]) == 0
    assert consistency(path)["vectors_without_chunk"] == 0
    writer.close()
    reader.close()


def test_models_and_dimensions_are_never_mixed(store: DocumentStore) -> None:
    c = store.create_collection("C")
    file_id = add_text(store, c.id, "a.txt", "alpha beta gamma " * 40)
    ids = [p.chunk_id for p in store.chunks_of_file(file_id)]
    store.put_vectors("small", 4, [(i, [1.0, 0.0, 0.0, float(n)]) for n, i in enumerate(ids)])
    with pytest.raises(ValueError, match="4-dimensional"):
        store.put_vectors("small", 8, [(ids[0], [1.0] * 8)])
    with pytest.raises(ValueError, match="not 4"):
        store.put_vectors("small", 4, [(ids[0], [1.0] * 3)])
    with pytest.raises(ValueError, match="finite"):
        store.put_vectors("small", 4, [(ids[0], [1.0, float("nan"), 0.0, 0.0])])
    with pytest.raises(ValueError, match="not 4"):
        store.vector_search("small", [1.0] * 8)
    assert store.vector_search("large", [1.0] * 8) == []
    assert store.chunks_needing_vectors("large", 100) == [(i, text_of(store, i)) for i in ids]
    store.put_vectors("large", 8, [(i, [float(n + 1)] + [0.0] * 7) for n, i in enumerate(ids)])
    assert store.count_vectors("small") == store.count_vectors("large") == len(ids)
    assert store.vector_search("small", [0.0, 0.0, 0.0, 1.0], limit=1)[0].chunk_id == ids[-1]
    assert store.embedding_models() == [("large", 8, len(ids)), ("small", 4, len(ids))]
    store.drop_vectors("small")  # another embedder was chosen
    assert store.count_vectors("small") == 0 and store.vector_search("small", [1.0] * 4) == []
    store.put_vectors("small", 6, [(ids[0], [1.0] * 6)])  # a new model of that name
    assert store.dimensions("small") == 6
    assert [h.chunk_id for h in store.vector_search("small", [1.0] * 6)] == [ids[0]]
    assert len(store.vector_search("large", [1.0] + [0.0] * 7, limit=100)) == len(ids)


def test_the_commonest_words_of_a_large_collection_are_left_out(
    store: DocumentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A question asks for its rarest words while they are in at most KEYWORD_POSTINGS
    chunks together (here 10); a word in more chunks than that alone is ranked within
    its newest matches."""
    monkeypatch.setattr("desktopchat.core.storage.documents.store.KEYWORD_POSTINGS", 10)
    c = store.create_collection("Big")
    common = [add_text(store, c.id, f"c{i}.txt", f"function number {i} here") for i in range(30)]
    rare = add_text(store, c.id, "rare.txt", "a function that raises a walrus error")
    hits = store.keyword_search("which function raises walrus", limit=50)
    assert [h.file_id for h in hits] == [rare]  # "function" (31 chunks) is not asked for
    alone = store.keyword_search("function", limit=50)
    assert 0 < len(alone) <= 10
    assert {h.file_id for h in alone} <= {rare, *common}
    assert [h.file_id for h in store.keyword_search("function", [c.id], limit=3)]


def test_the_terms_of_a_question() -> None:
    from desktopchat.core.storage.fulltext import question_terms

    terms = question_terms("What is the warranty period? Period, warranty: how long?")
    assert terms.words == ("warranty", "period", "long")
    assert terms.pairs == (("warranty", "period"),)  # never across punctuation
    assert question_terms("what is it").words == ("what", "is", "it")  # nothing else
    assert question_terms("Où est la gare?").words == ("gare",)  # accents folded: "ou"
    ja = question_terms("天気は")
    assert len(ja.grams) == 2 and len(ja.runs) == 1 and not ja.words
    assert ja.tokens() == list(ja.grams)
    assert not question_terms("?!") and question_terms("?!").match() == ""
    only = question_terms("warranty period").match("text", "grams", {"period"})
    assert only == '{text grams} : "period"'


def test_a_file_of_schema_1_is_migrated_with_its_search_index(tmp_path: Path) -> None:
    from desktopchat.core.storage.documents.schema import MIGRATIONS

    path = tmp_path / "documents.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version=1;")
    conn.execute("INSERT INTO collections VALUES (1, 'Old', 'old', 0)")
    conn.execute(
        "INSERT INTO files (id, collection_id, path, state, updated_at, chunk_count)"
        " VALUES (1, 1, X'2F612E747874', 'indexed', 0, 1)"
    )
    conn.execute(
        "INSERT INTO chunks (id, file_id, ordinal, span_start, span_end, tokens)"
        " VALUES (1, 1, 0, 0, 9, 2)"
    )
    conn.execute("INSERT INTO chunks_fts (rowid, text, grams) VALUES (1, 'old otter', '')")
    conn.close()
    store = DocumentStore.open(path)
    assert store.user_version() == SCHEMA_VERSION
    assert [h.chunk_id for h in store.keyword_search("otter")] == [1]
    fresh = add_text(store, 1, "Beaver dams.md", "Rivers and lakes.")
    assert [h.file_id for h in store.keyword_search("beaver")] == [fresh]  # its file name
    store.close()
