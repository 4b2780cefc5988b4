"""Our own JSON format (``FORMAT``/``VERSION``, documented in docs/export-format.md):
lossless and versioned. Every message of every branch with its parent, role, status,
times, model, stop reason and generation stats, plus the conversation's title, times,
model and settings. Writing it, and reading it back strictly (a damaged file is refused)."""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from typing import Any

from desktopchat import __version__
from desktopchat.core.chat import (
    Conversation,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    Role,
    ToolCall,
)
from desktopchat.core.exchange.base import ExchangeError, Exported, top_down

FORMAT = "desktopchat-conversations"
VERSION = 1


def is_ours(data: object) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT


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
        # A thinking model's reasoning, apart from its answer ("" when it did not think).
        "reasoning": m.reasoning,
        **({"tool_calls": [c.to_dict() for c in m.tool_calls]} if m.tool_calls else {}),
        **(
            {"tool_call_id": m.tool_call_id, "tool_name": m.tool_name}
            if m.role is Role.TOOL
            else {}
        ),
    }


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat()


def from_json(data: dict[str, Any]) -> list[Exported]:
    """The conversations of our JSON (already decoded); raises ExchangeError."""
    version = data.get("version")
    if version != VERSION:
        raise ExchangeError(
            f"The file is a DesktopChat export of version {version!r}; this version of "
            f"DesktopChat reads version {VERSION}."
        )
    return [_ours(c, index) for index, c in enumerate(_list(data.get("conversations")))]


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
                stats=_stats(m.get("stats")),
                reasoning=str(m.get("reasoning") or ""),
                tool_calls=_tool_calls(m.get("tool_calls")),
                tool_call_id=str(m.get("tool_call_id") or ""),
                tool_name=str(m.get("tool_name") or ""),
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


def _stats(raw: object) -> GenerationStats | None:
    """A message's stats as the file holds them (with a reply's document sources)."""
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise ValueError("stats that are not an object")
    return GenerationStats.from_dict(raw)


def _tool_calls(raw: object) -> tuple[ToolCall, ...]:
    """An assistant message's tool calls as the file holds them (a damaged one refused)."""
    if not raw:
        return ()
    if not isinstance(raw, list):
        raise ValueError("tool calls that are not a list")
    calls = tuple(ToolCall.from_dict(c) for c in raw)
    if any(c is None for c in calls):
        raise ValueError("a tool call without an id, a name or an arguments object")
    return tuple(c for c in calls if c is not None)


def _parents_first(messages: list[Message]) -> list[Message]:
    """Order messages so each comes after its parent; a message whose parent is missing
    (or that is part of a loop) is refused."""
    by_id = {m.id: m for m in messages}
    order = top_down({m.id: m.parent_id for m in messages})
    missing = any(m.parent_id is not None and m.parent_id not in by_id for m in messages)
    if missing or len(order) != len(messages):
        raise ExchangeError("Some messages in the file have no parent in it.")
    return [by_id[key] for key in order]
