"""Retrieval evaluation: ``python -m bench.retrieval_eval [--threads N] [--out FILE]``.

The AWS CLI's own documentation (the pinned ``awscli`` package's help topics and command
examples, see bench/eval_data.py) is copied into a folder and indexed by the real
pipeline (LocalDocumentLibrary: the scanner, the parsers, the chunker, the store and the
built-in embedder through llama.cpp). Then each question of
``bench/data/retrieval_questions.json`` is asked three ways:

- keyword only: the store's BM25 list (FTS5);
- vector only: the store's cosine list for the question's embedding (the same model);
- hybrid: the library's own search (both lists fused by reciprocal rank fusion), as the
  chat and ``docs search`` use it.

A question is found at rank r when the r-th passage is the first from its answer file.
recall@k is the share of questions found within the first k passages; MRR the mean of
1/r over the first 20 (0 when not among them). It prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.eval_data import Question, load
from desktopchat.core.chat import default_threads
from desktopchat.core.documents.default_embedder import default_embedder_path
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.types import Embedder, FileState, Passage
from desktopchat.core.inference.llama.embedding import LlamaEmbedder
from desktopchat.core.storage.documents import DocumentStore

DEPTH = 20  # passages looked at for MRR
KS = (1, 3, 5, 10)
MODES = ("keyword", "vector", "hybrid")
Search = Callable[[str], list[Passage]]


@dataclass
class ModeResult:
    mode: str
    ranks: list[int | None] = field(default_factory=list)  # per question; None: not found
    seconds: list[float] = field(default_factory=list)

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks)

    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks)


def rank_of(passages: Sequence[Passage], root: Path, answer: str) -> int | None:
    """1-based rank of the first passage from ``answer`` (relative to ``root``)."""
    target = (root / answer).resolve()
    for rank, passage in enumerate(passages[:DEPTH], 1):
        if Path(passage.path).resolve() == target:
            return rank
    return None


def index(folder: Path, database: Path, threads: int) -> tuple[LocalDocumentLibrary, float]:
    """The library over ``database`` with ``folder`` added and fully indexed; seconds."""

    def make(model: Path | None) -> Embedder:
        return LlamaEmbedder(model or default_embedder_path(), n_threads=threads)

    library = LocalDocumentLibrary(database, make)
    started = time.perf_counter()
    collection = library.create_collection("AWS CLI documentation")
    library.add_paths(collection.id, [folder])
    if not library.wait(timeout=3600):
        raise TimeoutError("indexing the document set did not finish within an hour")
    return library, time.perf_counter() - started


def evaluate(
    questions: Sequence[Question], root: Path, searches: dict[str, Search]
) -> list[ModeResult]:
    results = []
    for mode, search in searches.items():
        result = ModeResult(mode)
        for q in questions:
            started = time.perf_counter()
            passages = search(q.question)
            result.seconds.append(time.perf_counter() - started)
            result.ranks.append(rank_of(passages, root, q.file))
        results.append(result)
    return results


def run(threads: int) -> dict[str, Any]:
    documents, questions = load()
    with tempfile.TemporaryDirectory(prefix="desktopchat-retrieval-eval-") as temp:
        folder = Path(temp) / "awscli-docs"
        copied = documents.copy_to(folder)
        database = Path(temp) / "documents.sqlite3"
        print(f"indexing {len(copied)} files of {documents.package}…", file=sys.stderr)
        library, seconds = index(folder, database, threads)
        load_after = os.getloadavg()[0]
        query_embedder = LlamaEmbedder(default_embedder_path(), n_threads=threads)
        store = DocumentStore.open(database)
        try:
            collection = library.collections()[0]
            files = library.files(collection.id)
            chunks = sum(f.chunks for f in files)
            embedded = sum(f.embedded for f in files)
            states = {s.value: sum(1 for f in files if f.state is s) for s in FileState}
            model_id = query_embedder.model_id

            def keyword(text: str) -> list[Passage]:
                return store.keyword_search(text, None, DEPTH)

            def vector(text: str) -> list[Passage]:
                return store.vector_search(model_id, query_embedder.embed([text])[0], None, DEPTH)

            def hybrid(text: str) -> list[Passage]:
                return library.search(text, limit=DEPTH)

            results = evaluate(
                questions, folder, {"keyword": keyword, "vector": vector, "hybrid": hybrid}
            )
            missed = {
                r.mode: [
                    q.file
                    for q, rank in zip(questions, r.ranks, strict=True)
                    if rank is None or rank > 5
                ]
                for r in results
            }
        finally:
            store.close()
            query_embedder.close()
            library.close()
    return {
        "document_set": f"{documents.package}=={documents.version}",
        "installed": documents.installed_version(),
        "files": len(copied),
        "file_states": states,
        "chunks": chunks,
        "embedded": embedded,
        "questions": len(questions),
        "index_seconds": round(seconds, 1),
        "threads": threads,
        "load_average_after_indexing": round(load_after, 2),
        "embedding_model": model_id,
        "results": {
            r.mode: {
                **{f"recall@{k}": r.recall(k) for k in KS},
                "mrr": r.mrr(),
                "median_ms": statistics.median(r.seconds) * 1000,
                "ranks": r.ranks,
            }
            for r in results
        },
        "missed_at_5": missed,
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Retrieval evaluation: {report['questions']} questions over {report['document_set']}"
        f" ({report['files']} files, {report['chunks']} chunks, {report['embedded']} embedded"
        f" by {report['embedding_model']}; indexed in {report['index_seconds']} s,"
        f" {report['threads']} threads, load average {report['load_average_after_indexing']})",
        f"  {'':<10}" + "".join(f"{f'recall@{k}':>11}" for k in KS) + f"{'MRR':>8}{'median':>10}",
    ]
    for mode in MODES:
        r = report["results"][mode]
        lines.append(
            f"  {mode:<10}"
            + "".join(f"{r[f'recall@{k}']:>11.3f}" for k in KS)
            + f"{r['mrr']:>8.3f}{r['median_ms']:>8.1f}ms"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval_eval", description=__doc__)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--out", type=Path, default=Path("bench/results/retrieval_eval.json"))
    args = parser.parse_args(argv)
    report = run(args.threads)
    report["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report))
    for mode, files in report["missed_at_5"].items():
        print(f"  {mode} missed at 5: {len(files)}")
    print(f"\nJSON: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
