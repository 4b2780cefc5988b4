"""The SQLite database: one file, WAL, checked pragmas, numbered migrations.

The only module (with its siblings in this package) that imports sqlite3. Environment
faults (locked, full, read-only, corrupt, too new) become StorageError subclasses with a
message that says what to do; anything else is a bug and propagates unchanged.
``SqliteFile`` is what the chat database shares with the documents database
(storage/documents/): pragmas, migrations, checks, backups, write transactions.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from desktopchat.core.errors import (
    StorageCorruptError,
    StorageError,
    StorageFullError,
    StorageLockedError,
    StorageTooNewError,
)
from desktopchat.core.storage.changes import (
    CHANGE_TRACKING_MIGRATION,
    COUNTER_SQL,
    Watermark,
    WriteLog,
    message_triggers,
)
from desktopchat.core.storage.fulltext import index_text

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000


_MIGRATION_1 = """
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            active_leaf_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            model_path TEXT NOT NULL DEFAULT '',
            params_json TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX conversations_updated ON conversations(updated_at DESC);

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'stopped', 'error')),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            finish_reason TEXT NOT NULL DEFAULT '',
            stats_json TEXT
        );
        CREATE INDEX messages_conversation ON messages(conversation_id, id);
        CREATE INDEX messages_parent ON messages(parent_id);

        CREATE TABLE models (
            path TEXT PRIMARY KEY,
            source TEXT NOT NULL CHECK (source IN ('starter', 'folder', 'imported')),
            added_at REAL NOT NULL,
            defaults_json TEXT
        );
"""

# Full-text search over message text. The repository keeps it in step with `messages`
# inside the same transactions: triggers cannot write to a virtual table while
# trusted_schema is OFF, and we keep it OFF so a planted schema cannot run code.
_MIGRATION_2 = """
        CREATE VIRTUAL TABLE messages_fts USING fts5(content, tokenize='unicode61');
        INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages;
"""

# When each model file was last loaded (the model manager's "last used"); a row per path,
# for any model, not only those with a row in `models`.
_MIGRATION_3 = """
        CREATE TABLE model_usage (
            path TEXT PRIMARY KEY,
            last_used REAL NOT NULL
        );
"""

# Conversation features: pinning, a trash (deleted_at), who set the title ("message": the
# first message, "model": an automatic title, "user": renamed); saved assistants
# (presets); exactly what the model received for each reply (the prompt inspector, text
# zlib-compressed); and summaries of the oldest turns (the "summarize" overflow policy),
# each covering the path up to last_message_id.
_MIGRATION_4 = """
        ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE conversations ADD COLUMN deleted_at REAL;
        ALTER TABLE conversations ADD COLUMN title_source TEXT NOT NULL DEFAULT 'message';
        CREATE INDEX conversations_deleted ON conversations(deleted_at);

        CREATE TABLE presets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            builtin TEXT UNIQUE,
            hidden INTEGER NOT NULL DEFAULT 0,
            params_json TEXT NOT NULL,
            updated_at REAL NOT NULL
        );

        CREATE TABLE prompts (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            text_z BLOB NOT NULL,
            n_tokens INTEGER NOT NULL,
            model TEXT NOT NULL,
            params_json TEXT NOT NULL,
            dropped INTEGER NOT NULL DEFAULT 0,
            summarized INTEGER NOT NULL DEFAULT 0,
            summary TEXT NOT NULL DEFAULT ''
        );

        CREATE TABLE summaries (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            last_message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            covered INTEGER NOT NULL,
            content TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX summaries_conversation ON summaries(conversation_id);
"""

# The search index gains a second column, fulltext.index_text of each message, so that
# words are found inside Chinese, Japanese, Korean, Thai, Lao, Khmer and Myanmar text
# (unicode61 makes a whole unspaced run one token). Rebuilt from the messages; the
# function is the connection's own (see Database._configure), not part of the schema.
_MIGRATION_5 = """
        DROP TABLE messages_fts;
        CREATE VIRTUAL TABLE messages_fts USING fts5(content, grams, tokenize='unicode61');
        INSERT INTO messages_fts(rowid, content, grams)
            SELECT id, content, desktopchat_index_text(content) FROM messages;
"""

# Change tracking: a counter every row change moves and a stamp per conversation, kept
# by triggers (changes.py says how the window tells its own commits from others').
_MIGRATION_6 = CHANGE_TRACKING_MIGRATION

# The attached documents a reply was given (core/chat.py DocumentsUse: the mode, the budget,
# the numbered passages with their scores and whole text), zlib-compressed JSON; NULL when
# the chat had no documents attached.
_MIGRATION_7 = """
        ALTER TABLE prompts ADD COLUMN documents_z BLOB;
"""

# Thinking models and tools: a message keeps its reasoning apart from its answer, an
# assistant message the tool calls it made (JSON: [{"id", "name", "arguments"}]), and a new
# role, "tool", a tool's result with the call it answers. SQLite cannot widen a CHECK
# constraint in place, so the table is rebuilt (SQLite's documented twelve steps: with
# foreign keys off, or dropping the old table would cascade into prompts and summaries;
# see REBUILDS), keeping every id; its indexes and counting triggers are made again.
_MIGRATION_8 = """
        CREATE TABLE messages_rebuilt (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
            content TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'stopped', 'error')),
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            finish_reason TEXT NOT NULL DEFAULT '',
            stats_json TEXT,
            reasoning TEXT NOT NULL DEFAULT '',
            tool_calls_json TEXT NOT NULL DEFAULT '',
            tool_call_id TEXT NOT NULL DEFAULT '',
            tool_name TEXT NOT NULL DEFAULT ''
        );
        INSERT INTO messages_rebuilt (id, conversation_id, parent_id, role, content, status,
            created_at, updated_at, model, finish_reason, stats_json)
            SELECT id, conversation_id, parent_id, role, content, status,
            created_at, updated_at, model, finish_reason, stats_json FROM messages;
        DROP TABLE messages;
        ALTER TABLE messages_rebuilt RENAME TO messages;
        CREATE INDEX messages_conversation ON messages(conversation_id, id);
        CREATE INDEX messages_parent ON messages(parent_id);
