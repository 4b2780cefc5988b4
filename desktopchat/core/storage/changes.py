"""Telling this process's own commits from everybody else's.

Every change to a row of the chat tables adds one to a counter in the database and
stamps the conversation it touched, both in ``conversation_changes`` (the counter is the
row of conversation 0, so a commit writes one more table page and one index page), kept
by triggers so that the CLI, a script or the sqlite3 shell count too. Each write
transaction of a Database reads the counter when it starts (holding the write lock, so
nobody else can commit in between) and before it commits, and hands that span to the
process's ``WriteLog``. A watcher then needs one tiny query: if every change since its
last look lies in spans of the WriteLog, all of them were this process's own.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

# Tables whose every row change moves the counter, and how each names its conversation.
_COUNTED = (
    ("conversations", "id"),
    ("messages", "conversation_id"),
    ("summaries", "conversation_id"),
    ("prompts", None),
    ("models", None),
    ("model_usage", None),
    ("presets", None),
)
_COUNT = "UPDATE conversation_changes SET seq = seq + 1 WHERE conversation_id = 0"
COUNTER_SQL = "SELECT seq FROM conversation_changes WHERE conversation_id = 0"
# Unix time from SQLite's clock, which counts milliseconds.
NOW_SQL = "(julianday('now') - 2440587.5) * 86400.0"
CLOCK_SLACK = 0.002  # how much earlier than Python's time.time() SQLite's stamp may read


def _triggers(only: str | None = None) -> str:
    """The counting triggers of every counted table (or of the table ``only``)."""
    statements = []
    for table, conversation in _COUNTED:
        if only is not None and table != only:
            continue
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            body = f"{_COUNT};"
            if conversation is not None:
                body += (
                    " INSERT INTO conversation_changes (conversation_id, changed_at)"
                    f" VALUES ({row}.{conversation}, {NOW_SQL})"
                    " ON CONFLICT(conversation_id) DO UPDATE SET changed_at = excluded.changed_at;"
                )
            statements.append(
                f"CREATE TRIGGER {table}_{event.lower()}_counted AFTER {event} ON {table}"
                f" BEGIN {body} END;"
            )
    return "\n".join(statements)


# The migration that adds the counter, the stamps and their triggers (database.py lists
# it; its text must never change once released).
CHANGE_TRACKING_MIGRATION = """
        CREATE TABLE conversation_changes (
            conversation_id INTEGER PRIMARY KEY,
            changed_at REAL NOT NULL,
            seq INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO conversation_changes (conversation_id, changed_at) VALUES (0, 0);
        CREATE INDEX conversation_changes_at ON conversation_changes(changed_at);
""" + _triggers()


def message_triggers() -> str:
    """The counting triggers of the messages table (a migration that rebuilds it makes
    them again)."""
    return _triggers("messages")


@dataclass(frozen=True)
class Watermark:
    """Where a watcher last looked: the change counter, and the time just before."""

    changes: int
    at: float


class WriteLog:
    """The spans of the change counter committed by the Databases that share this log:
    one per process (the window, its inference thread and task pool share one; the CLI,
    another process, has its own). Thread-safe."""

    KEEP = 4096  # spans kept; a watcher further behind sees an outside change

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lows: list[int] = []  # merged spans (low, high], sorted and disjoint
        self._highs: list[int] = []

    def record(self, before: int, after: int) -> None:
        """Changes before+1 .. after were (are being) committed by one of ours."""
        if after <= before:
            return
        with self._lock:
            i = bisect.bisect_left(self._lows, before)
            low, high = before, after
            if i > 0 and self._highs[i - 1] >= before:  # joins the span below
                i -= 1
                low = self._lows[i]
                high = max(high, self._highs[i])
            j = i
            while j < len(self._lows) and self._lows[j] <= high:  # and the ones above
                high = max(high, self._highs[j])
                j += 1
            self._lows[i:j] = [low]
            self._highs[i:j] = [high]
            if len(self._lows) > self.KEEP:
                del self._lows[0], self._highs[0]

    def forget(self, before: int, after: int) -> None:
        """A recorded transaction that did not commit after all."""
        if after <= before:
            return
        with self._lock:
            for i, (low, high) in enumerate(zip(self._lows, self._highs, strict=True)):
                if low <= before and after <= high:
                    pieces = [(a, b) for a, b in ((low, before), (after, high)) if b > a]
                    self._lows[i : i + 1] = [a for a, _ in pieces]
                    self._highs[i : i + 1] = [b for _, b in pieces]
                    return

    def covers(self, low: int, high: int) -> bool:
        """Were all of the changes low+1 .. high ours?"""
        if high <= low:
            return high == low
        with self._lock:
            i = bisect.bisect_right(self._lows, low) - 1
            return i >= 0 and self._highs[i] >= high
