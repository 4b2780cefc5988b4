"""One embedding model's vectors in memory: a float32 matrix searched with numpy.

The store fills it from the vectors table: new rows by id since the last load, and when
the table's deletion counter moved, the rows that are gone are dropped (their ids are
never reused, so a reloaded id is the same vector). Each row keeps its chunk, file and
collection so a search can be limited to some collections or files without SQL.
"""

from __future__ import annotations

from collections.abc import Collection as Many
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]
# Values per block of the matrix-vector product (1,024 rows of 384; see _scores).
BLOCK_VALUES = 400_000
Matrix = npt.NDArray[np.float32]


def as_unit_vector(
    values: Sequence[float] | npt.NDArray[np.floating[Any]], dimensions: int
) -> Matrix:
    """``values`` as a unit-length float32 vector; ValueError for a wrong length, a value
    that is not finite, or the zero vector."""
    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    if vector.shape[0] != dimensions:
        raise ValueError(f"A vector of {vector.shape[0]} values, not {dimensions}.")
    if not np.all(np.isfinite(vector)):
        raise ValueError("A vector with a value that is not a finite number.")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise ValueError("A zero vector has no direction.")
    return (vector / norm).astype(np.float32, copy=False)


class VectorIndex:
    """The vectors of one embedding model (one dimension), in load order."""

    def __init__(self, model_row: int, dimensions: int) -> None:
        self.model_row = model_row
        self.dimensions = dimensions
        self.last_id = 0  # the highest vector row id loaded
        self.removed_seen = -1  # the deletion counter when the rows were last reconciled
        self._matrix: Matrix = np.empty((0, dimensions), dtype=np.float32)
        self._ids: Ids = np.empty(0, dtype=np.int64)  # vector row ids
        self._chunks: Ids = np.empty(0, dtype=np.int64)
        self._files: Ids = np.empty(0, dtype=np.int64)
        self._collections: Ids = np.empty(0, dtype=np.int64)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        return int(self._matrix.nbytes + 4 * self._ids.nbytes)

    def append(
        self,
        rows: Sequence[tuple[int, int, int, int, bytes]],
    ) -> None:
        """Rows of (vector id, chunk id, file id, collection id, float32 BLOB), by id."""
        if not rows:
            return
        n = len(rows)
        self.reserve(self._count + n)
        at = self._count
        blob = b"".join(r[4] for r in rows)
        block = np.frombuffer(blob, dtype=np.float32)
        if block.size != n * self.dimensions:
            raise ValueError("A stored vector does not have its model's dimensions.")
        self._matrix[at : at + n] = block.reshape(n, self.dimensions)
        meta = np.array([r[:4] for r in rows], dtype=np.int64)
        self._ids[at : at + n] = meta[:, 0]
        self._chunks[at : at + n] = meta[:, 1]
        self._files[at : at + n] = meta[:, 2]
        self._collections[at : at + n] = meta[:, 3]
        self._count += n
        self.last_id = max(self.last_id, int(meta[-1, 0]))

    def keep(self, present: Ids) -> None:
        """Drop every loaded row whose id is not in ``present``."""
        n = self._count
        mask = np.isin(self._ids[:n], present)
        if bool(mask.all()):
            return
        kept = int(mask.sum())
        for name in ("_matrix", "_ids", "_chunks", "_files", "_collections"):
            array = getattr(self, name)
            array[:kept] = array[:n][mask]
        self._count = kept

    def search(
        self,
        query: Matrix,
        limit: int,
        collection_ids: Many[int] | None = None,
        file_ids: Many[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``limit`` nearest chunks by cosine similarity, best first: (chunk id, score),
        among the chunks in ``collection_ids`` or ``file_ids`` (None for both: all)."""
        n = self._count
        if n == 0 or limit <= 0:
            return []
        candidates: Ids | None = None
        if collection_ids is not None or file_ids is not None:
            # in one of the collections or among the files (a chat attaches both)
            mask = np.zeros(n, dtype=bool)
            if collection_ids is not None:
                mask |= np.isin(self._collections[:n], np.fromiter(collection_ids, np.int64))
            if file_ids is not None:
                mask |= np.isin(self._files[:n], np.fromiter(file_ids, np.int64))
            candidates = np.flatnonzero(mask)
        scores = self._scores(query, candidates)
        if scores.size == 0:
            return []
        k = min(limit, scores.size)
        best = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        best = best[np.argsort(-scores[best], kind="stable")]
        rows = best if candidates is None else candidates[best]
        return [(int(self._chunks[r]), float(s)) for r, s in zip(rows, scores[best], strict=True)]

    def _scores(self, query: Matrix, rows: Ids | None) -> Matrix:
        """Cosine similarity of ``query`` with the rows (all of them: None), computed a
        block at a time: a block below OpenBLAS's threading threshold keeps it on this
        thread (its thread pool, woken for one large product, fought llama.cpp's for the
        two cores: 5,000 rows took 18 ms instead of 0.3 ms on a busy machine)."""
        count = self._count if rows is None else int(rows.size)
        out = np.empty(count, dtype=np.float32)
        step = max(1, BLOCK_VALUES // self.dimensions)
        for at in range(0, count, step):
            if rows is None:
                block = self._matrix[at : min(count, at + step)]
            else:
                block = self._matrix[rows[at : at + step]]
            np.matmul(block, query, out=out[at : at + len(block)])
        return out

    def reserve(self, size: int) -> None:
        """Room for ``size`` rows (grown to at least that, doubling)."""
        capacity = self._matrix.shape[0]
        if size <= capacity:
            return
        grown = max(size, capacity * 2, 1024)
        matrix = np.empty((grown, self.dimensions), dtype=np.float32)
        matrix[: self._count] = self._matrix[: self._count]
        self._matrix = matrix
        for name in ("_ids", "_chunks", "_files", "_collections"):
            old = getattr(self, name)
            new = np.empty(grown, dtype=np.int64)
            new[: self._count] = old[: self._count]
            setattr(self, name, new)