""" + message_triggers()

# Each entry moves the schema one version up. Never edit a released entry: add one.
MIGRATIONS: Sequence[str] = (
    _MIGRATION_1,
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_5,
    _MIGRATION_6,
    _MIGRATION_7,
    _MIGRATION_8,
)
# Migrations that rebuild a table: they run with foreign keys off (which cannot change
# inside a transaction), and the keys are checked once they are back on.
REBUILDS = frozenset({8})
SCHEMA_VERSION = len(MIGRATIONS)


def translate_error(
    exc: sqlite3.Error, path: Path, what: str = "chat database"
) -> StorageError | None:
    """Map an environment fault to a user-facing error; None means it is a bug. ``what``
    names the file in the message ("chat database", "documents database")."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StorageLockedError(
            f"The {what} {path} is locked by another program. "
            "Close other DesktopChat windows or tools using it and try again."
        )
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StorageFullError(
            f"The disk holding {path.parent} is full; nothing was saved. "
            "Free some space and try again."
        )
    if name.startswith("SQLITE_READONLY") or "readonly" in text or "read-only" in text:
        return StorageFullError(
            f"The folder {path.parent} is read-only; nothing was saved. "
            "Check its permissions or choose another folder with DESKTOPCHAT_HOME."
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return StorageFullError(
            f"Cannot open the {what} {path}. Check that the folder exists and is writable."
        )
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "not a database" in text
        or "malformed" in text
    ):
        return StorageCorruptError(
            f"The {what} {path} is damaged or is not a DesktopChat database. "
            "It has not been changed; move it aside to start fresh."
        )
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text:
        return StorageFullError(
            f"The disk reported an error while using {path}; nothing was saved. "
            "Check free space and the disk's health."
        )
    return None


