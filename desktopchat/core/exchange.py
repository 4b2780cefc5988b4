"""Conversations in and out: Markdown, self-contained HTML and our JSON, and imports of our
JSON and of a ChatGPT data export (``conversations.json``).

Our JSON is lossless and versioned (``FORMAT``/``VERSION``, documented in
docs/export-format.md): every message of every branch with its parent, role, status,
times, model, stop reason and generation stats, plus the conversation's title, times,
model and settings. Markdown and HTML hold what the window shows: each conversation's
active branch.
"""

from __future__ import annotations

import collections
import datetime
import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from desktopchat import __version__
from desktopchat.core.chat import (
    Conversation,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    Role,
)
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.storage.repositories import ConversationRepository

K = TypeVar("K")
FORMAT = "desktopchat-conversations"
VERSION = 1


class ExchangeError(DesktopChatError):
    """A file to import cannot be read as conversations."""


Exported = tuple[Conversation, list[Message]]  # a conversation and every message, parents first


# -- out --------------------------------------------------------------------------------


def to_json(conversations: list[Exported]) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "version": VERSION,
            "exported_by": f"DesktopChat {__version__}",
            "exported_at": _iso(datetime.datetime.now(datetime.UTC).timestamp()),
            "conversations": [_conversation_json(c, m) for c, m in conversations],
        },
        ensure_ascii=False,
        indent=1,
    )


def _conversation_json(conversation: Conversation, messages: list[Message]) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "model_path": conversation.model_path,
        "params": asdict(conversation.params),
        "active_leaf_id": conversation.active_leaf_id,
        "messages": [message_json(m) for m in messages],
    }


def message_json(m: Message) -> dict[str, Any]:
    """One message as our JSON holds it (also what `conversations show --json` prints)."""
    return {
        "id": m.id,
        "parent_id": m.parent_id,
        "role": m.role.value,
        "content": m.content,
        "status": m.status.value,
        "created_at": m.created_at,
        "model": m.model,
        "finish_reason": m.finish_reason,
        "stats": asdict(m.stats) if m.stats else None,
    }


def active_branch(conversation: Conversation, messages: list[Message]) -> list[Message]:
    by_id = {m.id: m for m in messages}
    branch = []
    current = by_id.get(conversation.active_leaf_id or -1)
    while current is not None:
        branch.append(current)
        current = by_id.get(current.parent_id or -1)
    return branch[::-1]


_NAMES = {Role.SYSTEM: "System", Role.USER: "You", Role.ASSISTANT: "Assistant"}
_STATUS = {
    MessageStatus.STOPPED: "stopped",
    MessageStatus.PARTIAL: "interrupted",
    MessageStatus.ERROR: "failed",
}


def to_markdown(conversations: list[Exported]) -> str:
    parts = []
    for conversation, messages in conversations:
        lines = [f"# {conversation.title}", "", f"*{_when(conversation.created_at)}*"]
        if conversation.model_path:
            lines[-1] += f" · model `{conversation.model_path.rsplit('/', 1)[-1]}`"
        if conversation.params.system_prompt:
            lines += ["", "**System prompt:**", "", _quote(conversation.params.system_prompt)]
        for message in active_branch(conversation, messages):
            status = _STATUS.get(message.status)
            heading = f"## {_NAMES[message.role]}" + (f" ({status})" if status else "")
            lines += ["", heading, "", message.content]
        parts.append("\n".join(lines) + "\n")
    return "\n---\n\n".join(parts)


_STYLE = """
body { font: 16px/1.55 system-ui, sans-serif; max-width: 46em; margin: 2em auto;
       padding: 0 1em; color: #1f2328; background: #fff; }
h1 { font-size: 1.5em; margin-top: 2em; } .meta { color: #57606a; }
.message { margin: 1em 0; padding: .6em .9em; border-radius: 8px; }
.user { background: #ddf4ff; } .assistant { background: #f6f8fa; }
.system { background: #fff8c5; } .who { font-weight: 600; margin-bottom: .3em; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background: #0d1117; } .meta { color: #8d96a0; }
  .user { background: #0c2d6b; } .assistant { background: #161b22; }
  .system { background: #3b2e00; }
}
"""


