"""Conversation rows: create, read, list a page of the sidebar, rename and titles, pins,
the trash, per-conversation settings and model, and deleting a conversation for good.

One part of ConversationRepository (repositories.py composes the parts over one
Database); the messages, the search and the prompt records are the other parts.
"""

from __future__ import annotations

import time

from desktopchat.core.chat import Conversation, GenerationParams, clean_text
from desktopchat.core.errors import NotFoundError
from desktopchat.core.storage.changes import CLOCK_SLACK
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.rows import (
    DEFAULT_TITLE,
    ConversationSummary,
    clean_title,
    conversation_from,
    title_from,
)

# Through the changed_at index (sorted in Python: ORDER BY id would scan the table).
CHANGED_SINCE_SQL = (
    "SELECT conversation_id FROM conversation_changes"
    " WHERE changed_at >= ? AND conversation_id > 0"  # row 0 holds the change counter
)


class ConversationsPart:
    """The conversations table, row by row and as the sidebar's list."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        title: str = DEFAULT_TITLE,
        params: GenerationParams | None = None,
        model_path: str = "",
    ) -> Conversation:
        now = time.time()
        params = params or GenerationParams()
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model_path, params_json)"
                " VALUES (?, ?, ?, ?, ?)",
                (clean_title(title), now, now, model_path, params.to_json()),
            )
            new_id = cursor.lastrowid
        assert new_id is not None
        return self.get(new_id)

    def get(self, conversation_id: int) -> Conversation:
        rows = self._db.query("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise NotFoundError(f"There is no conversation {conversation_id}.")
        return conversation_from(rows[0])

    def summaries(
        self,
        filter_text: str = "",
        limit: int | None = None,
        offset: int = 0,
        *,
        trash: bool = False,
    ) -> list[ConversationSummary]:
        """Pinned first, then newest activity first; ``filter_text`` matches titles,
        case-insensitively. ``limit`` and ``offset`` read one page of the list. With
        ``trash``: the conversations in the trash, most recently deleted first."""
        sql = (
            "SELECT c.id, c.title, c.updated_at, c.pinned, c.deleted_at,"
            " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
            " FROM conversations c"
            f" WHERE c.deleted_at IS {'NOT ' if trash else ''}NULL"
        )
        params: list[object] = []
        if filter_text.strip():
            sql += " AND c.title LIKE ? ESCAPE '\\'"
            escaped = filter_text.strip().replace("\\", "\\\\").replace("%", "\\%")
            params.append("%" + escaped.replace("_", "\\_") + "%")
        sql += (
            " ORDER BY c.deleted_at DESC, c.id DESC"
            if trash
            else " ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC"
        )
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else limit, offset]
        return [
            ConversationSummary(
                r["id"], r["title"], r["updated_at"], r["n"], bool(r["pinned"]), r["deleted_at"]
            )
            for r in self._db.query(sql, params)
        ]

    def changed_since(self, when: float) -> list[int]:
        """The conversations whose row or messages changed (were added, edited or deleted,
        by anyone) at or after ``when`` (a time.time()), in id order. A deleted
        conversation's id is among them. One indexed query."""
        rows = self._db.query(CHANGED_SINCE_SQL, (when - CLOCK_SLACK,))
        return sorted(r[0] for r in rows)

    def forget_changes(self, *, before: float) -> int:
        """Drop the change stamps of deleted conversations made before ``before`` (every
        watcher has long seen them). Returns how many went."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM conversation_changes WHERE conversation_id > 0 AND changed_at < ?"
                " AND conversation_id NOT IN (SELECT id FROM conversations)",
                (before,),
            )
            return cursor.rowcount

    def rename(self, conversation_id: int, title: str) -> None:
        """The user's title: automatic titles never replace it."""
        self._update(conversation_id, "title = ?, title_source = 'user'", (clean_title(title),))

    def set_auto_title(self, conversation_id: int, title: str) -> bool:
        """A title the model suggested, unless the user has named the conversation."""
        title = " ".join(clean_text(title).split())
        if not title:
            return False
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE conversations SET title = ?, title_source = 'model'"
                " WHERE id = ? AND title_source = 'message'",
                (title_from(title), conversation_id),
            )
            return cursor.rowcount == 1

    def set_pinned(self, conversation_id: int, pinned: bool) -> None:
        self._update(conversation_id, "pinned = ?", (int(pinned),))

    def move_to_trash(self, conversation_id: int) -> None:
        self._update(conversation_id, "deleted_at = ?", (time.time(),))

    def restore_from_trash(self, conversation_id: int) -> None:
        self._update(conversation_id, "deleted_at = NULL", ())

    def empty_trash(self, older_than_days: float | None = None) -> int:
        """Delete for good what is in the trash (only what went in more than
        ``older_than_days`` ago, when given). Returns how many conversations went."""
        cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
        rows = self._db.query(
            "SELECT id FROM conversations WHERE deleted_at IS NOT NULL"
            + (" AND deleted_at < ?" if cutoff is not None else ""),
            (cutoff,) if cutoff is not None else (),
        )
        for row in rows:
            self.delete(row[0])
        return len(rows)

    def set_params(self, conversation_id: int, params: GenerationParams) -> None:
        self._update(conversation_id, "params_json = ?", (params.validated().to_json(),))

    def set_model(self, conversation_id: int, model_path: str) -> None:
        self._update(conversation_id, "model_path = ?", (model_path,))

    def _update(self, conversation_id: int, assignment: str, values: tuple[object, ...]) -> None:
        with self._db.write() as conn:
            cursor = conn.execute(
                f"UPDATE conversations SET {assignment} WHERE id = ?", (*values, conversation_id)
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"There is no conversation {conversation_id}.")

    def delete(self, conversation_id: int) -> None:
        with self._db.write() as conn:
            # The leaf pointer goes first so the cascade never points at a deleted row.
            conn.execute(
                "UPDATE conversations SET active_leaf_id = NULL WHERE id = ?", (conversation_id,)
            )
            conn.execute(
                "DELETE FROM messages_fts WHERE rowid IN"
                " (SELECT id FROM messages WHERE conversation_id = ?)",
                (conversation_id,),
            )
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            cursor = conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if cursor.rowcount == 0:
                raise NotFoundError(f"There is no conversation {conversation_id}.")
