"""Repositories: the only code that knows the SQL schema."""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass

from desktopchat.core.chat import (
    Conversation,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    Role,
    clean_text,
)
from desktopchat.core.errors import NotFoundError
from desktopchat.core.storage.database import Database

DEFAULT_TITLE = "New chat"
TITLE_LENGTH = 60


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    updated_at: float
    message_count: int


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    message_id: int
    title: str
    role: Role
    snippet: str  # the matching words are wrapped in SNIPPET_MARKS
    created_at: float


SNIPPET_MARKS = ("\x02", "\x03")  # control characters ordinary text does not contain
RANK_WINDOW = 10_000  # best-match search ranks this many of the newest matches
_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """The user's words as a safe FTS5 query: every word must appear, the last one may be
    the start of a word (search as you type). Operators and quotes are not interpreted."""
    words = _WORD.findall(text)
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def title_from(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= TITLE_LENGTH:
        return line or DEFAULT_TITLE
    return line[: TITLE_LENGTH - 1].rstrip() + "…"


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        active_leaf_id=row["active_leaf_id"],
        model_path=row["model_path"],
        params=GenerationParams.from_json(row["params_json"]),
    )


def _message(row: sqlite3.Row) -> Message:
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
    )


def clean_title(title: str) -> str:
    """One line of valid text, or the default title."""
    return " ".join(clean_text(title).split()) or DEFAULT_TITLE


class ConversationRepository:
    """Conversations and their message trees."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- conversations -------------------------------------------------------------

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
        return _conversation(rows[0])

    def summaries(
        self, filter_text: str = "", limit: int | None = None, offset: int = 0
    ) -> list[ConversationSummary]:
        """Newest activity first; ``filter_text`` matches titles, case-insensitively.
        ``limit`` and ``offset`` read one page of the list."""
        sql = (
            "SELECT c.id, c.title, c.updated_at,"
            " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS n"
            " FROM conversations c"
        )
        params: list[object] = []
        if filter_text.strip():
            sql += " WHERE c.title LIKE ? ESCAPE '\\'"
            escaped = filter_text.strip().replace("\\", "\\\\").replace("%", "\\%")
            params.append("%" + escaped.replace("_", "\\_") + "%")
        sql += " ORDER BY c.updated_at DESC, c.id DESC"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else limit, offset]
        return [
            ConversationSummary(r["id"], r["title"], r["updated_at"], r["n"])
            for r in self._db.query(sql, params)
        ]

    def rename(self, conversation_id: int, title: str) -> None:
        self._update(conversation_id, "title = ?", (clean_title(title),))

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

    # -- messages ------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        parent_id: int | None,
        status: MessageStatus = MessageStatus.COMPLETE,
        model: str = "",
    ) -> Message:
        """Append a message and make it the conversation's active leaf, in one commit."""
        now = time.time()
        content = clean_text(content)
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT title FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"There is no conversation {conversation_id}.")
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, parent_id, role, content, status,"
                " created_at, updated_at, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, parent_id, role.value, content, status.value, now, now, model),
            )
            message_id = cursor.lastrowid
            assert message_id is not None
            conn.execute(
                "INSERT INTO messages_fts(rowid, content) VALUES (?, ?)", (message_id, content)
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
        )

    def update_message(
        self,
        message_id: int,
        content: str,
        status: MessageStatus,
        *,
        finish_reason: str = "",
        stats: GenerationStats | None = None,
    ) -> None:
        content = clean_text(content)
        with self._db.write() as conn:
            conn.execute(
                "UPDATE messages_fts SET content = ? WHERE rowid = ?", (content, message_id)
            )
            conn.execute(
                "UPDATE messages SET content = ?, status = ?, finish_reason = ?,"
                " stats_json = COALESCE(?, stats_json), updated_at = ? WHERE id = ?",
                (
                    content,
                    status.value,
                    finish_reason,
                    stats.to_json() if stats else None,
                    time.time(),
                    message_id,
                ),
            )

    def get_message(self, message_id: int) -> Message:
        rows = self._db.query("SELECT * FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise NotFoundError(f"There is no message {message_id}.")
        return _message(rows[0])

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
        return [_message(r) for r in rows]

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

    def search(self, text: str, *, newest_first: bool = False, limit: int = 50) -> list[SearchHit]:
        """Messages containing every word of ``text``, newest first or best match first.

        Best match ranks (bm25) the RANK_WINDOW most recent matches: ranking all of them
        costs ~2 µs per match, too slow for a common word in a 200,000-message history;
        below that many matches the order is exact."""
        query = fts_query(text)
        if not query:
            return []
        start, end = SNIPPET_MARKS
        window = (
            ""
            if newest_first
            else " AND rowid >= coalesce((SELECT min(rowid) FROM (SELECT rowid FROM"
            " messages_fts WHERE messages_fts MATCH ?3 ORDER BY rowid DESC LIMIT ?5)), 0)"
        )
        order = "rowid DESC" if newest_first else "rank"
        params: tuple[object, ...] = (start, end, query, limit)
        rows = self._db.query(
            "SELECT m.id, m.conversation_id, m.role, m.created_at, c.title, f.snippet"
            " FROM (SELECT rowid, rank, snippet(messages_fts, 0, ?1, ?2, '…', 12) AS snippet"
            f"       FROM messages_fts WHERE messages_fts MATCH ?3{window}"
            f"       ORDER BY {order} LIMIT ?4) f"
            " JOIN messages m ON m.id = f.rowid"
            " JOIN conversations c ON c.id = m.conversation_id"
            f" ORDER BY f.{order}",
            params if newest_first else (*params, RANK_WINDOW),
        )
        return [
            SearchHit(
                r["conversation_id"],
                r["id"],
                r["title"],
                Role(r["role"]),
                r["snippet"],
                r["created_at"],
            )
            for r in rows
        ]

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
            ids: dict[int, int] = {}
            for message in messages:
                if message.parent_id is not None and message.parent_id not in ids:
                    raise ValueError(f"message {message.id} comes before its parent")
                content = clean_text(message.content)
                cursor = conn.execute(
                    "INSERT INTO messages (conversation_id, parent_id, role, content, status,"
                    " created_at, updated_at, model, finish_reason, stats_json)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new_id,
                        None if message.parent_id is None else ids[message.parent_id],
                        message.role.value,
                        content,
                        message.status.value,
                        message.created_at,
                        message.created_at,
                        message.model,
                        message.finish_reason,
                        message.stats.to_json() if message.stats else None,
                    ),
                )
                assert cursor.lastrowid is not None
                ids[message.id] = cursor.lastrowid
                conn.execute(
                    "INSERT INTO messages_fts(rowid, content) VALUES (?, ?)",
                    (cursor.lastrowid, content),
                )
            leaf = ids.get(conversation.active_leaf_id or -1)
            conn.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (leaf, new_id))
        return new_id

    def all_messages(self, conversation_id: int) -> list[Message]:
        rows = self._db.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        return [_message(r) for r in rows]


