"""``chat``: send one message (a new conversation or a continued one) and stream the reply,
with the model and settings chat_settings chose; the conversation keeps them. With
document collections attached (``--docs NAME``, or kept by the conversation), the reply
is answered from their passages and its sources are printed (``--json``: ``documents``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from desktopchat import app
from desktopchat.cli.chat_settings import ChatSetup, chat_setup
from desktopchat.cli.documents import (
    OpenLibrary,
    collection_ids,
    describe_sources,
    documents_json,
)
from desktopchat.cli.output import EXIT_INTERRUPTED, EXIT_OK, StreamPrinter, emit_json, note
from desktopchat.core.chat import FinishReason, GenerationParams
from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.inference.engine import LoadConfig
from desktopchat.core.session import Core


def chat(args: argparse.Namespace, core: Core, open_library: OpenLibrary) -> int:
    setup = chat_setup(args, core)
    params = setup.params
    library: DocumentLibrary | None = None
    if args.no_docs:
        params = params.with_changes(documents=())
    elif args.docs or params.documents:
        library = open_library()
    try:
        if library is not None and args.docs:
            params = params.with_changes(documents=collection_ids(library, args.docs))
        return _chat(args, core, setup, params, library)
    finally:
        if library is not None:
            library.close()


def _chat(
    args: argparse.Namespace,
    core: Core,
    setup: ChatSetup,
    params: GenerationParams,
    library: DocumentLibrary | None,
) -> int:
    model, conversations = setup.model, core.conversations
    engine = app.make_engine()
    try:
        loaded = engine.load(LoadConfig.from_params(model.path, params), lambda _f, _s: None)
        if loaded.n_ctx < params.n_ctx:
            note(
                f"note: context capped at {loaded.n_ctx:,} tokens, the most this model was "
                "trained for"
            )
        service = app.make_chat_service(core, engine, documents=library)
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
        printer = StreamPrinter(quiet=args.json)
        try:
            result = service.reply(conversation.id, setup.prompt, params, cancel, printer)
        finally:
            signal.signal(signal.SIGINT, previous)
    finally:
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
