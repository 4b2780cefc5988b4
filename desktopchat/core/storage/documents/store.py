"""``DocumentStore``: the documents database, one connection per thread.

Collections and their roots, files and their states, each file's extracted text and
chunks (with their FTS5 rows), the chunks' vectors per embedding model, keyword search
(BM25 over any of the question's words) and vector search (numpy over an in-memory matrix
that is extended as vectors arrive).

The file is separate from the chat database (AppPaths.documents_database). Pragmas as for
the conversations, except ``synchronous=NORMAL``: in WAL mode that still never corrupts
the file, and a power cut can lose only the last commits, which are derived data the
indexer writes again (their files go back to *waiting*); FULL would add an fsync to every
one of the indexer's many small commits. ``secure_delete=ON``: deleted text is
overwritten, and removing a file's text (deleting a collection, a root or one file, or
emptying a file) also purges its words from the search index and truncates the WAL, so no
copy of its text is left in the files. FTS5 keeps a deleted row's words in its old index
segments until they merge: with SQLite 3.42 and later the index's ``secure-delete`` option
removes them at once; with older versions the purge merges the whole index ('optimize',
about a second per 10 MB of indexed text), so a batch of files is removed with
``remove_files`` and one merge, and what the indexer removes on its own (files deleted from
a watched folder, the user's files emptied) is only marked (``purge_pending``): the indexer
runs ``purge_index`` when it has nothing else to do, at most every few minutes. No
backup is taken before a migration: the content is derived from the user's files and a
backup would keep text the user later deletes; a migration runs in one transaction and a
failed one changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Collection as Many
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from desktopchat.core.chat import clean_text
from desktopchat.core.documents.types import (
    Anchor,
    ChunkText,
    Collection,
    DocumentFile,
    FileState,
    Passage,
)
from desktopchat.core.storage.database import BUSY_TIMEOUT_MS, SqliteFile
from desktopchat.core.storage.documents.schema import MIGRATIONS
from desktopchat.core.storage.documents.vectors import VectorIndex, as_unit_vector
from desktopchat.core.storage.fulltext import index_text, question_terms

NAME_LIMIT = 200  # characters in a collection's name
# The keyword search asks for a question's rarest terms while together they are in at
# most this many chunks (see _question_match).
KEYWORD_POSTINGS = 12_000
# BM25 with the columns' weights: the text, its bigrams, the context (file name, folder,
# headings: in every chunk of a file, so it weighs less).
RANK = "bm25(chunks_fts, 1.0, 1.0, 1.0)"
_PURGE_PENDING = "fts_purge_pending"  # counters: 1 while removed words may be in the index
# FTS5's 'secure-delete' option (SQLite 3.42): a deleted row's words leave the index's
# segments as it is deleted. Without it they stay until a merge (see the docstring).
FTS_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 42, 0)
_NUL = re.compile("\x00")
_CHUNK_COLUMNS = (
    "c.id, c.file_id, f.collection_id, f.path, c.ordinal, c.span_start, c.span_end,"
    " c.page, c.headings, c.line_start, c.line_end"
)
_BATCH = 500  # ids per IN (...) list
_LOAD_PAGE = 4096  # vectors read at a time into the in-memory index


@dataclass(frozen=True)
class StoreCounts:
    """How far indexing has got, in numbers the database knows (for IndexProgress)."""

    files_total: int = 0
    files_done: int = 0  # indexed, failed or skipped
    files_failed: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0  # chunks with a vector of the model asked about


def clean_document_text(text: str) -> str:
    """Safe to store and index, character for character (spans stay valid): lone
    surrogates become U+FFFD and NUL becomes a space (FTS5 and SQL string functions stop
    at NUL)."""
    return _NUL.sub(" ", clean_text(text))


def _path_key(path: Path) -> bytes:
    return os.fsencode(path)


def _path_of(blob: bytes) -> Path:
    return Path(os.fsdecode(bytes(blob)))


def _clean_name(name: str) -> str:
    return " ".join(clean_text(name).split())


def _chunks_in(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _BATCH):
        yield ids[i : i + _BATCH]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class DocumentStore(SqliteFile):
    """One connection to the documents database; use one instance per thread (each keeps
    its own in-memory vector index)."""

    WHAT = "documents database"
    SYNCHRONOUS = 1  # NORMAL: see the module's docstring
    BACKUP_BEFORE_MIGRATION = False

    def __init__(
        self, path: Path, conn: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        super().__init__(path, conn, busy_timeout_ms)
        self._indexes: dict[int, VectorIndex] = {}
        self._vocabulary = False  # temp.chunks_vocab exists on this connection

    def _migrations(self) -> Sequence[str]:
        return MIGRATIONS

    def _extra_pragmas(self) -> dict[str, tuple[str, object]]:
        return {"secure_delete": ("ON", 1)}

    @classmethod
    def open(
        cls, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, check: bool = False
    ) -> DocumentStore:
        """Open (creating or migrating) the documents database at ``path``. A file from a
        newer DesktopChat raises StorageTooNewError untouched, a damaged one
        StorageCorruptError (move_aside then starts fresh: the content is derived)."""
        store = cls(path, cls._connect(path, busy_timeout_ms), busy_timeout_ms)
        store._prepare(check=check, backup_dir=None)
        if FTS_SECURE_DELETE:
            store._use_fts_secure_delete()
        return store

    def _use_fts_secure_delete(self) -> None:
        """Turn the search index's secure-delete option on (once: it is kept in the
        index's config), and purge the words of rows deleted before it was on."""
        rows = self.query("SELECT v FROM chunks_fts_config WHERE k = 'secure-delete'")
        if rows and rows[0][0] == 1:
            return
        with self.write() as conn:
            conn.execute("INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('secure-delete', 1)")
            conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")

    # -- collections and roots ------------------------------------------------------------

    def create_collection(self, name: str) -> Collection:
        """ValueError with a message for an empty, too long or taken name."""
        name = self._valid_name(name)
        now = time.time()
        try:
            with self.write() as conn:
                cursor = conn.execute(
                    "INSERT INTO collections (name, name_key, created_at) VALUES (?, ?, ?)",
                    (name, name.casefold(), now),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"There is already a collection named “{name}”.") from None
        assert cursor.lastrowid is not None
        return Collection(cursor.lastrowid, name, now)

    def rename_collection(self, collection_id: int, name: str) -> None:
        name = self._valid_name(name)
        try:
            with self.write() as conn:
                conn.execute(
                    "UPDATE collections SET name = ?, name_key = ? WHERE id = ?",
                    (name, name.casefold(), collection_id),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"There is already a collection named “{name}”.") from None

    def delete_collection(self, collection_id: int) -> None:
        """The collection, its files, their text, chunks and vectors: gone from the
        database file and its WAL (overwritten, the search index merged, the WAL
        truncated)."""
        with self.write() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id"
                    " WHERE f.collection_id = ?",
                    (collection_id,),
                )
            ]
            self._delete_fts(conn, ids)
            conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
            self._merge_index(conn)
        self.checkpoint()

    def collections(self) -> list[Collection]:
        roots: dict[int, list[Path]] = {}
        for r in self.query("SELECT collection_id, path FROM roots ORDER BY added_at, path"):
            roots.setdefault(r[0], []).append(_path_of(r[1]))
        return [
            Collection(r[0], r[1], r[2], tuple(roots.get(r[0], ())))
            for r in self.query(
                "SELECT id, name, created_at FROM collections ORDER BY name_key, id"
            )
        ]

    def collection(self, collection_id: int) -> Collection | None:
        return next((c for c in self.collections() if c.id == collection_id), None)

    def collection_named(self, name: str) -> Collection | None:
        """The collection with this name, compared without case."""
        key = _clean_name(name).casefold()
        rows = self.query("SELECT id FROM collections WHERE name_key = ?", (key,))
        return self.collection(rows[0][0]) if rows else None

    def add_root(self, collection_id: int, path: Path) -> None:
        """A file or folder the user added (idempotent). ValueError: no such collection."""
        try:
            with self.write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO roots (collection_id, path, added_at) VALUES (?, ?, ?)",
                    (collection_id, _path_key(path), time.time()),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"There is no collection {collection_id}.") from None

    def remove_root(self, collection_id: int, path: Path) -> None:
        """The root and every file under it that no other root of the collection covers:
        their text, chunks and vectors gone from disk as for delete_collection."""
        with self.write() as conn:
            conn.execute(
                "DELETE FROM roots WHERE collection_id = ? AND path = ?",
                (collection_id, _path_key(path)),
            )
            others = [
                _path_of(r[0])
                for r in conn.execute(
                    "SELECT path FROM roots WHERE collection_id = ?", (collection_id,)
                )
            ]
            doomed = [
                r[0]
                for r in conn.execute(
                    "SELECT id, path FROM files WHERE collection_id = ?", (collection_id,)
                )
                if _under(_path_of(r[1]), path)
                and not any(_under(_path_of(r[1]), o) for o in others)
            ]
            self._delete_files(conn, doomed)
            if doomed:
                self._merge_index(conn)
        if doomed:
            self.checkpoint()

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it; False when a reader kept some
        of it (it is truncated at a later checkpoint)."""
        busy, _, _ = self.query("PRAGMA wal_checkpoint(TRUNCATE)")[0]
        return not busy

    # -- files ----------------------------------------------------------------------------

    def upsert_file(self, collection_id: int, path: Path, size: int, mtime_ns: int) -> DocumentFile:
        """The file's record: new or changed (size or mtime) -> WAITING; unchanged -> as
        it was (an unchanged file is never read again). Its old content stays searchable
        until replace_file_content."""
        key = _path_key(path)
        now = time.time()
        with self.write() as conn:
            row = conn.execute(
                "SELECT id, size, mtime_ns FROM files WHERE collection_id = ? AND path = ?",
                (collection_id, key),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO files (collection_id, path, state, size, mtime_ns, updated_at)"
                    " VALUES (?, ?, 'waiting', ?, ?, ?)",
                    (collection_id, key, size, mtime_ns, now),
                )
            elif (row[1], row[2]) != (size, mtime_ns):
                conn.execute(
                    "UPDATE files SET state = 'waiting', reason = '', size = ?, mtime_ns = ?,"
                    " updated_at = ? WHERE id = ?",
                    (size, mtime_ns, now, row[0]),
                )
        found = self._files("f.collection_id = ? AND f.path = ?", (collection_id, key))
        return found[0]

    def files(self, collection_id: int, model_id: str | None = None) -> list[DocumentFile]:
        """The collection's files by path; ``embedded`` counts vectors of ``model_id``."""
        return self._files("f.collection_id = ?", (collection_id,), model_id)

    def file(self, file_id: int, model_id: str | None = None) -> DocumentFile | None:
        found = self._files("f.id = ?", (file_id,), model_id)
        return found[0] if found else None

    def files_at(self, path: Path) -> list[DocumentFile]:
        """The records of the file at ``path``, in every collection that has it."""
        return self._files("f.path = ?", (_path_key(path),), order="f.id")

    def files_in_state(
        self, states: Sequence[FileState], limit: int = 100, collection_ids: Many[int] | None = None
    ) -> list[DocumentFile]:
        """Files in any of ``states``, oldest record first (the indexer's queue)."""
        where = f"f.state IN ({_marks(len(states))})"
        params: list[object] = [str(s) for s in states]
        if collection_ids is not None:
            where += f" AND f.collection_id IN ({_marks(len(collection_ids))})"
            params += list(collection_ids)
        return self._files(where, params, order="f.id", limit=limit)

    def set_file_state(self, file_id: int, state: FileState, reason: str = "") -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE files SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
                (str(state), clean_text(reason), time.time(), file_id),
            )

    def remove_file(self, file_id: int, *, purge: bool = True) -> None:
        """The file with its text, chunks, FTS rows and vectors, gone from the database
        file and its WAL as for delete_collection. ``purge=False``: its words stay in the
        search index's old segments until ``purge_index`` (the indexer's, when it is idle)."""
        self.remove_files([file_id], purge=purge)

    def remove_files(self, file_ids: Sequence[int], *, purge: bool = True) -> None:
        """remove_file for many files, with one purge of the search index."""
        with self.write() as conn:
            removed = self._delete_files(conn, file_ids)
            if removed:
                self._mark_purge(conn)
        if removed and purge:
            self.purge_index()

    def purge_pending(self) -> bool:
        """Words of removed text may be left in the search index's old segments."""
        rows = self.query("SELECT value FROM counters WHERE name = ?", (_PURGE_PENDING,))
        return bool(rows and rows[0][0])

    def purge_index(self) -> None:
        """No word of removed text left in the search index's pages, the WAL truncated."""
        if not self.purge_pending():
            return
        with self.write() as conn:
            self._merge_index(conn)
            conn.execute("DELETE FROM counters WHERE name = ?", (_PURGE_PENDING,))
        self.checkpoint()

    def replace_file_content(
        self,
        file_id: int,
        *,
        sha256: str,
        format: str,
        text: str,
        chunks: Sequence[ChunkText],
        size: int | None = None,
        mtime_ns: int | None = None,
        purge: bool = True,
    ) -> bool:
        """In ONE transaction: the file's old text, chunks, FTS rows and vectors go, the
        new text (zlib) and chunks come, the state becomes INDEXED (and the stat the
        content was read at, when given). A crash before the commit leaves the old
        content whole. False (nothing stored) when the file was removed meanwhile.
        Emptied (no chunks): its words are purged from the index now, unless ``purge``
        is False (a batch: the caller runs ``purge_index`` after it)."""
        text = clean_document_text(text)
        texts = [clean_document_text(c.text) for c in chunks]
        packed = zlib.compress(text.encode("utf-8"), 6)
        with self.write() as conn:
            row = conn.execute("SELECT path FROM files WHERE id = ?", (file_id,)).fetchone()
            if row is None:
                return False
            path = _path_of(row[0])
            old = [
                r[0] for r in conn.execute("SELECT id FROM chunks WHERE file_id = ?", (file_id,))
            ]
            self._delete_fts(conn, old)
            # emptied (the user removed it from the collection): its words leave the
            # index's pages at purge_index (below, or the caller's after a batch)
            if old and not chunks:
                self._mark_purge(conn)
            conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            conn.execute(
                "INSERT OR REPLACE INTO texts (file_id, text_z, chars) VALUES (?, ?, ?)",
                (file_id, packed, len(text)),
            )
            first = int(
                conn.execute(
                    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'chunks'), 0)"
                ).fetchone()[0]
            )
            ids = range(first + 1, first + 1 + len(chunks))
            conn.executemany(
                "INSERT INTO chunks (id, file_id, ordinal, span_start, span_end, tokens, page,"
                " headings, line_start, line_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i,
                        file_id,
                        c.ordinal,
                        c.start,
                        c.end,
                        c.tokens,
                        c.anchor.page,
                        json.dumps(list(c.anchor.headings), ensure_ascii=False),
                        c.anchor.line_start,
                        c.anchor.line_end,
                    )
                    for i, c in zip(ids, chunks, strict=True)
                ],
            )
            conn.executemany(
                "INSERT INTO chunks_fts (rowid, text, grams, context) VALUES (?, ?, ?, ?)",
                [
                    (i, t, index_text(t), _context(path, c.anchor))
                    for i, t, c in zip(ids, texts, chunks, strict=True)
                ],
            )
            stat = ""
            params: list[object] = [sha256, format, len(chunks), sum(c.tokens for c in chunks)]
            if size is not None and mtime_ns is not None:
                stat = ", size = ?, mtime_ns = ?"
                params += [size, mtime_ns]
            conn.execute(
                "UPDATE files SET state = 'indexed', reason = '', sha256 = ?, format = ?,"
                f" chunk_count = ?, tokens = ?{stat}, updated_at = ? WHERE id = ?",
                (*params, time.time(), file_id),
            )
        if purge and not chunks:
            self.purge_index()
        return True

    def mark_unchanged(self, file_id: int, size: int, mtime_ns: int) -> None:
        """The content hash matched what is stored: only the stat changes, and the file
        is INDEXED again (its text, chunks and vectors are kept)."""
        with self.write() as conn:
            conn.execute(
                "UPDATE files SET size = ?, mtime_ns = ?, reason = '', updated_at = ?,"
                " state = CASE WHEN sha256 != '' THEN 'indexed' ELSE state END WHERE id = ?",
                (size, mtime_ns, time.time(), file_id),
            )

    def file_text(self, file_id: int) -> str:
        """The file's extracted text ("" when it has none yet)."""
        rows = self.query("SELECT text_z FROM texts WHERE file_id = ?", (file_id,))
        return zlib.decompress(rows[0][0]).decode("utf-8") if rows else ""

    def chunk(self, chunk_id: int) -> Passage | None:
        found = self._passages([chunk_id])
        return found.get(chunk_id)

    def chunk_ids(self, file_id: int) -> list[int]:
        """The file's chunk ids in order (without reading their text)."""
        rows = self.query(
            "SELECT id FROM chunks WHERE file_id = ? ORDER BY ordinal, id", (file_id,)
        )
        return [r[0] for r in rows]

    def chunks_of_file(self, file_id: int) -> list[Passage]:
        """The file's chunks in order."""
        ids = self.chunk_ids(file_id)
        found = self._passages(ids)
        return [found[i] for i in ids if i in found]

    def total_tokens(
        self, collection_ids: Many[int] | None = None, file_ids: Many[int] | None = None
    ) -> int:
        """The sum of the chunks' stored token counts (chunks overlap: an upper bound of
        the text's own, in the chunker's tokens)."""
        where, params = _scope(collection_ids, file_ids, "f")
        return int(
            self.query(f"SELECT coalesce(sum(f.tokens), 0) FROM files f{where}", params)[0][0]
        )

    def indexed_files(
        self, collection_ids: Many[int] | None = None, file_ids: Many[int] | None = None
    ) -> list[DocumentFile]:
        """The files with stored content (state INDEXED), by collection and path."""
        where, params = _scope(collection_ids, file_ids, "f")
        where = (where + " AND" if where else " WHERE") + " f.state = 'indexed'"
        return self._files(where.removeprefix(" WHERE "), params, order="f.collection_id, f.path")

    def counts(
        self,
        model_id: str | None = None,
        collection_ids: Many[int] | None = None,
        file_ids: Many[int] | None = None,
    ) -> StoreCounts:
        """Files, bytes and chunks, done and in all, and chunks embedded by ``model_id``."""
        where, params = _scope(collection_ids, file_ids, "f")
        row = self.query(
            "SELECT count(*), coalesce(sum(f.state IN ('indexed', 'failed', 'skipped')), 0),"
            " coalesce(sum(f.state = 'failed'), 0), coalesce(sum(f.size), 0),"
            " coalesce(sum(CASE WHEN f.state IN ('indexed', 'failed', 'skipped')"
            " THEN f.size END), 0),"
            f" coalesce(sum(f.chunk_count), 0) FROM files f{where}",
            params,
        )[0]
        embedded = 0
        model = self._model(model_id) if model_id is not None else None
        if model is not None:
            sql = "SELECT count(*) FROM vectors v WHERE v.model_id = ?"
            if where:
                sql = (
                    "SELECT count(*) FROM vectors v JOIN chunks c ON c.id = v.chunk_id"
                    " JOIN files f ON f.id = c.file_id WHERE v.model_id = ? AND"
                    + where.removeprefix(" WHERE")
                )
            embedded = int(self.query(sql, [model[0], *params])[0][0])
        return StoreCounts(
            files_total=int(row[0]),
            files_done=int(row[1]),
            files_failed=int(row[2]),
            bytes_total=int(row[3]),
            bytes_done=int(row[4]),
            chunks_total=int(row[5]),
            chunks_embedded=embedded,
        )

    # -- vectors --------------------------------------------------------------------------

    def chunks_needing_vectors(
        self, model_id: str, limit: int, *, after: int = 0
    ) -> list[tuple[int, str]]:
        """Up to ``limit`` chunks (id above ``after``, by id) without a vector of
        ``model_id``: (chunk id, text). Pass the last id back as ``after`` for the next
        batch, so each batch starts where the last one ended."""
        model = self._model(model_id)
        rows = self.query(
            "SELECT c.id FROM chunks c WHERE c.id > ? AND NOT EXISTS (SELECT 1 FROM vectors v"
            " WHERE v.chunk_id = c.id AND v.model_id = ?) ORDER BY c.id LIMIT ?",
            (after, model[0] if model is not None else 0, limit),
        )
        ids = [r[0] for r in rows]
        texts = self._texts(ids)
        return [(i, texts[i]) for i in ids if i in texts]

    def put_vectors(
        self, model_id: str, dimensions: int, items: Sequence[tuple[int, Sequence[float]]]
    ) -> int:
        """Store one vector per chunk for ``model_id`` (normalized to unit length). A model
        keeps the dimension it was first given: ValueError for another one, or for a
        vector of the wrong length. Chunks removed meanwhile, and chunks that already
        have a vector of this model, are passed over. Returns how many were stored."""
        blobs = [(chunk_id, as_unit_vector(v, dimensions).tobytes()) for chunk_id, v in items]
        with self.write() as conn:
            row = conn.execute(
                "SELECT id, dimensions FROM embedding_models WHERE name = ?", (model_id,)
            ).fetchone()
            if row is None:
                cursor = conn.execute(
                    "INSERT INTO embedding_models (name, dimensions) VALUES (?, ?)",
                    (model_id, dimensions),
                )
                model_row = cursor.lastrowid
            elif row[1] != dimensions:
                raise ValueError(
                    f"The embedding model {model_id} has {row[1]}-dimensional vectors stored,"
                    f" not {dimensions}: drop them first (drop_vectors)."
                )
            else:
                model_row = row[0]
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO vectors (chunk_id, model_id, file_id, collection_id, vector)"
                " SELECT c.id, ?2, c.file_id, f.collection_id, ?3 FROM chunks c"
                " JOIN files f ON f.id = c.file_id WHERE c.id = ?1"
                " ON CONFLICT (chunk_id, model_id) DO NOTHING",
                [(chunk_id, model_row, blob) for chunk_id, blob in blobs],
            )
            return conn.total_changes - before

    def count_vectors(self, model_id: str) -> int:
        model = self._model(model_id)
        if model is None:
            return 0
        return int(self.query("SELECT count(*) FROM vectors WHERE model_id = ?", (model[0],))[0][0])

    def dimensions(self, model_id: str) -> int | None:
        """The dimension of the model's stored vectors (None: it has none)."""
        model = self._model(model_id)
        return None if model is None else model[1]

    def embedding_models(self) -> list[tuple[str, int, int]]:
        """(name, dimensions, vectors stored) of every model with vectors."""
        rows = self.query(
            "SELECT m.name, m.dimensions, (SELECT count(*) FROM vectors v WHERE v.model_id = m.id)"
            " FROM embedding_models m ORDER BY m.name"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def drop_vectors(self, model_id: str) -> None:
        """Every vector of ``model_id`` (another embedder was chosen)."""
        with self.write() as conn:
            conn.execute("DELETE FROM embedding_models WHERE name = ?", (model_id,))

    # -- search ---------------------------------------------------------------------------

    def keyword_search(
        self,
        query: str,
        collection_ids: Many[int] | None = None,
        limit: int = 20,
        *,
        file_ids: Many[int] | None = None,
    ) -> list[Passage]:
        """Chunks with ANY of the question's words, best BM25 first (stopwords left out,
        neighbouring words also asked for as a phrase, words found inside Chinese,
        Japanese and Thai text). ``score`` is minus BM25 (higher is better)."""
        match, common = self._question_match(query)
        if not match or limit <= 0:
            return []
        where, params = _scope(collection_ids, file_ids, "fi")
        scope = (
            ""
            if not where
            else " AND EXISTS (SELECT 1 FROM chunks c JOIN files fi ON fi.id = c.file_id"
            f" WHERE c.id = chunks_fts.rowid AND{where.removeprefix(' WHERE')})"
        )
        window, window_params = "", []
        if common:  # rank only the newest KEYWORD_POSTINGS of its matches
            window = (
                " AND rowid >= coalesce((SELECT min(rowid) FROM (SELECT rowid FROM chunks_fts"
                f" WHERE chunks_fts MATCH ?{scope} ORDER BY rowid DESC LIMIT ?)), 0)"
            )
            window_params = [match, *params, KEYWORD_POSTINGS]
        rows = self.query(
            f"SELECT rowid, {RANK} AS score FROM chunks_fts WHERE chunks_fts MATCH ?"
            f"{scope}{window} ORDER BY score LIMIT ?",
            [match, *params, *window_params, limit],
        )
        found = self._passages([r[0] for r in rows])
        out = []
        for rank, r in enumerate(rows, 1):
            p = found.get(r[0])
            if p is not None:
                out.append(
                    replace(p, score=-float(r[1]), keyword_rank=rank, keyword_score=float(r[1]))
                )
        return out

    def vector_search(
        self,
        model_id: str,
        vector: Sequence[float] | npt.NDArray[np.floating[Any]],
        collection_ids: Many[int] | None = None,
        limit: int = 20,
        *,
        file_ids: Many[int] | None = None,
    ) -> list[Passage]:
        """The chunks nearest to ``vector`` (cosine, best first) among the vectors of
        ``model_id``; [] when it has none. ValueError for a vector of another dimension."""
        index = self._vector_index(model_id)
        if index is None:
            return []
        query = as_unit_vector(vector, index.dimensions)
        hits = index.search(query, limit, collection_ids, file_ids)
        found = self._passages([c for c, _ in hits])
        out = []
        for rank, (chunk_id, score) in enumerate(hits, 1):
            p = found.get(chunk_id)
            if p is not None:  # removed since the index was refreshed
                out.append(replace(p, score=score, vector_rank=rank, vector_score=score))
        return out

    def vector_index_size(self, model_id: str) -> int:
        """How many vectors the in-memory index holds after refreshing it (for tests and
        the bench)."""
        index = self._vector_index(model_id)
        return 0 if index is None else len(index)

    # -- internals ------------------------------------------------------------------------

    def _question_match(self, query: str) -> tuple[str, bool]:
        """The FTS5 query for a question: its rarest terms, as many as fit
        KEYWORD_POSTINGS chunks between them (at least the rarest one). Ranking visits
        every chunk a term is in: the commonest words of a large collection (in half of
        100,000 chunks) made one question take 0.6 s, and bm25 weighs them near zero.
        True when even the rarest term is in more chunks than that: then only the newest
        of its matches are ranked."""
        terms = question_terms(query)
        tokens = terms.tokens()
        if not tokens:
            return "", False
        if not self._vocabulary:
            self.query(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab"
                " USING fts5vocab(main, chunks_fts, row)"
            )
            self._vocabulary = True
        frequency = {
            r[0]: int(r[1])
            for r in self.query(
                f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({_marks(len(tokens))})",
                tokens,
            )
        }
        chosen: set[str] = set()
        spent = 0
        for token in sorted(tokens, key=lambda t: frequency.get(t, 0)):
            cost = frequency.get(token, 0)
            if chosen and spent + cost > KEYWORD_POSTINGS:
                break
            chosen.add(token)
            spent += cost
        return terms.match("text", "grams context", chosen), spent > KEYWORD_POSTINGS

    def _valid_name(self, name: str) -> str:
        name = _clean_name(name)
        if not name:
            raise ValueError("A collection needs a name.")
        if len(name) > NAME_LIMIT:
            raise ValueError(f"A collection's name can have at most {NAME_LIMIT} characters.")
        return name

    def _model(self, model_id: str) -> tuple[int, int] | None:
        rows = self.query("SELECT id, dimensions FROM embedding_models WHERE name = ?", (model_id,))
        return (rows[0][0], rows[0][1]) if rows else None

    def _vector_index(self, model_id: str) -> VectorIndex | None:
        """The model's in-memory index, brought up to date: rows deleted since the last
        look dropped (the deletion counter is read first, so a deletion that commits
        while this runs is seen next time), then new rows appended by id."""
        removed = int(self.query("SELECT value FROM counters WHERE name = 'vectors_removed'")[0][0])
        model = self._model(model_id)
        if model is None:
            return None
        index = self._indexes.get(model[0])
        if index is None:
            live = self._live_models()  # forget the indexes of dropped models
            self._indexes = {k: v for k, v in self._indexes.items() if k in live}
            index = self._indexes[model[0]] = VectorIndex(model[0], model[1])
        if index.removed_seen != removed:
            if len(index):
                present = np.array(
                    [
                        r[0]
                        for r in self.query(
                            "SELECT id FROM vectors WHERE model_id = ? AND id <= ?",
                            (model[0], index.last_id),
                        )
                    ],
                    dtype=np.int64,
                )
                index.keep(present)
            index.removed_seen = removed
        new = self.query(
            "SELECT count(*) FROM vectors WHERE model_id = ? AND id > ?",
            (model[0], index.last_id),
        )[0][0]
        index.reserve(len(index) + int(new))
        while True:  # a page at a time: the BLOBs are never all in memory twice
            rows = self.query(
                "SELECT id, chunk_id, file_id, collection_id, vector FROM vectors"
                " WHERE model_id = ? AND id > ? ORDER BY id LIMIT ?",
                (model[0], index.last_id, _LOAD_PAGE),
            )
            index.append([(r[0], r[1], r[2], r[3], r[4]) for r in rows])
            if len(rows) < _LOAD_PAGE:
                return index

    def _live_models(self) -> set[int]:
        return {r[0] for r in self.query("SELECT id FROM embedding_models")}

    def _files(
        self,
        where: str,
        params: Sequence[object],
        model_id: str | None = None,
        *,
        order: str = "f.path",
        limit: int | None = None,
    ) -> list[DocumentFile]:
        model = self._model(model_id) if model_id is not None else None
        embedded = (
            "(SELECT count(*) FROM chunks c JOIN vectors v ON v.chunk_id = c.id"
            " WHERE c.file_id = f.id AND v.model_id = ?)"
            if model is not None
            else "0"
        )
        rows = self.query(
            f"SELECT f.id, f.collection_id, f.path, f.state, f.reason, f.size, f.mtime_ns,"
            f" f.sha256, f.chunk_count, {embedded}, f.format FROM files f WHERE {where}"
            f" ORDER BY {order}" + (" LIMIT ?" if limit is not None else ""),
            [
                *([model[0]] if model is not None else []),
                *params,
                *([limit] if limit is not None else []),
            ],
        )
        return [
            DocumentFile(
                id=r[0],
                collection_id=r[1],
                path=_path_of(r[2]),
                state=FileState(r[3]),
                reason=r[4],
                size=r[5],
                mtime_ns=r[6],
                sha256=r[7],
                chunks=r[8],
                embedded=r[9],
                format=r[10],
            )
            for r in rows
        ]

    def _texts(self, ids: Sequence[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for part in _chunks_in(ids):
            for r in self.query(
                f"SELECT rowid, text FROM chunks_fts WHERE rowid IN ({_marks(len(part))})",
                part,
            ):
                out[r[0]] = r[1]
        return out

    def _passages(self, ids: Sequence[int]) -> dict[int, Passage]:
        out: dict[int, Passage] = {}
        texts = self._texts(ids)
        for part in _chunks_in(ids):
            for r in self.query(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks c JOIN files f ON f.id = c.file_id"
                f" WHERE c.id IN ({_marks(len(part))})",
                part,
            ):
                if r[0] not in texts:
                    continue
                out[r[0]] = Passage(
                    chunk_id=r[0],
                    file_id=r[1],
                    collection_id=r[2],
                    path=_path_of(r[3]),
                    anchor=Anchor(
                        page=r[7],
                        headings=tuple(json.loads(r[8])),
                        line_start=r[9],
                        line_end=r[10],
                    ),
                    text=texts[r[0]],
                    score=0.0,
                    ordinal=r[4],
                    start=r[5],
                    end=r[6],
                )
        return out

    def _delete_fts(self, conn: sqlite3.Connection, chunk_ids: Sequence[int]) -> None:
        conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in chunk_ids])

    def _delete_files(self, conn: sqlite3.Connection, file_ids: Sequence[int]) -> int:
        """Deletes the files' rows (their chunks, texts and vectors cascade); returns how
        many chunks (FTS rows) went."""
        removed = 0
        for part in _chunks_in(file_ids):
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM chunks WHERE file_id IN ({_marks(len(part))})", part
                )
            ]
            self._delete_fts(conn, ids)
            removed += len(ids)
            conn.execute(f"DELETE FROM files WHERE id IN ({_marks(len(part))})", part)
        return removed

    def _mark_purge(self, conn: sqlite3.Connection) -> None:
        if not FTS_SECURE_DELETE:  # with it, deleted rows' words went with them
            conn.execute(
                "INSERT OR REPLACE INTO counters (name, value) VALUES (?, 1)", (_PURGE_PENDING,)
            )

    def _merge_index(self, conn: sqlite3.Connection) -> None:
        """After FTS rows were deleted: no word of theirs is left in the index's pages."""
        if FTS_SECURE_DELETE:
            return  # the 'secure-delete' option removed them as they were deleted
        # FTS5 deletes by writing tombstones; the deleted words stay in the old segments
        # until they are merged. 'optimize' merges every segment into one (and so frees,
        # and with secure_delete overwrites, the pages that held them).
        conn.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")


def _context(path: Path, anchor: Anchor) -> str:
    """What the index knows of a chunk beside its text: its file's name and folder's
    name and its heading path, and index_text of those (for unspaced scripts)."""
    plain = clean_document_text(" ".join([path.parent.name, path.stem, *anchor.headings]))
    grams = index_text(plain)
    return f"{plain} {grams}" if grams else plain


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _scope(
    collection_ids: Many[int] | None, file_ids: Many[int] | None, alias: str
) -> tuple[str, list[object]]:
    """A WHERE clause (with its leading " WHERE") limiting files to those in some
    collections or among some files (a chat attaches both: either one counts); None for
    either is no limit from it, ("", []) for all."""
    terms: list[str] = []
    params: list[object] = []
    if collection_ids is not None:
        terms.append(f"{alias}.collection_id IN ({_marks(len(collection_ids))})")
        params += list(collection_ids)
    if file_ids is not None:
        terms.append(f"{alias}.id IN ({_marks(len(file_ids))})")
        params += list(file_ids)
    return (" WHERE (" + " OR ".join(terms) + ")" if terms else ""), params