@dataclass(frozen=True)
class ModelRecord:
    path: str
    source: str
    added_at: float
    defaults: GenerationParams | None


class ModelRepository:
    """Models the user imported, and per-model default settings."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, path: str, source: str) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO models (path, source, added_at) VALUES (?, ?, ?)"
                " ON CONFLICT(path) DO NOTHING",
                (path, source, time.time()),
            )

    def remove(self, path: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM models WHERE path = ?", (path,))
            conn.execute("DELETE FROM model_usage WHERE path = ?", (path,))

    def mark_used(self, path: str, when: float | None = None) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO model_usage (path, last_used) VALUES (?, ?)"
                " ON CONFLICT(path) DO UPDATE SET last_used = excluded.last_used",
                (path, time.time() if when is None else when),
            )

    def last_used(self) -> dict[str, float]:
        """When each model was last loaded, by path."""
        return {r[0]: r[1] for r in self._db.query("SELECT path, last_used FROM model_usage")}

    def all(self) -> list[ModelRecord]:
        return [
            ModelRecord(
                r["path"],
                r["source"],
                r["added_at"],
                GenerationParams.from_json(r["defaults_json"]) if r["defaults_json"] else None,
            )
            for r in self._db.query("SELECT * FROM models ORDER BY added_at")
        ]

    def set_defaults(self, path: str, params: GenerationParams) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO models (path, source, added_at, defaults_json) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(path) DO UPDATE SET defaults_json = excluded.defaults_json",
                (path, "folder", time.time(), params.validated().to_json()),
            )

    def defaults(self, path: str) -> GenerationParams | None:
        rows = self._db.query("SELECT defaults_json FROM models WHERE path = ?", (path,))
        if not rows or not rows[0][0]:
            return None
        return GenerationParams.from_json(rows[0][0])
