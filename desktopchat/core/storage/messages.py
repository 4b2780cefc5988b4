"""Messages and the branch tree: appending and updating messages (kept in step with the
full-text index in the same transactions), a branch from the root to a leaf, the active
leaf, siblings, deleting a branch and undoing it, and storing a whole imported tree.

One part of ConversationRepository; it builds on the conversations and prompt parts.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace

from desktopchat.core.chat import (
    Conversation,
    GenerationStats,
    Message,
    MessageStatus,
    Role,
    ToolCall,
    clean_text,
    tool_calls_to_json,
)
from desktopchat.core.errors import NotFoundError
from desktopchat.core.storage.conversations import ConversationsPart
from desktopchat.core.storage.fulltext import index_text
from desktopchat.core.storage.prompts import PromptsPart
from desktopchat.core.storage.rows import (
    DEFAULT_TITLE,
    DeletedBranch,
    clean_title,
    message_from,
    title_from,
)


class MessagesPart(ConversationsPart, PromptsPart):
    """The messages table as a tree of branches."""

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        parent_id: int | None,
        status: MessageStatus = MessageStatus.COMPLETE,
        model: str = "",
        tool_call_id: str = "",
        tool_name: str = "",
    ) -> Message:
        """Append a message and make it the conversation's active leaf, in one commit
        (a Role.TOOL message names the call it answers)."""
        now = time.time()
        content = clean_text(content)
        tool_call_id, tool_name = clean_text(tool_call_id), clean_text(tool_name)
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"There is no conversation {conversation_id}.")
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, status,"
                " created_at, updated_at, model, tool_call_id, tool_name)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    parent_id,
                    role.value,
                    content,
                    status.value,
                    now,
                    now,
                    model,
                    tool_call_id,
                    tool_name,
                ),
            )
            message_id = cursor.lastrowid
            assert message_id is not None
            conn.execute(
                "INSERT INTO messages_fts(rowid, content, grams) VALUES (?, ?, ?)",
                (message_id, content, index_text(content)),
            )
            title = row[0]
            if role is Role.USER and title == DEFAULT_TITLE:
                title = title_from(content)
            conn.execute(
                "UPDATE conversations SET active_leaf_id = ?, updated_at = ?, title = ?"
                " WHERE id = ?",
                (message_id, now, title, conversation_id),
            )
        return Message(
            id=message_id,
            conversation_id=conversation_id,
            parent_id=parent_id,
            role=role,
            content=content,
            status=status,
            created_at=now,
            model=model,
            tool_call_id=tool_call_id,
            tool_name=tool_name,
        )

    def update_message(
        self,
        message_id: int,
        content: str,
        status: MessageStatus,
        *,
        finish_reason: str = "",
        stats: GenerationStats | None = None,
        reasoning: str | None = None,
        tool_calls: tuple[ToolCall, ...] | None = None,
    ) -> None:
        """Save a message's text and status (and, when given, its reasoning and tool
        calls; None keeps what is stored). The reasoning is searched with the answer."""
        content = clean_text(content)
        reasoning = clean_text(reasoning) if reasoning is not None else None
        with self._db.write() as conn:
            if reasoning is None:
                row = conn.execute(
                    "SELECT reasoning FROM messages WHERE id = ?", (message_id,)
                ).fetchone()
                stored = row[0] if row is not None else ""
            else:
                stored = reasoning
            searched = f"{content}\n{stored}" if stored else content
            conn.execute(
                "UPDATE messages_fts SET content = ?, grams = ? WHERE rowid = ?",
                (searched, index_text(searched), message_id),
            )
            conn.execute(
                "UPDATE messages SET content = ?, status = ?, finish_reason = ?,"
                " stats_json = COALESCE(?, stats_json), reasoning = COALESCE(?, reasoning),"
                " tool_calls_json = COALESCE(?, tool_calls_json), updated_at = ? WHERE id = ?",
                (
                    content,
                    status.value,
                    finish_reason,
                    stats.to_json() if stats else None,
                    reasoning,
                    tool_calls_to_json(tool_calls) if tool_calls is not None else None,
                    time.time(),
                    message_id,
                ),
            )

    def get_message(self, message_id: int) -> Message:
        rows = self._db.query("SELECT * FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise NotFoundError(f"There is no message {message_id}.")
        return message_from(rows[0])

    def path_to(self, leaf_id: int | None) -> list[Message]:
        """The messages from the root down to ``leaf_id``: one branch of the tree."""
        if leaf_id is None:
            return []
        rows = self._db.query(
            "WITH RECURSIVE branch(id, depth) AS ("
            "  SELECT ?, 0"
            "  UNION ALL"
            "  SELECT m.parent_id, b.depth + 1 FROM messages m JOIN branch b ON m.id = b.id"
            "  WHERE m.parent_id IS NOT NULL"
            ") SELECT m.* FROM branch b JOIN messages m ON m.id = b.id ORDER BY b.depth DESC",
            (leaf_id,),
        )
        return [message_from(r) for r in rows]

    def set_active_leaf(self, conversation_id: int, message_id: int) -> None:
        """Show the branch that ends at ``message_id`` (a message of this conversation)."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE conversations SET active_leaf_id = ? WHERE id = ? AND EXISTS"
                " (SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?)",
                (message_id, conversation_id, message_id, conversation_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"There is no message {message_id} in that conversation.")

    def active_path(self, conversation_id: int) -> list[Message]:
        return self.path_to(self.get(conversation_id).active_leaf_id)

    def restore(self, conversation: Conversation, messages: list[Message]) -> int:
        """Store a whole conversation as it was (an import): titles, times, settings,
        every branch, stats, in one commit. ``messages`` are parents first; their ids
        (and ``conversation.active_leaf_id``) are only the file's own and are renumbered.
        Returns the new conversation's id."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model_path,"
                " params_json) VALUES (?, ?, ?, ?, ?)",
                (
                    clean_title(conversation.title),
                    conversation.created_at,
                    conversation.updated_at,
                    conversation.model_path,
                    conversation.params.to_json(),
                ),
            )
            new_id = cursor.lastrowid
            assert new_id is not None
            ids = _insert_messages(conn, new_id, messages, {})
            leaf = ids.get(conversation.active_leaf_id or -1)
            conn.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (leaf, new_id))
        return new_id

    def children(self, conversation_id: int) -> dict[int | None, list[int]]:
        """Every message's children (the roots under None), oldest first: the tree's
        shape, for "‹ 2/3 ›" navigation between sibling versions."""
        tree: dict[int | None, list[int]] = {}
        for row in self._db.query(
            "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ):
            tree.setdefault(row[1], []).append(row[0])
        return tree

    def newest_leaf_under(self, message_id: int) -> int:
        """The most recent message at or below ``message_id``: a child is always newer
        than its parent, so this is a leaf, the end of the branch last written there."""
        rows = self._db.query(
            "WITH RECURSIVE below(id) AS ("
            "  SELECT ? UNION ALL SELECT m.id FROM messages m JOIN below b ON m.parent_id = b.id"
            ") SELECT max(id) FROM below",
            (message_id,),
        )
        return int(rows[0][0])

    def switch_branch(self, conversation_id: int, message_id: int) -> int:
        """Show the branch through ``message_id`` (down to its newest leaf); returns the
        new active leaf."""
        leaf = self.newest_leaf_under(message_id)
        self.set_active_leaf(conversation_id, leaf)
        return leaf

    def delete_branch(self, message_id: int) -> DeletedBranch:
        """Delete a message and everything below it. The conversation then shows the
        newest remaining sibling's branch, or the parent. Returns what undo needs."""
        message = self.get_message(message_id)
        conversation = self.get(message.conversation_id)
        rows = self._db.query(
            "WITH RECURSIVE below(id) AS ("
            "  SELECT ? UNION ALL SELECT m.id FROM messages m JOIN below b ON m.parent_id = b.id"
            ") SELECT m.* FROM messages m JOIN below b ON m.id = b.id ORDER BY m.id",
            (message_id,),
        )
        deleted = [message_from(r) for r in rows]
        prompts = [p for p in (self.prompt_for(m.id) for m in deleted) if p is not None]
        siblings = [
            i for i in self.children(conversation.id).get(message.parent_id, []) if i != message_id
        ]
        with self._db.write() as conn:
            conn.execute(
                "UPDATE conversations SET active_leaf_id = NULL WHERE id = ?", (conversation.id,)
            )
            conn.executemany("DELETE FROM messages_fts WHERE rowid = ?", [(m.id,) for m in deleted])
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))  # cascades
        if siblings:
            self.switch_branch(conversation.id, siblings[-1])
        elif message.parent_id is not None:
            self.set_active_leaf(conversation.id, message.parent_id)
        return DeletedBranch(conversation.id, deleted, conversation.active_leaf_id, prompts)

    def undo_delete(self, branch: DeletedBranch) -> None:
        """Put deleted messages back (with new ids) and show the branch shown before."""
        with self._db.write() as conn:
            ids = _insert_messages(conn, branch.conversation_id, branch.messages, None)
            leaf = ids.get(branch.active_leaf_id or -1, branch.active_leaf_id)
            conn.execute(
                "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                (leaf, branch.conversation_id),
            )
        for record in branch.prompts:
            self.save_prompt(replace(record, message_id=ids[record.message_id]))

    def all_messages(self, conversation_id: int) -> list[Message]:
        rows = self._db.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        return [message_from(r) for r in rows]


