"""Local documents: collections of the user's files, indexed for keyword and semantic search.

Qt-free. The parts, each in its own module:

- ``types``: the data that crosses the parts (anchors, blocks, chunks, passages, files, the
  embedder protocol, progress).
- ``parsers/``: one adapter per parsing library, ``extract(path, limits) -> Extracted``.
- ``chunking``: structure-following chunks with a token budget, overlap and anchors.
- ``indexer`` / ``watch``: the background pipeline (scan, extract, chunk, store, embed) that
  survives restarts and yields while a reply streams.
- ``retrieval``: hybrid search (BM25 and vectors fused with reciprocal rank fusion) and the
  passages a prompt gets within its budget.
- ``library``: ``DocumentLibrary``, the facade the window, the CLI and the chat service use.

The SQLite side (chunks, FTS5, vectors, in a file of their own) is in
``core/storage/documents/``; the embedding model runs in an engine process
(``core/inference/llama/embedding.py``).
"""
