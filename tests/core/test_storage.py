from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from desktopchat.core.chat import GenerationParams, GenerationStats, MessageStatus, Role
from desktopchat.core.errors import (
    NotFoundError,
    StorageCorruptError,
    StorageFullError,
    StorageLockedError,
    StorageTooNewError,
)
from desktopchat.core.session import Core
from desktopchat.core.storage.database import MIGRATIONS, SCHEMA_VERSION, Database
from desktopchat.core.storage.repositories import (
    DEFAULT_TITLE,
    SNIPPET_MARKS,
    ConversationRepository,
)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database.open(tmp_path / "chat.sqlite3")


def test_pragmas_are_read_back(db: Database) -> None:
    assert db.pragmas() == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 5000,
        "trusted_schema": 0,
    }
    assert db.user_version() == SCHEMA_VERSION


def test_conversation_lifecycle(db: Database) -> None:
    repo = ConversationRepository(db)
    params = GenerationParams(system_prompt="Be brief.", temperature=0.2, n_ctx=2048)
    first = repo.create(params=params, model_path="/m/a.gguf")
    assert first.title == DEFAULT_TITLE
    assert repo.get(first.id).params == params
    user = repo.add_message(first.id, Role.USER, "Hello there, model", parent_id=None)
    reply = repo.add_message(
        first.id, Role.ASSISTANT, "", parent_id=user.id, status=MessageStatus.PARTIAL
    )
    stats = GenerationStats(prompt_tokens=10, completion_tokens=3, seed=7)
    repo.update_message(reply.id, "Hi!", MessageStatus.COMPLETE, finish_reason="stop", stats=stats)
    conversation = repo.get(first.id)
    assert conversation.title == "Hello there, model"  # the first user message names it
    assert conversation.active_leaf_id == reply.id
    path = repo.active_path(first.id)
    assert [(m.role, m.content, m.status) for m in path] == [
        (Role.USER, "Hello there, model", MessageStatus.COMPLETE),
        (Role.ASSISTANT, "Hi!", MessageStatus.COMPLETE),
    ]
    assert path[1].stats == stats
    time.sleep(0.01)
    second = repo.create()
    repo.add_message(second.id, Role.USER, "Another", parent_id=None)
    assert [c.id for c in repo.summaries()] == [second.id, first.id]  # newest activity first
    assert [c.id for c in repo.summaries("hello")] == [first.id]
    assert [c.id for c in repo.summaries("%")] == []  # LIKE wildcards are escaped
    repo.rename(first.id, "  Greetings   test ")
    assert repo.get(first.id).title == "Greetings test"
    repo.delete(first.id)
    with pytest.raises(NotFoundError):
        repo.get(first.id)
    assert (
        db.query("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (first.id,))[0][0] == 0
    )
    assert db.query("SELECT COUNT(*) FROM messages_fts")[0][0] == 1


def test_message_tree_keeps_branches(db: Database) -> None:
    repo = ConversationRepository(db)
    conv = repo.create()
    root = repo.add_message(conv.id, Role.USER, "q", parent_id=None)
    a1 = repo.add_message(conv.id, Role.ASSISTANT, "answer one", parent_id=root.id)
    a2 = repo.add_message(conv.id, Role.ASSISTANT, "answer two", parent_id=root.id)
    assert [m.content for m in repo.path_to(a1.id)] == ["q", "answer one"]
    assert [m.content for m in repo.active_path(conv.id)] == ["q", "answer two"]
    assert len(repo.all_messages(conv.id)) == 3
    assert repo.get_message(a2.id).parent_id == root.id


def test_full_text_index_follows_edits(db: Database) -> None:
    repo = ConversationRepository(db)
    conv = repo.create()
    message = repo.add_message(conv.id, Role.ASSISTANT, "", parent_id=None)
    repo.update_message(message.id, "the zebra crossing", MessageStatus.COMPLETE)
    hits = db.query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'zebra'")
    assert [h[0] for h in hits] == [message.id]


def test_lone_surrogates_and_nul_are_stored_safely(db: Database) -> None:
    repo = ConversationRepository(db)
    conv = repo.create()
    message = repo.add_message(conv.id, Role.USER, "bad \ud800 text \x00 end", parent_id=None)
    stored = repo.get_message(message.id).content
    assert stored == "bad \ufffd text \x00 end"


def test_migration_from_version_1_keeps_data_and_makes_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version=1;")
    conn.execute(
        "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (1, 't', 1, 1)"
    )
    conn.execute(
        "INSERT INTO messages (conversation_id, role, content, status, created_at, updated_at)"
        " VALUES (1, 'user', 'remember the walrus', 'complete', 1, 1)"
    )
    conn.close()
    db = Database.open(path, backup_dir=tmp_path / "backups")
    assert db.user_version() == SCHEMA_VERSION
    repo = ConversationRepository(db)
    assert [m.content for m in repo.all_messages(1)] == ["remember the walrus"]
    assert db.query("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'walrus'")
    backups = list((tmp_path / "backups").glob("*.sqlite3"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT content FROM messages").fetchone()[0] == "remember the walrus"
    old.close()


def test_failed_migration_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0] + "\nPRAGMA user_version=1;")
    conn.close()
    broken = (MIGRATIONS[0], "CREATE TABLE half_done (x);\nTHIS IS NOT SQL;")
    monkeypatch.setattr("desktopchat.core.storage.database.MIGRATIONS", broken)
    with pytest.raises(sqlite3.OperationalError):
        Database.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables
    conn.close()


def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=999")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StorageTooNewError, match="newer DesktopChat"):
        Database.open(path)
    assert path.read_bytes() == before


def test_not_a_database_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    path.write_bytes(b"this is certainly not sqlite" * 100)
    before = path.read_bytes()
    with pytest.raises(StorageCorruptError, match="damaged or is not a DesktopChat database"):
        Database.open(path)
    assert path.read_bytes() == before


def test_locked_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    Database.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        db = Database.open(path, busy_timeout_ms=200)
        repo = ConversationRepository(db)
        with pytest.raises(StorageLockedError, match="locked by another program"):
            repo.create()
        holder.execute("ROLLBACK")
        assert repo.create().id == 1  # usable again once the lock is gone
    finally:
        holder.close()


def test_read_only_database_is_reported_and_nothing_is_written(db: Database) -> None:
    repo = ConversationRepository(db)
    kept = repo.create()
    db._conn.execute("PRAGMA query_only=ON")  # what SQLite reports on a read-only file
    with pytest.raises(StorageFullError, match="read-only"):
        repo.rename(kept.id, "changed")
    db._conn.execute("PRAGMA query_only=OFF")
    assert repo.get(kept.id).title == DEFAULT_TITLE


def test_full_disk_is_reported_and_the_transaction_rolled_back(db: Database) -> None:
    repo = ConversationRepository(db)
    conv = repo.create()
    pages = db.query("PRAGMA page_count")[0][0]
    db._conn.execute(f"PRAGMA max_page_count={pages + 1}")  # the disk is "full"
    with pytest.raises(StorageFullError, match="full"):
        repo.add_message(conv.id, Role.USER, "x" * 200_000, parent_id=None)
    assert repo.all_messages(conv.id) == []
    assert repo.get(conv.id).active_leaf_id is None


def test_two_connections_in_two_threads(tmp_path: Path) -> None:
    """The GUI and the inference thread each have a connection to the same file."""
    path = tmp_path / "chat.sqlite3"
    main = ConversationRepository(Database.open(path))
    conv = main.create()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            repo = ConversationRepository(Database.open(path))
            for i in range(50):
                repo.add_message(conv.id, Role.USER, f"m{i}", parent_id=None)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    for _ in range(50):
        main.summaries()
    thread.join()
    assert not errors
    assert len(main.all_messages(conv.id)) == 50


def test_an_unreadable_database_can_be_moved_aside(tmp_path: Path) -> None:
    from desktopchat.core.storage.database import move_aside

    path = tmp_path / "chat.sqlite3"
    path.write_bytes(b"garbage" * 100)
    (tmp_path / "chat.sqlite3-wal").write_bytes(b"wal")
    moved = move_aside(path)
    assert moved.read_bytes() == b"garbage" * 100  # kept, not deleted
    assert moved.with_name(moved.name + "-wal").read_bytes() == b"wal"
    assert not path.exists()
    assert ConversationRepository(Database.open(path)).summaries() == []


def test_search_finds_every_word_with_marked_snippets(core: Core) -> None:
    repo = core.conversations
    first = repo.create(title="Bread")
    second = repo.create(title="Rivers")
    old = repo.add_message(
        first.id, Role.USER, "How do I bake sourdough bread at home?", parent_id=None
    )
    repo.add_message(
        first.id, Role.ASSISTANT, "Bread needs flour, water and time.", parent_id=old.id
    )
    new = repo.add_message(
        second.id, Role.USER, "Which rivers flow north? Bread later.", parent_id=None
    )
    hits = repo.search("bread")
    assert {h.message_id for h in hits} >= {old.id, new.id}
    start, end = SNIPPET_MARKS
    assert all(f"{start}" in h.snippet and end in h.snippet for h in hits)
    newest = repo.search("bread", newest_first=True)
    assert newest[0].message_id == new.id and newest[0].title == "Rivers"
    assert [h.message_id for h in repo.search("sourdough bre")] == [old.id]  # prefix
    assert repo.search("") == [] and repo.search("  ?! ") == []


def test_search_treats_operators_as_words(core: Core) -> None:
    repo = core.conversations
    conv = repo.create()
    repo.add_message(conv.id, Role.USER, 'say "NEAR" OR NOT - x* AND (y)', parent_id=None)
    for text in ('"', "NEAR(", "OR", "x* -y", "AND (", "col:umn", "^start"):
        repo.search(text)  # never an FTS syntax error
    assert len(repo.search('"NEAR" OR')) == 1
