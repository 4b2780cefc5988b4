"""The documents database's schema: numbered migrations (user_version), never edited once
released.

Tables: collections, their roots (files and folders the user added), files (path as
bytes, os.fsencode, so any name the file system allows is kept; state, stat, hash,
counts), texts (each file's extracted text, zlib), chunks (spans into that text, anchors,
tokens), chunks_fts (FTS5: a chunk's text, fulltext.index_text of it, and its context: file
name, folder name and heading path; rowid = chunks.id; the only copy of the chunk's
text), embedding_models (name, dimensions) and vectors (one float32 BLOB per chunk and
model). A trigger counts deleted vectors so a
vector index held in memory knows when rows it loaded are gone.

FTS rows are written by the store inside the same transactions as their chunks: triggers
cannot write to a virtual table while trusted_schema is OFF.
"""

from __future__ import annotations

from collections.abc import Sequence

_MIGRATION_1 = """
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL UNIQUE,  -- casefolded: names differ by more than case
            created_at REAL NOT NULL
        );

        CREATE TABLE roots (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path BLOB NOT NULL,
            added_at REAL NOT NULL,
            PRIMARY KEY (collection_id, path)
        ) WITHOUT ROWID;

        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path BLOB NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('waiting', 'indexing', 'indexed', 'failed', 'skipped')),
            reason TEXT NOT NULL DEFAULT '',
            size INTEGER NOT NULL DEFAULT 0,
            mtime_ns INTEGER NOT NULL DEFAULT 0,
            sha256 TEXT NOT NULL DEFAULT '',
            format TEXT NOT NULL DEFAULT '',
            chunk_count INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,  -- the sum of its chunks' tokens
            updated_at REAL NOT NULL,
            UNIQUE (collection_id, path)
        );
        CREATE INDEX files_state ON files(state, id);

        CREATE TABLE texts (
            file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
            text_z BLOB NOT NULL,
            chars INTEGER NOT NULL
        );

        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: vector indexes key on it
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            ordinal INTEGER NOT NULL,
            span_start INTEGER NOT NULL,
            span_end INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            page INTEGER,
            headings TEXT NOT NULL DEFAULT '[]',
            line_start INTEGER,
            line_end INTEGER
        );
        CREATE INDEX chunks_file ON chunks(file_id, ordinal);

        CREATE VIRTUAL TABLE chunks_fts USING fts5(text, grams, tokenize='unicode61');

        CREATE TABLE embedding_models (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            dimensions INTEGER NOT NULL CHECK (dimensions > 0)
        );

        CREATE TABLE vectors (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- loaded incrementally by id
            chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL REFERENCES embedding_models(id) ON DELETE CASCADE,
            file_id INTEGER NOT NULL,  -- the chunk's (they never change): a search limited
            collection_id INTEGER NOT NULL,  -- to some of them loads without a join
            vector BLOB NOT NULL,  -- float32, little-endian, unit length
            UNIQUE (chunk_id, model_id)
        );
        CREATE INDEX vectors_model ON vectors(model_id);

        CREATE TABLE counters (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO counters (name, value) VALUES ('vectors_removed', 0);
        CREATE TRIGGER vectors_removed AFTER DELETE ON vectors BEGIN
            UPDATE counters SET value = value + 1 WHERE name = 'vectors_removed';
        END;
"""

# The search index gains a third column, ``context``: the chunk's file name, its folder's
# name and its heading path (with index_text of them), so a question's words are found in
# what the file is called and where the chunk sits, not only in its text. Rows indexed
# before get an empty context until their file is indexed again.
_MIGRATION_2 = """
        CREATE VIRTUAL TABLE chunks_fts_new USING fts5(text, grams, context, tokenize='unicode61');
        INSERT INTO chunks_fts_new (rowid, text, grams, context)
            SELECT rowid, text, grams, '' FROM chunks_fts;
        DROP TABLE chunks_fts;
        ALTER TABLE chunks_fts_new RENAME TO chunks_fts;
"""

# Each entry moves the schema one version up. Never edit a released entry: add one.
MIGRATIONS: Sequence[str] = (_MIGRATION_1, _MIGRATION_2)
SCHEMA_VERSION = len(MIGRATIONS)
