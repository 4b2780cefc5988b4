"""``chat``: send one message (a new conversation or a continued one) and stream the reply,
with the model, settings and listener the CLI chose."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from desktopchat import app
from desktopchat.cli.output import EXIT_INTERRUPTED, EXIT_OK, StreamPrinter, emit_json, note
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.engine import LoadConfig
from desktopchat.core.models.library import InstalledModel, default_params
from desktopchat.core.session import Core


def chat(args: argparse.Namespace, core: Core) -> int:
    conversations = core.conversations
    model: InstalledModel = core.library.find(args.model)
    if model.info is None:
        raise DesktopChatError(model.problem)
    if args.conversation is not None:
        conversation = conversations.get(args.conversation)
        params = conversation.params
    else:
        params = default_params(model, core.model_records)
        conversation = None
    changes: dict[str, object] = {}
    for name, field in (
        ("system", "system_prompt"),
        ("temperature", "temperature"),
        ("max_tokens", "max_tokens"),
        ("seed", "seed"),
        ("context", "n_ctx"),
        ("threads", "n_threads"),
    ):
        value = getattr(args, name)
        if value is not None:
            changes[field] = value
    try:
        params = params.with_changes(**changes).validated()
    except ValueError as exc:
        raise DesktopChatError(f"Invalid setting: {exc}.") from None
    if not args.prompt.strip():
        raise DesktopChatError("The message is empty. Type something to send.")

    engine = app.make_engine()
    loaded = engine.load(LoadConfig.from_params(model.path, params), lambda _f, _s: None)
    if loaded.n_ctx < params.n_ctx:
        note(
            f"note: context capped at {loaded.n_ctx:,} tokens, the most this model was trained for"
        )
    service = app.make_chat_service(core, engine)
    if conversation is None:
        conversation = conversations.create(params=params, model_path=str(model.path))
    elif changes:
        conversations.set_params(conversation.id, params)

    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    printer = StreamPrinter(quiet=args.json)
    try:
        result = service.reply(conversation.id, args.prompt, params, cancel, printer)
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.unload()
    if args.json:
        emit_json(
            {
                "conversation_id": result.conversation_id,
                "user_message_id": result.user_message_id,
                "assistant_message_id": result.assistant_message_id,
                "model": model.name,
                "reply": result.text,
                "finish_reason": result.finish_reason.value,
                "status": result.status.value,
                "time_to_first_token": result.stats.time_to_first_token,
                "tokens_per_second": result.stats.tokens_per_second,
                "prompt_tokens": result.stats.prompt_tokens,
                "completion_tokens": result.stats.completion_tokens,
                "dropped_messages": result.stats.dropped_messages,
                "seed": result.stats.seed,
            }
        )
    else:
        sys.stdout.write("\n")
        sys.stdout.flush()
        if printer.notice:
            note(printer.notice)
    return EXIT_INTERRUPTED if cancel.is_set() else EXIT_OK