def _insert_messages(
    conn: sqlite3.Connection,
    conversation_id: int,
    messages: list[Message],
    ids: dict[int, int] | None,
) -> dict[int, int]:
    """Insert ``messages`` (parents first) with new ids; returns old id -> new id. With
    ``ids`` None, a parent outside ``messages`` is an existing message (an undone delete);
    with a mapping, every parent must be in it (a whole imported tree)."""
    known: dict[int, int] = {} if ids is None else ids
    for message in messages:
        parent = message.parent_id
        if parent is not None and parent in known:
            parent = known[parent]
        elif parent is not None and ids is not None:
            raise ValueError(f"message {message.id} comes before its parent")
        content = clean_text(message.content)
        reasoning = clean_text(message.reasoning)
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, status,"
            " created_at, updated_at, model, finish_reason, stats_json, reasoning,"
            " tool_calls_json, tool_call_id, tool_name)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                parent,
                message.role.value,
                content,
                message.status.value,
                message.created_at,
                message.created_at,
                message.model,
                message.finish_reason,
                message.stats.to_json() if message.stats else None,
                reasoning,
                tool_calls_to_json(message.tool_calls),
                clean_text(message.tool_call_id),
                clean_text(message.tool_name),
            ),
        )
        assert cursor.lastrowid is not None
        known[message.id] = cursor.lastrowid
        searched = f"{content}\n{reasoning}" if reasoning else content
        conn.execute(
            "INSERT INTO messages_fts(rowid, content, grams) VALUES (?, ?, ?)",
            (cursor.lastrowid, searched, index_text(searched)),
        )
    return known
