"""The shapes storage hands out besides the chat objects, and how rows become objects.

Titles (the default, the length a first message gives one, cleaning), the trash's
keeping time, the list rows of the sidebar, and the row mappers shared by the
repository's parts. No SQL runs here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from desktopchat.core.chat import (
    Conversation,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    PromptRecord,
    Role,
    clean_text,
    tool_calls_from_json,
)

DEFAULT_TITLE = "New chat"
TITLE_LENGTH = 60
TRASH_DAYS = 30  # a conversation in the trash is deleted for good after this long


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    updated_at: float
    message_count: int
    pinned: bool = False
    deleted_at: float | None = None


@dataclass(frozen=True)
class DeletedBranch:
    """Messages deleted from a conversation (a message and everything below it), kept in
    memory so that the deletion can be undone."""

    conversation_id: int
    messages: list[Message]  # parents first
    active_leaf_id: int | None  # the conversation's active leaf before the deletion
    prompts: list[PromptRecord] = field(default_factory=list)  # what their replies received


def title_from(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= TITLE_LENGTH:
        return line or DEFAULT_TITLE
    return line[: TITLE_LENGTH - 1].rstrip() + "…"


def clean_title(title: str) -> str:
    """One line of valid text, or the default title."""
    return " ".join(clean_text(title).split()) or DEFAULT_TITLE


def conversation_from(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        active_leaf_id=row["active_leaf_id"],
        model_path=row["model_path"],
        params=GenerationParams.from_json(row["params_json"]),
        pinned=bool(row["pinned"]),
        deleted_at=row["deleted_at"],
        title_source=row["title_source"],
    )


def message_from(row: sqlite3.Row) -> Message:
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        parent_id=row["parent_id"],
        role=Role(row["role"]),
        content=row["content"],
        status=MessageStatus(row["status"]),
        created_at=row["created_at"],
        model=row["model"],
        finish_reason=row["finish_reason"],
        stats=GenerationStats.from_json(row["stats_json"]),
        reasoning=row["reasoning"],
        tool_calls=tool_calls_from_json(row["tool_calls_json"]),
        tool_call_id=row["tool_call_id"],
        tool_name=row["tool_name"],
    )
