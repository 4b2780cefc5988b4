"""``chat``: send one message (a new conversation or a continued one) and stream the reply,
with the model and settings chat_settings chose; the conversation keeps them. With
document collections or files attached (``--docs NAME``, ``--doc-file PATH``, or kept by
the conversation), the reply is answered from their passages (or their whole text when it
fits) and its sources are printed (``--json``: ``documents``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from desktopchat import app
from desktopchat.cli.chat_settings import ChatSetup, chat_setup
from desktopchat.cli.documents import (
    OpenLibrary,
    collection_ids,
    describe_sources,
    documents_json,
)
from desktopchat.cli.output import EXIT_INTERRUPTED, EXIT_OK, StreamPrinter, emit_json, note
from desktopchat.cli.tools import TerminalApproval
from desktopchat.core.chat import FinishReason, GenerationParams
from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.documents.types import DocumentFile, FileState
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.engine import LoadConfig
from desktopchat.core.session import Core
from desktopchat.core.tools.toolbox import Toolbox

# How long ``chat --doc-file`` waits for a new file to be read before it answers with
# what is indexed (the reply then says the file is still being indexed), and then for its
# passages' embeddings (without them its passages are found by keyword only).
DOC_FILE_WAIT_SECONDS = 600.0
DOC_FILE_EMBED_WAIT_SECONDS = 60.0


def chat(args: argparse.Namespace, core: Core, open_library: OpenLibrary) -> int:
    doc_files: list[str] = args.doc_file or []
    if args.no_docs and doc_files:
        raise DesktopChatError("--doc-file and --no-docs cannot be used together.")
    setup = chat_setup(args, core)
    params = setup.params
    library: DocumentLibrary | None = None
    if args.no_docs:
        params = params.with_changes(documents=(), document_files=())
    elif args.docs or doc_files or params.documents or params.document_files:
        library = open_library()
    try:
        if library is not None and args.docs:
            params = params.with_changes(documents=collection_ids(library, args.docs))
        if library is not None and doc_files:
            files = attach_files(library, [Path(p) for p in doc_files])
            params = params.with_changes(document_files=tuple(f.id for f in files))
        return _chat(args, core, setup, params, library)
    finally:
        if library is not None:
            library.close()


def attach_files(
    library: DocumentLibrary,
    paths: Sequence[Path],
    timeout: float = DOC_FILE_WAIT_SECONDS,
    embed_timeout: float = DOC_FILE_EMBED_WAIT_SECONDS,
) -> list[DocumentFile]:
    """The files for ``chat --doc-file``, in the library (a collection's own record, or
    the Attached files collection), read and embedded before the question is asked: this
    process indexes them unless the window does. A file that cannot be read is said on
    stderr."""
    files: list[DocumentFile] = []
    for path in paths:
        try:
            files.append(library.attach_file(path))
        except ValueError as exc:
            raise DesktopChatError(str(exc)) from None
    ids = [f.id for f in files]
    deadline = time.monotonic() + timeout
    read_at: float | None = None
    told = False
    while True:
        current = library.files_by_id(ids)
        reading = [f for f in current if f.state in _READING]
        embedding = [f for f in current if f.state is FileState.INDEXED and f.embedded < f.chunks]
        now = time.monotonic()
        if not reading and not embedding:
            break
        if reading and not told:
            note(f"Indexing {', '.join(f.path.name for f in reading)}…")
            told = True
        if reading and now >= deadline:
            note("The attached files are not read yet: the answer uses what is indexed.")
            break
        if not reading:
            read_at = now if read_at is None else read_at
            if now - read_at >= embed_timeout:
                break  # keyword search finds its passages meanwhile (the reply says so)
        if library.wait(0.5):  # indexes here unless the window does; True: all is done
            current = library.files_by_id(ids)
            break
    for f in current:
        if f.state in (FileState.FAILED, FileState.SKIPPED):
            note(f"{f.path}: {f.state.value} ({f.reason or 'not read'})")
    return files


_READING = (FileState.WAITING, FileState.INDEXING)


def _chat(
    args: argparse.Namespace,
    core: Core,
    setup: ChatSetup,
    params: GenerationParams,
    library: DocumentLibrary | None,
) -> int:
    model, conversations = setup.model, core.conversations
    engine = app.make_engine()
    closers: list[Toolbox | None] = []
    try:
        loaded = engine.load(LoadConfig.from_params(model.path, params), lambda _f, _s: None)
        if loaded.n_ctx < params.n_ctx:
            note(
                f"note: context capped at {loaded.n_ctx:,} tokens, the most this model was "
                "trained for"
            )
        approval = TerminalApproval(args.approve)
        toolbox = (
            app.make_toolbox(core, documents=library, permission=approval.permission)
            if params.tools
            else None
        )
        closers.append(toolbox)
        service = app.make_chat_service(core, engine, documents=library, toolbox=toolbox)
        # Stored like the window stores them: a new conversation keeps its model and
        # settings, a continued one the settings and model changed for this message.
        conversation = setup.conversation
        if conversation is None:
            conversation = conversations.create(params=params, model_path=str(model.path))
        else:
            if params != conversation.params:
                conversations.set_params(conversation.id, params)
            if str(model.path) != conversation.model_path:
                conversations.set_model(conversation.id, str(model.path))
        cancel = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
        printer = StreamPrinter(quiet=args.json, approve=approval.approve)
        try:
            result = service.reply(conversation.id, setup.prompt, params, cancel, printer)
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
        for toolbox_open in closers:
            if toolbox_open is not None:
                toolbox_open.close()  # the MCP servers it started end here
        engine.close()
    if args.json:
        emit_json(
            {
                "conversation_id": result.conversation_id,
                "user_message_id": result.user_message_id,
                "assistant_message_id": result.assistant_message_id,
                "model": model.name,
                "model_path": str(model.path),
                "reply": result.text,
                "finish_reason": result.finish_reason.value,
                "status": result.status.value,
                "time_to_first_token": result.stats.time_to_first_token,
                "tokens_per_second": result.stats.tokens_per_second,
                "prompt_tokens": result.stats.prompt_tokens,
                "completion_tokens": result.stats.completion_tokens,
                "dropped_messages": result.stats.dropped_messages,
                "seed": result.stats.seed,
                "documents_tokens": result.stats.documents_tokens,
                "documents": documents_json(result.stats.documents),
                "reasoning": result.reasoning,
                "reasoning_tokens": result.stats.reasoning_tokens,
                "tool_calls": [
                    {
                        "id": run.call.id,
                        "name": run.call.name,
                        "tool": run.tool,
                        "server": run.server,
                        "arguments": run.call.arguments,
                        "decision": run.decision,
                        "result": run.result,
                        "is_error": run.is_error,
                        "message_id": run.message_id,
                    }
                    for run in result.tool_runs
                ],
            }
        )
    else:
        sys.stdout.write("\n")
        if result.stats.documents is not None:
            lines = describe_sources(result.stats.documents)
            if lines:
                sys.stdout.write("\n" + "\n".join(lines) + "\n")
        sys.stdout.flush()
        if printer.notice:
            note(printer.notice)
    if params.json_mode and result.finish_reason is FinishReason.LENGTH:
        note("note: the reply reached --max-tokens before its JSON was complete")
    return EXIT_INTERRUPTED if cancel.is_set() else EXIT_OK