class SqliteFile:
    """What every DesktopChat SQLite file shares: one connection (one instance per
    thread), checked pragmas, numbered migrations in user_version (a newer file refused
    untouched), quick_check, online backups, BEGIN IMMEDIATE writes and environment
    faults translated into StorageErrors. Subclasses name their migrations and may add
    pragmas and hooks around each write transaction."""

    WHAT = "chat database"  # how messages name the file
    SYNCHRONOUS = 2  # FULL; 1 is NORMAL
    BACKUP_BEFORE_MIGRATION = True

    def __init__(
        self, path: Path, conn: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS
    ) -> None:
        self.path = path
        self._conn = conn
        self._busy_timeout_ms = busy_timeout_ms

    def _migrations(self) -> Sequence[str]:
        """Each entry moves the schema one version up."""
        raise NotImplementedError

    @classmethod
    def _connect(cls, path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return sqlite3.connect(
                path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=True
            )
        except sqlite3.Error as exc:
            raise _translated(exc, path, cls.WHAT) from None
        except OSError as exc:
            raise StorageFullError(
                f"Cannot create the data folder {path.parent}: {exc.strerror}."
            ) from None

    def _prepare(self, *, check: bool, backup_dir: Path | None) -> None:
        """Refuse a newer file, configure the connection, check, migrate; the connection
        is closed when any of it fails."""
        try:
            version = self.user_version()
            known = len(self._migrations())
            if version > known:
                raise StorageTooNewError(
                    f"The {self.WHAT} {self.path} was written by a newer DesktopChat "
                    f"(schema {version}, this version knows {known}). "
                    "It has not been changed. Update DesktopChat to open it."
                )
            self._configure()
            if check:
                self.quick_check()
            if version < known:
                self._migrate(version, backup_dir or self.path.parent / "backups")
        except BaseException:
            self._conn.close()
            raise

    def _configure(self) -> None:
        conn = self._conn
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous={self.SYNCHRONOUS}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            conn.execute("PRAGMA trusted_schema=OFF")
            # For migrations that rebuild the search index (called from top-level SQL
            # only, so trusted_schema=OFF does not bar it).
            conn.create_function("desktopchat_index_text", 1, _index_text, deterministic=True)
            checks = {
                "journal_mode": (mode, "wal"),
                "synchronous": (
                    conn.execute("PRAGMA synchronous").fetchone()[0],
                    self.SYNCHRONOUS,
                ),
                "foreign_keys": (conn.execute("PRAGMA foreign_keys").fetchone()[0], 1),
                "busy_timeout": (
                    conn.execute("PRAGMA busy_timeout").fetchone()[0],
                    self._busy_timeout_ms,
                ),
                "trusted_schema": (conn.execute("PRAGMA trusted_schema").fetchone()[0], 0),
            }
            for name, (value, want) in self._extra_pragmas().items():
                conn.execute(f"PRAGMA {name}={value}")
                checks[name] = (conn.execute(f"PRAGMA {name}").fetchone()[0], want)
        except sqlite3.Error as exc:
            raise _translated(exc, self.path, self.WHAT) from None
        wrong = {k: got for k, (got, want) in checks.items() if got != want}
        if wrong:
            raise StorageCorruptError(
                f"The {self.WHAT} {self.path} could not be configured safely ({wrong}). "
                "Is it on a network drive? Move the data folder to a local disk."
            )

    def _extra_pragmas(self) -> dict[str, tuple[str, object]]:
        """More pragmas to set: name -> (value to set, value SQLite must then report)."""
        return {}

    def pragmas(self) -> dict[str, object]:
        """The safety-relevant settings as SQLite reports them."""
        names = (
            "journal_mode",
            "synchronous",
            "foreign_keys",
            "busy_timeout",
            "trusted_schema",
            *self._extra_pragmas(),
        )
        return {name: self.query(f"PRAGMA {name}")[0][0] for name in names}

    def data_version(self) -> int:
        """Changes whenever another connection (another thread, the CLI) commits."""
        return int(self.query("PRAGMA data_version")[0][0])

    @classmethod
    def verify(cls, path: Path) -> None:
        """SQLite's quick_check on a read-only connection of its own, so it can run on a
        worker thread beside the app's connections. Raises StorageCorruptError."""
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=True)
        except sqlite3.Error as exc:
            raise _translated(exc, path, cls.WHAT) from None
        try:
            cls(path, conn, BUSY_TIMEOUT_MS).quick_check()
        finally:
            conn.close()

    def quick_check(self) -> None:
        rows = self.query("PRAGMA quick_check")
        problems = [str(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            raise StorageCorruptError(
                f"The {self.WHAT} {self.path} is damaged ({'; '.join(problems[:3])})."
            )

    def user_version(self) -> int:
        try:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise _translated(exc, self.path, self.WHAT) from None

    def _migrate(self, current: int, backup_dir: Path) -> None:
        if current > 0 and self.BACKUP_BEFORE_MIGRATION:
            self.backup(backup_dir / f"before-v{current + 1}-{int(time.time())}.sqlite3")
        for number in range(current + 1, len(self._migrations()) + 1):
            log.info("migrating %s to schema %d", self.path, number)
            self.run_migration(number)

    def _rebuilds(self) -> frozenset[int]:
        """The migrations that rebuild a table (run with foreign keys off)."""
        return frozenset()

    def run_migration(self, number: int) -> None:
        """Apply one migration atomically (the script carries its own transaction,
        because executescript() would commit one opened outside it)."""
        script = (
            f"BEGIN IMMEDIATE;\n{self._migrations()[number - 1]}\n"
            f"PRAGMA user_version={number};\nCOMMIT;"
        )
        rebuild = number in self._rebuilds()
        try:
            if rebuild:
                self._conn.execute("PRAGMA foreign_keys=OFF")
            self._conn.executescript(script)
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise _translated(exc, self.path, self.WHAT) from None
        finally:
            if rebuild:
                self._conn.execute("PRAGMA foreign_keys=ON")
        if rebuild:
            broken = self.query("PRAGMA foreign_key_check")
            if broken:  # every row was copied with its id: only a damaged file gets here
                log.warning(
                    "%s: %d broken references after migration %d", self.path, len(broken), number
                )

    def backup(self, target: Path) -> Path:
        """A consistent copy through SQLite's online backup API."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with sqlite3.connect(target) as dest:
                self._conn.backup(dest)
            dest.close()
        except sqlite3.Error as exc:
            raise _translated(exc, target, self.WHAT) from None
        return target

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the lock up front (BEGIN IMMEDIATE)."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._write_began(conn)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _translated(exc, self.path, self.WHAT) from None
        try:
            yield conn
            if conn.in_transaction:
                self._write_committing(conn)
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon()
            raise _translated(exc, self.path, self.WHAT) from None
        except BaseException:
            self._abandon()
            raise

    def _write_began(self, conn: sqlite3.Connection) -> None:
        """Called inside BEGIN IMMEDIATE, before the caller's statements."""

    def _write_committing(self, conn: sqlite3.Connection) -> None:
        """Called just before COMMIT."""

    def _write_abandoned(self) -> None:
        """Called when the transaction fails, before the rollback (the lock still held)."""

    def _abandon(self) -> None:
        self._write_abandoned()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        try:
            cursor = self._conn.execute(sql, params)
            cursor.row_factory = sqlite3.Row
            return cursor.fetchall()
        except sqlite3.Error as exc:
            raise _translated(exc, self.path, self.WHAT) from None

    def close(self) -> None:
        self._conn.close()


class Database(SqliteFile):
    """One connection to the chat database; use one instance per thread. Every commit
    goes into ``writes``, which all the Databases of one process share."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        writes: WriteLog | None = None,
    ) -> None:
        super().__init__(path, conn, busy_timeout_ms)
        self.writes = writes if writes is not None else WriteLog()
        self._span = (0, 0)  # the change counter before and after the open transaction

    def _migrations(self) -> Sequence[str]:
        return MIGRATIONS

    def _rebuilds(self) -> frozenset[int]:
        return REBUILDS

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        backup_dir: Path | None = None,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        check: bool = False,
        writes: WriteLog | None = None,
    ) -> Database:
        """Open (creating or migrating) the database. ``check`` runs SQLite's quick_check
        first, which reads every page: do it once at application start. ``writes`` is the
        process's WriteLog (a new one when not given: then only this Database's own
        commits count as ours)."""
        db = cls(path, cls._connect(path, busy_timeout_ms), busy_timeout_ms, writes)
        db._prepare(check=check, backup_dir=backup_dir)
        return db

    def outside_changes(self, previous: Watermark | None) -> tuple[Watermark, bool]:
        """Where the database stands now, and whether anything other than the Databases
        sharing this one's WriteLog (the CLI, a script, the sqlite3 shell) changed it
        since ``previous`` (False for the first look). One single-row query."""
        at = time.time()
        now = Watermark(int(self.query(COUNTER_SQL)[0][0]), at)
        if previous is None:
            return now, False
        return now, not self.writes.covers(previous.changes, now.changes)

    def _write_began(self, conn: sqlite3.Connection) -> None:
        before = _changes(conn)  # nobody else can commit until we do
        self._span = (before, before)

    def _write_committing(self, conn: sqlite3.Connection) -> None:
        # Recorded before COMMIT, so a watcher that sees these changes already finds
        # them ours; forgotten again if the commit fails.
        self._span = (self._span[0], _changes(conn))
        self.writes.record(*self._span)

    def _write_abandoned(self) -> None:
        # Forgotten while the write lock is still held: nobody else can have committed
        # changes with those numbers yet.
        self.writes.forget(*self._span)


def move_aside(path: Path) -> Path:
    """Rename a database that cannot be opened (and its WAL files) so a fresh one can be
    created. Nothing is deleted: the user can still recover or send the old file."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.unreadable-{stamp}")
    try:
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        path.rename(target)
    except OSError as exc:
        raise StorageFullError(f"Could not move {path} aside: {exc.strerror}.") from None
    return target


def _changes(conn: sqlite3.Connection) -> int:
    return int(conn.execute(COUNTER_SQL).fetchone()[0])


def _index_text(text: object) -> str:
    return index_text(text) if isinstance(text, str) else ""


def _translated(exc: sqlite3.Error, path: Path, what: str = "chat database") -> BaseException:
    return translate_error(exc, path, what) or exc
