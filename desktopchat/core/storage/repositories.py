"""Repositories: the only code that knows the SQL schema."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import zlib
from dataclasses import asdict, dataclass, field, replace

from desktopchat.core.chat import (
    Conversation,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    PromptRecord,
    Role,
    clean_text,
)
from desktopchat.core.errors import NotFoundError
from desktopchat.core.presets import BUILTIN_PRESETS, Preset
from desktopchat.core.storage.database import Database

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


@dataclass(frozen=True)
class Summary:
    """A summary of a conversation's path up to ``last_message_id`` (``covered`` messages)."""

    id: int
    last_message_id: int
    covered: int
    content: str


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
        pinned=bool(row["pinned"]),
        deleted_at=row["deleted_at"],
        title_source=row["title_source"],
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
            " JOIN conversations c ON c.id = m.conversation_id AND c.deleted_at IS NULL"
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
            ids = _insert_messages(conn, new_id, messages, {})
            leaf = ids.get(conversation.active_leaf_id or -1)
            conn.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (leaf, new_id))
        return new_id

    # -- branches ------------------------------------------------------------------

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
        deleted = [_message(r) for r in rows]
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

    # -- what the model received -----------------------------------------------------

    def save_prompt(self, record: PromptRecord) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO prompts (message_id, text_z, n_tokens, model,"
                " params_json, dropped, summarized, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.message_id,
                    zlib.compress(record.text.encode("utf-8", "surrogatepass"), 6),
                    record.n_tokens,
                    record.model,
                    json.dumps(asdict(record.params), sort_keys=True),
                    record.dropped_messages,
                    record.summarized_messages,
                    record.summary,
                ),
            )

    def prompt_for(self, message_id: int) -> PromptRecord | None:
        rows = self._db.query("SELECT * FROM prompts WHERE message_id = ?", (message_id,))
        if not rows:
            return None
        r = rows[0]
        return PromptRecord(
            message_id=message_id,
            text=zlib.decompress(r["text_z"]).decode("utf-8", "replace"),
            n_tokens=r["n_tokens"],
            model=r["model"],
            params=GenerationParams.from_json(r["params_json"]),
            dropped_messages=r["dropped"],
            summarized_messages=r["summarized"],
            summary=r["summary"],
        )

    def save_summary(
        self, conversation_id: int, last_message_id: int, covered: int, content: str
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO summaries (conversation_id, last_message_id, covered, content,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, last_message_id, covered, clean_text(content), time.time()),
            )

    def summary_on(self, conversation_id: int, path: list[Message]) -> Summary | None:
        """The summary covering the longest part of ``path``, if any."""
        on_path = {m.id for m in path}
        best: Summary | None = None
        for r in self._db.query(
            "SELECT id, last_message_id, covered, content FROM summaries"
            " WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ):
            if r[1] in on_path and (best is None or r[2] >= best.covered):
                best = Summary(r[0], r[1], r[2], r[3])
        return best

    def all_messages(self, conversation_id: int) -> list[Message]:
        rows = self._db.query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        )
        return [_message(r) for r in rows]


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
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, status,"
            " created_at, updated_at, model, finish_reason, stats_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        assert cursor.lastrowid is not None
        known[message.id] = cursor.lastrowid
        conn.execute(
            "INSERT INTO messages_fts(rowid, content) VALUES (?, ?)", (cursor.lastrowid, content)
        )
    return known


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


class PresetRepository:
    """Saved assistants. The shipped ones are added on first use; deleting one hides it
    (so that it does not come back), and "restore" shows it again as shipped."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _add_missing_builtins(self) -> None:
        present = {r[0] for r in self._db.query("SELECT builtin FROM presets")}
        missing = [p for p in BUILTIN_PRESETS if p.builtin not in present]
        if missing:
            with self._db.write() as conn:
                for preset in missing:
                    conn.execute(
                        "INSERT INTO presets (name, builtin, params_json, updated_at)"
                        " VALUES (?, ?, ?, ?)",
                        (preset.name, preset.builtin, preset.params.to_json(), time.time()),
                    )

    def all(self) -> list[Preset]:
        self._add_missing_builtins()
        return [
            Preset(
                r["id"], r["name"], GenerationParams.from_json(r["params_json"]), r["builtin"] or ""
            )
            for r in self._db.query("SELECT * FROM presets WHERE hidden = 0 ORDER BY id")
        ]

    def get(self, preset_id: int) -> Preset:
        found = next((p for p in self.all() if p.id == preset_id), None)
        if found is None:
            raise NotFoundError(f"There is no preset {preset_id}.")
        return found

    def save(self, preset: Preset) -> Preset:
        """Store a new preset (id 0) or change one; returns it as stored."""
        name = clean_title(preset.name)
        params = preset.params.validated().to_json()
        with self._db.write() as conn:
            if preset.id:
                cursor = conn.execute(
                    "UPDATE presets SET name = ?, params_json = ?, updated_at = ? WHERE id = ?",
                    (name, params, time.time(), preset.id),
                )
                if cursor.rowcount == 0:
                    raise NotFoundError(f"There is no preset {preset.id}.")
                new_id = preset.id
            else:
                cursor = conn.execute(
                    "INSERT INTO presets (name, params_json, updated_at) VALUES (?, ?, ?)",
                    (name, params, time.time()),
                )
                assert cursor.lastrowid is not None
                new_id = cursor.lastrowid
        return self.get(new_id)

    def delete(self, preset_id: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE presets SET hidden = 1 WHERE id = ? AND builtin IS NOT NULL", (preset_id,)
            )
            conn.execute("DELETE FROM presets WHERE id = ? AND builtin IS NULL", (preset_id,))

    def restore_builtins(self) -> None:
        """Show the shipped presets again, as shipped."""
        with self._db.write() as conn:
            for preset in BUILTIN_PRESETS:
                conn.execute(
                    "UPDATE presets SET hidden = 0, name = ?, params_json = ?, updated_at = ?"
                    " WHERE builtin = ?",
                    (preset.name, preset.params.to_json(), time.time(), preset.builtin),
                )
