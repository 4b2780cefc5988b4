"""Full-text search over message text: the query, the newest-first and best-match
orders, and snippets with the matching words marked. One part of ConversationRepository.

The index (messages_fts) holds each message's text and ``fulltext.index_text`` of it, so
words are found inside Chinese, Japanese, Korean, Thai, Lao, Khmer and Myanmar text too.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktopchat.core.chat import Role
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.fulltext import parse_query, snippet


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
# Leaves out messages of conversations in the trash inside the index query, before its
# LIMIT: two primary-key lookups for each match the query visits (cheaper than reading
# every message id in the trash first, which costs as much as the trash is big).
_LIVE = (
    " AND NOT EXISTS (SELECT 1 FROM messages m JOIN conversations c"
    " ON c.id = m.conversation_id"
    " WHERE m.id = messages_fts.rowid AND c.deleted_at IS NOT NULL)"
)


def fts_query(text: str) -> str:
    """The user's words as a safe FTS5 query: every word must appear, the last one may be
    the start of a word (search as you type); text in unspaced scripts is found inside
    runs of it. Operators and quotes are not interpreted."""
    return parse_query(text).match()


class SearchPart:
    """Searching the messages_fts index."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def search(self, text: str, *, newest_first: bool = False, limit: int = 50) -> list[SearchHit]:
        """Messages containing every word of ``text``, newest first or best match first.

        Best match ranks (bm25) the RANK_WINDOW most recent matches: ranking all of them
        costs ~2 µs per match, too slow for a common word in a 200,000-message history;
        below that many matches the order is exact."""
        terms = parse_query(text)
        if not terms:
            return []
        query = terms.match()
        start, end = marks = SNIPPET_MARKS
        window = (
            ""
            if newest_first
            else " AND rowid >= coalesce((SELECT min(rowid) FROM (SELECT rowid FROM"
            f" messages_fts WHERE messages_fts MATCH ?3{_LIVE} ORDER BY rowid DESC LIMIT ?6)), 0)"
        )
        order = "rowid DESC" if newest_first else "rank"
        # FTS5 marks the words it found in the text column; what was found through the
        # other column (text in unspaced scripts) is marked here, in the original text.
        params: tuple[object, ...] = (start, end, query, limit, bool(terms.runs))
        rows = self._db.query(
            "SELECT m.id, m.conversation_id, m.role, m.created_at, c.title, f.snippet,"
            " CASE WHEN ?5 OR instr(f.snippet, ?1) = 0 THEN m.content END AS content"
            " FROM (SELECT rowid, rank, snippet(messages_fts, 0, ?1, ?2, '…', 12) AS snippet"
            f"       FROM messages_fts WHERE messages_fts MATCH ?3{_LIVE}{window}"
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
                r["snippet"] if r["content"] is None else snippet(r["content"], terms, marks),
                r["created_at"],
            )
            for r in rows
        ]
