"""``conversations list|show``, ``search``, ``export`` and ``import``: the chats in the
database, and conversations in and out of it (the exchange module reads and writes files;
it recognises the formats, so the CLI filters no file names)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from desktopchat.cli.output import EXIT_OK, emit_json, note
from desktopchat.core import exchange
from desktopchat.core.session import Core
from desktopchat.core.storage.repositories import SNIPPET_MARKS


def conversations(args: argparse.Namespace, core: Core) -> int:
    repo = core.conversations
    if args.action == "list":
        items = repo.summaries()
        if args.json:
            emit_json([asdict(item) for item in items])
        else:
            for item in items:
                stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.updated_at))
                print(f"{item.id:>6}  {stamp}  {item.message_count:>4} msgs  {item.title}")
        return EXIT_OK
    conversation = repo.get(args.id)
    messages = repo.active_path(args.id)
    if args.json:
        emit_json(
            {
                "id": conversation.id,
                "title": conversation.title,
                "model_path": conversation.model_path,
                "params": asdict(conversation.params),
                "messages": [exchange.message_json(m) for m in messages],
            }
        )
        return EXIT_OK
    print(f"# {conversation.title}  (conversation {conversation.id})")
    for message in messages:
        marker = "" if message.status.value == "complete" else f" [{message.status.value}]"
        print(f"\n{message.role.value}{marker}:\n{message.content}")
    return EXIT_OK


def search(args: argparse.Namespace, core: Core) -> int:
    hits = core.conversations.search(args.query, newest_first=not args.best, limit=args.limit)
    start, end = SNIPPET_MARKS
    if args.json:
        emit_json(
            [
                {
                    "conversation_id": h.conversation_id,
                    "message_id": h.message_id,
                    "title": h.title,
                    "role": h.role.value,
                    "snippet": h.snippet.replace(start, "").replace(end, ""),
                    "created_at": h.created_at,
                }
                for h in hits
            ]
        )
        return EXIT_OK
    for hit in hits:
        snippet = hit.snippet.replace(start, "**").replace(end, "**")
        print(f"[{hit.conversation_id}] {hit.title} ({hit.role.value}): {snippet}")
    return EXIT_OK


def import_(args: argparse.Namespace, core: Core) -> int:
    result = exchange.import_file(core.conversations, Path(args.file))
    print(f"Imported {len(result.ids)} conversations ({result.messages} messages).")
    for skipped in result.skipped:  # conversations that hold nothing to import
        note(f"left out “{skipped.title}”: {skipped.reason}")
    return EXIT_OK


def export(args: argparse.Namespace, core: Core) -> int:
    wanted = [args.conversation] if args.conversation else None
    written = exchange.export_file(core.conversations, wanted, args.format, Path(args.out))
    print(f"Exported {written} conversations to {args.out}.")
    return EXIT_OK