def to_html(conversations: list[Exported]) -> str:
    """One self-contained page (no scripts, no external files)."""
    body = []
    for conversation, messages in conversations:
        body.append(f"<h1>{html.escape(conversation.title)}</h1>")
        meta = _when(conversation.created_at)
        if conversation.model_path:
            meta += f" · model {conversation.model_path.rsplit('/', 1)[-1]}"
        body.append(f'<p class="meta">{html.escape(meta)}</p>')
        shown = active_branch(conversation, messages)
        if conversation.params.system_prompt:
            shown = [
                Message(
                    0,
                    conversation.id,
                    None,
                    Role.SYSTEM,
                    conversation.params.system_prompt,
                    MessageStatus.COMPLETE,
                    0.0,
                ),
                *shown,
            ]
        for message in shown:
            status = _STATUS.get(message.status)
            who = _NAMES[message.role] + (f" ({status})" if status else "")
            body.append(
                f'<div class="message {message.role.value}"><div class="who">'
                f'{html.escape(who)}</div><div class="text">{html.escape(message.content)}'
                "</div></div>"
            )
    title = conversations[0][0].title if len(conversations) == 1 else "Conversations"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} — DesktopChat</title><style>{_STYLE}</style>"
        "</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines())


# -- in ---------------------------------------------------------------------------------


