"""``docs add|list|status|remove|search|wait|model``: the local document collections from
the command line, and how ``chat --docs NAME`` finds the collections it attaches.

The library (core/documents) does the work; this module names collections, checks the
paths given, and prints: plain lines for people, ``--json`` for scripts (shapes below).
Only one process indexes a documents database at a time: ``docs add`` records the files
and returns; ``docs wait`` indexes them (or waits for the window that does).
``docs model`` shows or chooses the embedding model (the setting the window reads at start).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from desktopchat.cli.output import EXIT_ERROR, EXIT_OK, emit_json, note
from desktopchat.core.chat import DocumentsUse, SourcePassage
from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.documents.types import (
    Collection,
    DocumentFile,
    FileState,
    IndexProgress,
    Passage,
)
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.models.embedders import (
    EmbeddingChoice,
    builtin_choice,
    catalog_entry_for,
    embedding_choices,
    is_embedding_model,
    language_names,
)
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core
from desktopchat.core.settings import load_settings, save_settings

DEFAULT_COLLECTION = "Documents"

OpenLibrary = Callable[[], DocumentLibrary]


def docs(args: argparse.Namespace, open_library: OpenLibrary, paths: AppPaths | None = None) -> int:
    if args.action == "model":
        if paths is None:
            raise DesktopChatError("docs model needs the app's folders.")
        return model(args, open_library, paths)
    with _library(open_library) as library:
        if args.action == "add":
            return add(args, library)
        if args.action == "list":
            return list_(args, library)
        if args.action == "status":
            return status(args, library)
        if args.action == "remove":
            return remove(args, library)
        if args.action == "search":
            return search(args, library)
        return wait(args, library)


@contextmanager
def _library(open_library: OpenLibrary) -> Iterator[DocumentLibrary]:
    library = open_library()
    try:
        yield library
    finally:
        library.close()


def find_collection(library: DocumentLibrary, name: str) -> Collection:
    """A collection by its name (any case, spaces folded); raises with the names there are."""
    wanted = " ".join(name.split()).casefold()
    collections = library.collections()
    for collection in collections:
        if collection.name.casefold() == wanted:
            return collection
    names = ", ".join(c.name for c in collections) or "none yet (docs add creates one)"
    raise DesktopChatError(f"There is no document collection {name!r}. Collections: {names}.")


def collection_ids(library: DocumentLibrary, names: Sequence[str]) -> tuple[int, ...]:
    """The ids of the collections named (``chat --docs``), in order, without repeats."""
    return tuple(dict.fromkeys(find_collection(library, n).id for n in names))


def add(args: argparse.Namespace, library: DocumentLibrary) -> int:
    paths: list[Path] = []
    missing: list[str] = []
    for given in args.paths:
        path = Path(given).expanduser()
        if path.exists():
            paths.append(path.resolve())
        else:
            missing.append(given)
    if missing:
        raise DesktopChatError(
            f"Not found: {', '.join(missing)}. Nothing was added; check the "
            f"{'path' if len(missing) == 1 else 'paths'}."
        )
    name = args.collection or DEFAULT_COLLECTION
    try:
        collection = find_collection(library, name)
        created = False
    except DesktopChatError:
        try:
            collection = library.create_collection(name)
        except ValueError as exc:
            raise DesktopChatError(str(exc)) from None
        created = True
    library.add_paths(collection.id, paths)
    what = f"{len(paths)} {'path' if len(paths) == 1 else 'paths'}"
    made = " (new)" if created else ""
    print(f"Added {what} to the collection “{collection.name}”{made}.")
    note("Indexing continues in the window, or now with: desktopchat docs wait")
    return EXIT_OK


def list_(args: argparse.Namespace, library: DocumentLibrary) -> int:
    rows = [_collection_json(c, library.files(c.id)) for c in library.collections()]
    if args.json:
        emit_json(rows)
        return EXIT_OK
    if not rows:
        print("No document collections yet (docs add PATH creates one).")
    for row in rows:
        failed = f", {row['failed']} failed" if row["failed"] else ""
        print(
            f"{row['id']:>4}  {row['name']}: {row['files']} files, {row['indexed']} indexed"
            f"{failed}, {row['chunks']:,} passages ({row['embedded']:,} with vectors)"
        )
    return EXIT_OK


def _collection_json(collection: Collection, files: list[DocumentFile]) -> dict[str, Any]:
    def count(state: FileState) -> int:
        return sum(1 for f in files if f.state is state)

    return {
        "id": collection.id,
        "name": collection.name,
        "created_at": collection.created_at,
        "roots": [str(r) for r in collection.roots],
        "files": len(files),
        "indexed": count(FileState.INDEXED),
        "waiting": count(FileState.WAITING) + count(FileState.INDEXING),
        "failed": count(FileState.FAILED),
        "skipped": count(FileState.SKIPPED),
        "chunks": sum(f.chunks for f in files),
        "embedded": sum(f.embedded for f in files),
    }


def _chosen(args: argparse.Namespace, library: DocumentLibrary) -> list[Collection]:
    if getattr(args, "collection", None):
        return [find_collection(library, args.collection)]
    return library.collections()


def status(args: argparse.Namespace, library: DocumentLibrary) -> int:
    progress = library.progress()
    files = [
        {"collection": c.name, "collection_id": c.id, **_file_json(f)}
        for c in _chosen(args, library)
        for f in library.files(c.id)
    ]
    if args.json:
        emit_json({"progress": progress_json(progress), "files": files})
        return EXIT_OK
    for f in files:
        reason = f": {f['reason']}" if f["reason"] else ""
        counts = f" ({f['chunks']} passages, {f['embedded']} with vectors)" if f["chunks"] else ""
        print(f"{f['state']:<8}  {f['path']}{counts}{reason}")
    print(describe_progress(progress), file=sys.stderr if files else sys.stdout)
    return EXIT_OK


def _file_json(f: DocumentFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "path": str(f.path),
        "state": f.state.value,
        "reason": f.reason,
        "format": f.format,
        "size": f.size,
        "chunks": f.chunks,
        "embedded": f.embedded,
    }


def progress_json(p: IndexProgress) -> dict[str, Any]:
    return {
        "idle": p.idle,
        "files_total": p.files_total,
        "files_done": p.files_done,
        "files_failed": p.files_failed,
        "chunks_total": p.chunks_total,
        "chunks_embedded": p.chunks_embedded,
        "bytes_total": p.bytes_total,
        "bytes_done": p.bytes_done,
        "chunks_per_second": p.chunks_per_second,
        "seconds_left": p.seconds_left,
        "paused": p.paused,
        "current": p.current,
    }


def describe_progress(p: IndexProgress) -> str:
    if p.idle:
        failed = f", {p.files_failed} failed" if p.files_failed else ""
        return (
            f"Indexing is done: {p.files_done:,} files{failed}, {p.chunks_embedded:,} of "
            f"{p.chunks_total:,} passages with vectors."
        )
    left = f", about {p.seconds_left:,.0f} s left" if p.seconds_left is not None else ""
    paused = " (paused)" if p.paused else ""
    return (
        f"Indexing{paused}: {p.files_done:,} of {p.files_total:,} files, "
        f"{p.chunks_embedded:,} of {p.chunks_total:,} passages with vectors{left}."
    )


def remove(args: argparse.Namespace, library: DocumentLibrary) -> int:
    if not args.paths:
        if not args.collection:
            raise DesktopChatError("Say what to remove: PATH... or --collection NAME.")
        collection = find_collection(library, args.collection)
        library.delete_collection(collection.id)
        print(f"Deleted the collection “{collection.name}” and its index.")
        return EXIT_OK
    paths = [Path(p).expanduser().absolute() for p in args.paths]
    removed = 0
    for collection in _chosen(args, library):
        known = {f.path for f in library.files(collection.id)} | set(collection.roots)
        mine = [p for p in paths if p in known or any(k.is_relative_to(p) for k in known)]
        if mine:
            library.remove_paths(collection.id, mine)
            removed += len(mine)
    if not removed:
        raise DesktopChatError(
            f"{', '.join(args.paths)} {'is' if len(paths) == 1 else 'are'} not in "
            f"{'that collection' if args.collection else 'any collection'}."
        )
    print(f"Removed {removed} {'path' if removed == 1 else 'paths'} and their passages.")
    return EXIT_OK


def search(args: argparse.Namespace, library: DocumentLibrary) -> int:
    if not args.query.strip():
        raise DesktopChatError("The search is empty: give some words to look for.")
    if args.limit < 1:
        raise DesktopChatError("--limit must be at least 1.")
    names = {c.id: c.name for c in library.collections()}
    ids = [find_collection(library, args.collection).id] if args.collection else None
    passages = library.search(args.query, collection_ids=ids, limit=args.limit)
    rows = [passage_json(rank, p, names) for rank, p in enumerate(passages, start=1)]
    if args.json:
        emit_json(rows)
        return EXIT_OK
    if not rows:
        note("Nothing found.")
    for row in rows:
        place = f" ({row['anchor']})" if row["anchor"] else ""
        text = " ".join(str(row["text"]).split())
        print(f"{row['rank']:>3}. {row['path']}{place}  score {row['score']:.4f}")
        print(f"     {text[:300]}")
    return EXIT_OK


def passage_json(rank: int, p: Passage, names: dict[int, str]) -> dict[str, Any]:
    """One ranked passage, as ``docs search --json`` prints it."""
    a = p.anchor
    return {
        "rank": rank,
        "chunk_id": p.chunk_id,
        "collection": names.get(p.collection_id, ""),
        "collection_id": p.collection_id,
        "path": str(p.path),
        "page": a.page,
        "lines": None if a.line_start is None else [a.line_start, a.line_end or a.line_start],
        "headings": list(a.headings),
        "anchor": a.describe(),
        "score": p.score,
        "keyword_rank": p.keyword_rank,
        "vector_rank": p.vector_rank,
        "keyword_score": p.keyword_score,
        "vector_score": p.vector_score,
        "text": p.text,
    }


def wait(args: argparse.Namespace, library: DocumentLibrary) -> int:
    timeout: float | None = args.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = False
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        step = 1.0 if left is None else min(1.0, left)
        if library.wait(step):
            break
        if deadline is not None and time.monotonic() >= deadline:
            if shown:
                sys.stderr.write("\n")
            note(f"desktopchat: indexing is not done after {timeout:g} s")
            note(describe_progress(library.progress()))
            return EXIT_ERROR
        if sys.stderr.isatty():
            sys.stderr.write(f"\r\033[K{describe_progress(library.progress())}")
            sys.stderr.flush()
            shown = True
    if shown:
        sys.stderr.write("\r\033[K")
    print(describe_progress(library.progress()))
    for c in library.collections():
        for f in library.files(c.id):
            if f.state is FileState.FAILED:
                note(f"failed: {f.path}: {f.reason}")
    return EXIT_OK


def model(args: argparse.Namespace, open_library: OpenLibrary, paths: AppPaths) -> int:
    """Show the embedding model and the choices; or choose one (loaded first: a model that
    cannot be loaded is refused and the setting stays)."""
    if args.builtin and args.name:
        raise DesktopChatError("Give an embedding model (NAME or PATH) or --builtin, not both.")
    settings = load_settings(paths.settings_file)
    core = open_core(paths)
    try:
        installed = core.library.scan()
        wanted = core.library.find(args.name) if args.name else None
    finally:
        core.close()
    choices = embedding_choices(installed)
    current = _current_choice(settings.documents_embedding_model, choices)
    if not (args.builtin or args.name):
        if args.json:
            emit_json(
                {
                    "current": choice_json(current, current),
                    "choices": [choice_json(c, current) for c in choices],
                }
            )
            return EXIT_OK
        print(f"Embedding model: {current.label()}")
        for choice in choices:
            mark = "*" if choice.setting == current.setting else " "
            where = "" if choice.path is None else f"  {choice.path}"
            print(f"{mark} {choice.label()}{where}")
        if len(choices) == 1:
            note("No other embedding model is installed (Models › Embedding models).")
        return EXIT_OK
    chosen = builtin_choice()
    if wanted is not None:
        if not is_embedding_model(wanted):
            raise DesktopChatError(
                f"{wanted.path.name} is not an embedding model (it is for chat); "
                "embedding models: " + ", ".join(c.name for c in choices)
            )
        chosen = next(
            (c for c in choices if c.path == wanted.path),
            EmbeddingChoice(wanted.path, wanted.name, catalog_entry_for(wanted.path)),
        )
    with _library(open_library) as library:
        try:
            library.set_embedding_model(chosen.path)
        except DesktopChatError as exc:
            raise DesktopChatError(f"{exc}. The embedding model stays {current.label()}.") from None
    save_settings(
        paths.settings_file, settings.with_changes(documents_embedding_model=chosen.setting)
    )
    print(f"Embedding model: {chosen.label()}")
    if chosen.setting != current.setting:
        note(
            "Its vectors fill in while the window runs (it reads the choice at its next "
            "start), or now with: desktopchat docs wait. Keyword search works meanwhile."
        )
    return EXIT_OK


def _current_choice(setting: str, choices: list[EmbeddingChoice]) -> EmbeddingChoice:
    for choice in choices:
        if choice.setting == setting:
            return choice
    path = Path(setting)  # chosen, but no longer listed (moved, or the folder changed)
    return EmbeddingChoice(path, path.stem, catalog_entry_for(path))


def choice_json(choice: EmbeddingChoice, current: EmbeddingChoice) -> dict[str, Any]:
    entry = choice.entry
    return {
        "name": choice.name,
        "label": choice.label(),
        "path": None if choice.path is None else str(choice.path),
        "builtin": choice.builtin,
        "current": choice.setting == current.setting,
        "languages": list(choice.languages),
        "languages_text": language_names(choice.languages),
        "catalogue": None if entry is None else entry.name,
        "repo": None if entry is None else entry.repo,
        "query_prefix": "" if entry is None else entry.query_prefix,
        "document_prefix": "" if entry is None else entry.document_prefix,
    }


def documents_json(documents: DocumentsUse | None) -> dict[str, Any] | None:
    """What the attached documents gave a reply, as ``chat --json`` prints it."""
    if documents is None:
        return None
    return {
        "mode": documents.mode,
        "collection_ids": list(documents.collection_ids),
        "file_ids": list(documents.file_ids),
        "budget_tokens": documents.budget_tokens,
        "used_tokens": documents.used_tokens,
        "still_indexing": documents.still_indexing,
        "notes": list(documents.notes),
        "retrieval_ms": round(documents.retrieval_seconds * 1000, 1),
        "sources": [source_json(s) for s in documents.sources],
    }


def source_json(s: SourcePassage) -> dict[str, Any]:
    return {
        "number": s.number,
        "chunk_id": s.chunk_id,
        "file_id": s.file_id,
        "collection_id": s.collection_id,
        "path": s.path,
        "page": s.page,
        "lines": None if s.line_start is None else [s.line_start, s.line_end or s.line_start],
        "headings": list(s.headings),
        "anchor": s.anchor,
        "score": s.score,
        "keyword_rank": s.keyword_rank,
        "vector_rank": s.vector_rank,
        "keyword_score": s.keyword_score,
        "vector_score": s.vector_score,
        "tokens": s.tokens,
        "text": s.text,
    }


def describe_sources(documents: DocumentsUse) -> list[str]:
    """The Sources lines printed under a reply."""
    if not documents.sources:
        return []
    how = "the whole documents" if documents.whole else "passages"
    lines = [f"Sources ({how}):"]
    for s in documents.sources:
        place = f" ({s.anchor})" if s.anchor else ""
        lines.append(f"[{s.number}] {s.path}{place}")
    return lines
