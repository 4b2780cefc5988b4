"""SIGKILL during indexing, then a restart: the indexer (in a child process, on a real
folder, with the real embedder) continues where it stopped, and the database ends with
each file's chunks exactly once, a vector for every chunk and no orphans."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktopchat.core.documents.chunking import chunk
from desktopchat.core.documents.indexer import IndexerConfig
from desktopchat.core.documents.parsers import extract
from tests.core.documents.indexing_helpers import HANG_GUARD

CHILD = textwrap.dedent(
    """
    import os
    import signal
    import sys
    from pathlib import Path
    from desktopchat.core.documents.indexer import IndexerConfig
    from desktopchat.core.documents.library import LocalDocumentLibrary
    from desktopchat.core.inference.llama.embedding import LlamaEmbedder

    db, folder, model = (Path(a) for a in sys.argv[1:4])
    what, _, at = sys.argv[4].partition(":")  # "files:N" / "vectors:N": SIGKILL itself there
    library = LocalDocumentLibrary(
        db,
        lambda path: LlamaEmbedder(model, n_threads=2),
        config=IndexerConfig(watch=False, embed_batch=8),
    )
    names = {c.name: c for c in library.collections()}
    collection = names.get("Crash") or library.create_collection("Crash")

    def kill_midway(progress):
        done = progress.files_done if what == "files" else progress.chunks_embedded
        if what != "finish" and done >= int(at) and not progress.idle:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind runs

    library.subscribe(kill_midway)
    library.add_paths(collection.id, [folder])
    print("indexing", flush=True)
    ok = library.wait(600)
    library.close()
    print("done" if ok else "timeout", flush=True)
    """
)


def start(db: Path, folder: Path, model: Path, kill_at: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(folder), str(model), kill_at],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )


def killed(child: subprocess.Popen[str]) -> None:
    """The child SIGKILLed itself mid-way (from a progress listener: no cleanup ran)."""
    out, _ = child.communicate(timeout=HANG_GUARD * 4)
    assert child.returncode == -signal.SIGKILL, (child.returncode, out)


@pytest.mark.timeout(600)
def test_sigkill_mid_indexing_then_restart_leaves_each_chunk_once(
    tmp_path: Path, embedder_model: Path
) -> None:
    folder = tmp_path / "corpus"
    expected_files = 90
    for i in range(expected_files):
        sub = folder / f"part{i % 6}"
        sub.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(
            f"Paragraph {p} of report {i}: the harbour authority measured the tide, "
            f"counted {i * p} boats and logged the weather for section {p}."
            for p in range(3 + i % 7)
        )
        (sub / f"report{i:03}.md").write_text(f"# Report {i}\n\n{body}\n", encoding="utf-8")
    db = tmp_path / "documents.sqlite3"

    # SIGKILL while the files are being read, then while the vectors fill in
    killed(start(db, folder, embedder_model, "files:5"))
    conn = sqlite3.connect(db)
    try:
        indexed = conn.execute("SELECT count(*) FROM files WHERE state = 'indexed'").fetchone()
        assert indexed[0] >= 5, "killed after some files were indexed"
    finally:
        conn.close()
    killed(start(db, folder, embedder_model, "vectors:40"))
    conn = sqlite3.connect(db)
    try:
        vectors = conn.execute("SELECT count(*) FROM vectors").fetchone()[0]
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        assert 40 <= vectors <= chunks, "killed while the vectors filled in"
    finally:
        conn.close()
    last = start(db, folder, embedder_model, "finish")
    out, _ = last.communicate(timeout=600)
    assert last.returncode == 0 and out.split()[-1] == "done", out

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = conn.execute("SELECT id, path, state, chunk_count FROM files").fetchall()
        assert len(rows) == expected_files
        assert {r[2] for r in rows} == {"indexed"}
        config = IndexerConfig()
        for file_id, path, _, chunk_count in rows:
            ordinals = [
                r[0]
                for r in conn.execute(
                    "SELECT ordinal FROM chunks WHERE file_id = ? ORDER BY ordinal", (file_id,)
                )
            ]
            fresh = chunk(
                extract(Path(os.fsdecode(path))),
                budget_tokens=config.chunk_tokens,
                overlap_tokens=config.overlap_tokens,
            )
            assert ordinals == list(range(len(fresh))) == list(range(chunk_count)), path
        chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0] == chunks
        vectors = conn.execute("SELECT count(*), count(DISTINCT chunk_id) FROM vectors")
        assert vectors.fetchone() == (chunks, chunks)
        orphans = conn.execute(
            "SELECT count(*) FROM vectors v LEFT JOIN chunks c ON c.id = v.chunk_id"
            " WHERE c.id IS NULL"
        ).fetchone()[0]
        assert orphans == 0
        assert (
            conn.execute(
                "SELECT count(*) FROM texts t LEFT JOIN files f ON f.id = t.file_id"
                " WHERE f.id IS NULL"
            ).fetchone()[0]
            == 0
        )
    finally:
        conn.close()