def parse(text: str) -> list[Exported]:
    """Conversations from our JSON or a ChatGPT export; raises ExchangeError."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ExchangeError(f"The file is not JSON ({exc}).") from None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        version = data.get("version")
        if version != VERSION:
            raise ExchangeError(
                f"The file is a DesktopChat export of version {version!r}; this version of "
                f"DesktopChat reads version {VERSION}."
            )
        return [_ours(c, index) for index, c in enumerate(_list(data.get("conversations")))]
    if isinstance(data, list) and all(isinstance(c, dict) and "mapping" in c for c in data):
        return [_chatgpt(c) for c in data]
    raise ExchangeError(
        "The file is neither a DesktopChat export nor a ChatGPT conversations.json."
    )


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ExchangeError("The file's conversations are not a list.")
    return value


def _ours(raw: Any, index: int) -> Exported:
    try:
        messages = [
            Message(
                id=int(m["id"]),
                conversation_id=0,
                parent_id=None if m["parent_id"] is None else int(m["parent_id"]),
                role=Role(m["role"]),
                content=str(m["content"]),
                status=MessageStatus(m["status"]),
                created_at=float(m["created_at"]),
                model=str(m.get("model", "")),
                finish_reason=str(m.get("finish_reason", "")),
                stats=GenerationStats(**m["stats"]) if m.get("stats") else None,
            )
            for m in _list(raw["messages"])
        ]
        conversation = Conversation(
            id=0,
            title=str(raw["title"]),
            created_at=float(raw["created_at"]),
            updated_at=float(raw["updated_at"]),
            active_leaf_id=raw.get("active_leaf_id"),
            model_path=str(raw.get("model_path", "")),
            params=GenerationParams.from_json(json.dumps(raw.get("params", {}))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ExchangeError(f"Conversation {index + 1} in the file is damaged ({exc}).") from None
    return conversation, _parents_first(messages)


def _parents_first(messages: list[Message]) -> list[Message]:
    """Order messages so each comes after its parent; a message whose parent is missing
    (or that is part of a loop) is refused."""
    by_id = {m.id: m for m in messages}
    order = _top_down({m.id: m.parent_id for m in messages})
    missing = any(m.parent_id is not None and m.parent_id not in by_id for m in messages)
    if missing or len(order) != len(messages):
        raise ExchangeError("Some messages in the file have no parent in it.")
    return [by_id[key] for key in order]


def _top_down(parents: dict[K, K | None]) -> list[K]:
    """The keys, parents before children: breadth-first from the roots (a key whose
    parent is None or not among the keys). Keys in a loop are left out."""
    children: dict[K | None, list[K]] = {}
    for key, parent in parents.items():
        children.setdefault(parent if parent in parents else None, []).append(key)
    order: list[K] = []
    queue = collections.deque(children.get(None, []))
    while queue:
        key = queue.popleft()
        order.append(key)
        queue.extend(children.get(key, []))
    return order


_CHATGPT_ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "system": Role.SYSTEM}


def _chatgpt(raw: dict[str, Any]) -> Exported:
    """A ChatGPT conversation: its message tree (mapping), keeping the text of user,
    assistant and visible system messages; tool calls, images and hidden messages are
    left out, and their children attached to the nearest kept ancestor."""
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict):
        raise ExchangeError("A ChatGPT conversation has no message tree.")
    numbers = {key: index + 1 for index, key in enumerate(mapping)}
    kept: dict[str, Message] = {}

    def text_of(node: dict[str, Any]) -> tuple[Role, str, float] | None:
        message = node.get("message") or {}
        role = _CHATGPT_ROLES.get(((message.get("author") or {}).get("role")) or "")
        content = message.get("content") or {}
        if role is None or content.get("content_type") not in ("text", "multimodal_text"):
            return None
        if (message.get("metadata") or {}).get("is_visually_hidden_from_conversation"):
            return None
        text = "\n".join(p for p in content.get("parts") or [] if isinstance(p, str)).strip()
        if not text:
            return None
        return role, text, float(message.get("create_time") or raw.get("create_time") or 0)

    def kept_ancestor(key: str | None) -> int | None:
        seen = set()
        while key is not None and key not in seen:
            seen.add(key)
            if key in kept:
                return kept[key].id
            key = (mapping.get(key) or {}).get("parent")
        return None

    order = _top_down(
        {k: n.get("parent") if isinstance(n, dict) else None for k, n in mapping.items()}
    )
    for key in order:
        node = mapping[key]
        found = text_of(node)
        if found is None:
            continue
        role, text, when = found
        kept[key] = Message(
            numbers[key],
            0,
            kept_ancestor(node.get("parent")),
            role,
            text,
            MessageStatus.COMPLETE,
            when,
            model=str(((node.get("message") or {}).get("metadata") or {}).get("model_slug") or ""),
        )
    leaf = kept_ancestor(raw.get("current_node"))
    created = float(raw.get("create_time") or 0)
    conversation = Conversation(
        id=0,
        title=str(raw.get("title") or "ChatGPT conversation"),
        created_at=created,
        updated_at=float(raw.get("update_time") or created),
        active_leaf_id=leaf,
    )
    return conversation, list(kept.values())


# -- files ------------------------------------------------------------------------------

WRITERS = {"md": to_markdown, "html": to_html, "json": to_json}


def export_file(repo: ConversationRepository, ids: list[int] | None, fmt: str, out: Path) -> int:
    """Write conversations ``ids`` (None: every one not in the trash) to ``out`` as
    ``fmt`` (md, html or json). Returns how many were written."""
    wanted = ids if ids is not None else [c.id for c in repo.summaries("")]
    conversations = [(repo.get(i), repo.all_messages(i)) for i in wanted]
    try:
        out.write_text(WRITERS[fmt](conversations), encoding="utf-8")
    except OSError as exc:
        raise ExchangeError(f"Cannot write {out}: {exc.strerror or exc}.") from None
    return len(conversations)


def import_file(repo: ConversationRepository, path: Path) -> tuple[list[int], int]:
    """Add the conversations in ``path`` (our JSON, or ChatGPT's conversations.json).
    Returns the new conversations' ids and how many messages they hold."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExchangeError(f"Cannot read {path}: {exc}.") from None
    found = parse(text)
    ids = [repo.restore(conversation, messages) for conversation, messages in found]
    return ids, sum(len(m) for _c, m in found)
