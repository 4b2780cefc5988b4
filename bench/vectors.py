"""Vector storage measured: ``python -m bench.vectors [--rows N] [--dims D] [--out FILE]``.

100,000 random 384-d unit vectors (all-MiniLM-L6-v2's dimension) in ten collections,
stored and searched three ways, each in a process of its own (so its memory is its own):

- ``numpy``: float32 BLOBs in a plain SQLite table (the stdlib sqlite3), loaded into one
  matrix and searched with a matrix product and argpartition;
- ``store``: the same through the app's DocumentStore (put_vectors, the in-memory index
  loaded by the first vector_search after opening, then vector_search, which also reads
  each hit's chunk and file);
- ``sqlite-vec``: a ``vec0`` table (cosine, the collection as a metadata column) in the
  SQLite that apsw bundles, which can load extensions (this Python's sqlite3 cannot).

Figures: insert seconds, the file's size, the cold load (open and the first query: the
OS file cache is warm, nothing is dropped), the median query of 20 for the top 20, over
everything and within one collection (a tenth of the rows), and the process's resident
memory after the queries. It prints a table and writes JSON; it asserts nothing. Why the
app uses numpy is in the last lines it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from desktopchat.core.storage.documents.vectors import VectorIndex

COLLECTIONS = 10
TOP = 20
QUERIES = 20
SEED = 17


def unit_vectors(n: int, d: int, seed: int = SEED) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    for at in range(0, n, 10_000):  # in blocks: float64 normals for 100k x 384 are 300 MB
        block = rng.standard_normal((min(10_000, n - at), d))
        out[at : at + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def file_mb(path: Path) -> float:
    sides = [path, path.with_name(path.name + "-wal")]
    return sum(p.stat().st_size for p in sides if p.exists()) / 1e6


def timed_queries(
    search: Callable[[npt.NDArray[np.float32]], object], queries: npt.NDArray[np.float32]
) -> float:
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run_numpy(folder: Path, n: int, d: int) -> dict[str, Any]:
    vectors = unit_vectors(n, d)
    queries = unit_vectors(QUERIES + 1, d, seed=SEED + 1)
    path = folder / "numpy.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE vectors (id INTEGER PRIMARY KEY, chunk_id INTEGER, collection INTEGER,"
        " vector BLOB)"
    )
    start = time.perf_counter()
    for at in range(0, n, 1000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO vectors (chunk_id, collection, vector) VALUES (?, ?, ?)",
            [(i, i % COLLECTIONS, vectors[i].tobytes()) for i in range(at, min(n, at + 1000))],
        )
        conn.execute("COMMIT")
    insert = time.perf_counter() - start
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    del vectors
    base = rss_mb()

    start = time.perf_counter()
    conn = sqlite3.connect(path)
    index = VectorIndex(1, d)  # the app's in-memory index, without the store around it
    index.reserve(n)
    cursor = conn.execute("SELECT id, chunk_id, 0, collection, vector FROM vectors ORDER BY id")
    while rows := cursor.fetchmany(5000):
        index.append(rows)

    def search(q: npt.NDArray[np.float32], collection: int | None = None) -> list[int]:
        hits = index.search(q, TOP, None if collection is None else [collection])
        return [chunk for chunk, _ in hits]

    search(queries[0])
    cold = time.perf_counter() - start
    return {
        "insert_s": insert,
        "file_mb": file_mb(path),
        "cold_load_s": cold,
        "query_ms": timed_queries(search, queries[1:]),
        "query_filtered_ms": timed_queries(lambda q: search(q, 3), queries[1:]),
        "memory_mb": rss_mb() - base,
        "check": search(queries[1])[:3],
    }


def run_store(folder: Path, n: int, d: int) -> dict[str, Any]:
    from desktopchat.core.documents.types import Anchor, ChunkText
    from desktopchat.core.storage.documents import DocumentStore

    vectors = unit_vectors(n, d)
    queries = unit_vectors(QUERIES + 1, d, seed=SEED + 1)
    path = folder / "documents.sqlite3"
    store = DocumentStore.open(path)
    per_file = 100
    collections = [store.create_collection(f"c{i}").id for i in range(COLLECTIONS)]
    chunk_ids: list[int] = []
    for f in range(n // per_file):
        file = store.upsert_file(collections[f % COLLECTIONS], Path(f"/bench/{f}.txt"), 1, 1)
        chunks = [ChunkText(k, f"chunk {f} {k}", Anchor(), 3, 0, 0) for k in range(per_file)]
        store.replace_file_content(file.id, sha256="", format="text", text="", chunks=chunks)
        chunk_ids += store.chunk_ids(file.id)
    start = time.perf_counter()
    for at in range(0, len(chunk_ids), 1000):
        store.put_vectors(
            "bench", d, [(chunk_ids[i], vectors[i]) for i in range(at, min(n, at + 1000))]
        )
    insert = time.perf_counter() - start
    store.checkpoint()
    store.close()
    del vectors
    base = rss_mb()
    start = time.perf_counter()
    store = DocumentStore.open(path)
    store.vector_search("bench", queries[0], None, TOP)
    cold = time.perf_counter() - start
    one = [collections[3]]
    result = {
        "insert_s": insert,
        "file_mb": file_mb(path),
        "cold_load_s": cold,
        "query_ms": timed_queries(
            lambda q: store.vector_search("bench", q, None, TOP), queries[1:]
        ),
        "query_filtered_ms": timed_queries(
            lambda q: store.vector_search("bench", q, one, TOP), queries[1:]
        ),
        "memory_mb": rss_mb() - base,
        "check": [
            chunk_ids.index(p.chunk_id) for p in store.vector_search("bench", queries[1], None, 3)
        ],
    }
    store.close()
    return result


def run_sqlite_vec(folder: Path, n: int, d: int) -> dict[str, Any]:
    import apsw
    import sqlite_vec

    def connect(path: Path) -> apsw.Connection:
        conn = apsw.Connection(str(path))
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        return conn

    vectors = unit_vectors(n, d)
    queries = unit_vectors(QUERIES + 1, d, seed=SEED + 1)
    path = folder / "vec.sqlite3"
    conn = connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        f"CREATE VIRTUAL TABLE vectors USING vec0(chunk_id INTEGER PRIMARY KEY,"
        f" embedding float[{d}] distance_metric=cosine, collection INTEGER)"
    )
    start = time.perf_counter()
    for at in range(0, n, 1000):
        with conn:
            conn.executemany(
                "INSERT INTO vectors (chunk_id, embedding, collection) VALUES (?, ?, ?)",
                [(i, vectors[i].tobytes(), i % COLLECTIONS) for i in range(at, min(n, at + 1000))],
            )
    insert = time.perf_counter() - start
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    del vectors
    base = rss_mb()
    start = time.perf_counter()
    conn = connect(path)

    def search(q: npt.NDArray[np.float32], collection: int | None = None) -> list[int]:
        where = "" if collection is None else " AND collection = ?"
        params: tuple[object, ...] = (q.tobytes(), TOP)
        if collection is not None:
            params += (collection,)
        sql = (
            "SELECT chunk_id FROM vectors WHERE embedding MATCH ? AND k = ?"
            f"{where} ORDER BY distance"
        )
        return [int(r[0]) for r in conn.execute(sql, params)]

    search(queries[0])
    cold = time.perf_counter() - start
    result = {
        "insert_s": insert,
        "file_mb": file_mb(path),
        "cold_load_s": cold,
        "query_ms": timed_queries(search, queries[1:]),
        "query_filtered_ms": timed_queries(lambda q: search(q, 3), queries[1:]),
        "memory_mb": rss_mb() - base,
        "check": search(queries[1])[:3],
    }
    conn.close()
    return result


PARTS: dict[str, Callable[[Path, int, int], dict[str, Any]]] = {
    "numpy": run_numpy,
    "store": run_store,
    "sqlite-vec": run_sqlite_vec,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.vectors", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:  # one backend, in this process: the figures as JSON on stdout
        print(json.dumps(PARTS[args.part](args.folder, args.rows, args.dims)))
        return 0
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as tmp:
        for name in PARTS:
            folder = Path(tmp) / name
            folder.mkdir()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.vectors",
                    "--part",
                    name,
                    "--folder",
                    str(folder),
                    "--rows",
                    str(args.rows),
                    "--dims",
                    str(args.dims),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                print(f"{name} failed:\n{done.stderr}", file=sys.stderr)
                continue
            figures[name] = json.loads(done.stdout.strip().splitlines()[-1])
    print_table(figures, args.rows, args.dims)
    if args.out is not None:
        args.out.write_text(
            json.dumps({"rows": args.rows, "dims": args.dims, "figures": figures}, indent=2)
        )
    return 0


def print_table(figures: dict[str, dict[str, Any]], rows: int, dims: int) -> None:
    columns = [
        ("insert_s", "insert s", "{:.2f}"),
        ("file_mb", "file MB", "{:.1f}"),
        ("cold_load_s", "cold load s", "{:.3f}"),
        ("query_ms", "query ms", "{:.2f}"),
        ("query_filtered_ms", "1 coll. ms", "{:.2f}"),
        ("memory_mb", "memory MB", "{:.0f}"),
    ]
    print(f"{rows:,} vectors of {dims} float32, top {TOP}, {COLLECTIONS} collections")
    print(f"{'':12}" + "".join(f"{title:>13}" for _, title, _ in columns))
    for name, f in figures.items():
        print(f"{name:12}" + "".join(f"{fmt.format(f[key]):>13}" for key, _, fmt in columns))
    checks = {name: tuple(f["check"]) for name, f in figures.items()}
    print("same top 3 for one query:", len(set(checks.values())) == 1, checks)
    print(
        "The app uses numpy over BLOBs: the stdlib sqlite3 of this Python (and macOS's) cannot"
        " load sqlite-vec, so using it would mean a second SQLite (apsw) beside the one the"
        " app uses; that is only worth it if sqlite-vec wins decisively above."
    )


if __name__ == "__main__":
    raise SystemExit(main())
