"""Change tracking on real SQLite files: this process's commits (any of its Databases
sharing one WriteLog) are told apart from everybody else's, and the conversations that
changed are named."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from desktopchat.core.chat import MessageStatus, Role
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core
from desktopchat.core.storage.changes import WriteLog
from desktopchat.core.storage.conversations import CHANGED_SINCE_SQL
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.repositories import ConversationRepository


def _open(path: Path, writes: WriteLog) -> tuple[Database, ConversationRepository]:
    db = Database.open(path, writes=writes)
    return db, ConversationRepository(db)


def test_our_commits_are_not_outside_changes(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    writes = WriteLog()
    watcher, own = _open(path, writes)
    worker, repo = _open(path, writes)  # another thread's Database of the same process
    mark, outside = watcher.outside_changes(None)
    assert not outside
    conv = repo.create()
    reply = repo.add_message(conv.id, Role.ASSISTANT, "", parent_id=None)
    for i in range(5):  # the inference thread's flushes of a streaming reply
        repo.update_message(reply.id, "word " * i, MessageStatus.PARTIAL)
    own.rename(conv.id, "mine")  # the watcher's own connection writes too
    mark, outside = watcher.outside_changes(mark)
    assert not outside
    mark, outside = watcher.outside_changes(mark)  # nothing at all since
    assert not outside
    watcher.close()
    worker.close()


def test_another_process_is_an_outside_change(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    watcher, _ = _open(path, WriteLog())
    cli, repo = _open(path, WriteLog())  # what the CLI opens: a WriteLog of its own
    mark, _ = watcher.outside_changes(None)
    repo.create()
    mark, outside = watcher.outside_changes(mark)
    assert outside
    mark, outside = watcher.outside_changes(mark)
    assert not outside  # seen once
    watcher.close()
    cli.close()


def test_a_raw_sqlite_connection_is_an_outside_change(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    watcher, repo = _open(path, WriteLog())
    conv = repo.create()
    mark, _ = watcher.outside_changes(None)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("UPDATE conversations SET title = 'edited in the shell' WHERE id = ?", (conv.id,))
    raw.close()
    mark, outside = watcher.outside_changes(mark)
    assert outside
    watcher.close()


def test_ours_and_theirs_between_two_looks_is_an_outside_change(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    writes = WriteLog()
    watcher, _ = _open(path, writes)
    worker, ours = _open(path, writes)
    cli, theirs = _open(path, WriteLog())
    conv = ours.create()
    mark, _ = watcher.outside_changes(None)
    for first, second in ((ours, theirs), (theirs, ours)):
        first.add_message(conv.id, Role.USER, "one", parent_id=None)
        second.add_message(conv.id, Role.USER, "two", parent_id=None)
        mark, outside = watcher.outside_changes(mark)
        assert outside
    ours.rename(conv.id, "a")
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("UPDATE messages SET content = 'x' WHERE id = 1")
    raw.close()
    ours.rename(conv.id, "b")
    mark, outside = watcher.outside_changes(mark)
    assert outside
    for db in (watcher, worker, cli):
        db.close()


def test_many_threads_writing_at_once_stay_ours(tmp_path: Path) -> None:
    """Commits recorded from several threads in any order still join into one span."""
    path = tmp_path / "chat.sqlite3"
    writes = WriteLog()
    watcher, repo = _open(path, writes)
    conv = repo.create()
    mark, _ = watcher.outside_changes(None)
    errors: list[BaseException] = []
    outside_seen: list[bool] = []

    def writer() -> None:
        try:
            db, mine = _open(path, writes)
            for i in range(40):
                mine.add_message(conv.id, Role.USER, f"m{i}", parent_id=None)
            db.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        mark, outside = watcher.outside_changes(mark)
        outside_seen.append(outside)
    for thread in threads:
        thread.join()
    mark, outside = watcher.outside_changes(mark)
    assert not errors
    assert not any(outside_seen) and not outside
    watcher.close()


def test_a_failed_transaction_leaves_no_span_behind(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    writes = WriteLog()
    watcher, repo = _open(path, writes)
    conv = repo.create()
    mark, _ = watcher.outside_changes(None)
    try:
        with watcher.write() as conn:
            conn.execute("UPDATE conversations SET title = 'x' WHERE id = ?", (conv.id,))
            raise RuntimeError("a bug halfway")
    except RuntimeError:
        pass
    raw = sqlite3.connect(path, isolation_level=None)  # takes the numbers it would have had
    raw.execute("UPDATE conversations SET title = 'y' WHERE id = ?", (conv.id,))
    raw.close()
    mark, outside = watcher.outside_changes(mark)
    assert outside
    watcher.close()


def test_open_core_shares_the_write_log(paths: AppPaths) -> None:
    first = open_core(paths)
    second = open_core(paths, writes=first.writes)
    other = open_core(paths)  # the default: a log of its own, as before
    mark, _ = first.db.outside_changes(None)
    second.conversations.create()
    mark, outside = first.db.outside_changes(mark)
    assert not outside
    other.conversations.create()
    mark, outside = first.db.outside_changes(mark)
    assert outside
    for core in (first, second, other):
        core.close()


def test_changed_since_names_the_conversations_that_changed(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    db, repo = _open(path, WriteLog())
    untouched = repo.create()
    edited = repo.create()
    renamed = repo.create()
    deleted = repo.create()
    reply = repo.add_message(edited.id, Role.ASSISTANT, "", parent_id=None)
    repo.add_message(untouched.id, Role.USER, "hello", parent_id=None)
    time.sleep(0.05)
    when = time.time()
    assert repo.changed_since(when) == []
    repo.update_message(reply.id, "streamed", MessageStatus.PARTIAL)
    repo.rename(renamed.id, "new name")
    repo.delete(deleted.id)
    raw = sqlite3.connect(path, isolation_level=None)
    added = raw.execute(
        "INSERT INTO conversations (title, created_at, updated_at) VALUES ('cli', 1, 1)"
    ).lastrowid
    raw.close()
    assert added is not None
    assert repo.changed_since(when) == sorted({edited.id, renamed.id, deleted.id, added})
    time.sleep(0.05)
    later = time.time()
    repo.set_pinned(renamed.id, True)
    assert repo.changed_since(later) == [renamed.id]
    plan = " ".join(str(r[3]) for r in db.query(f"EXPLAIN QUERY PLAN {CHANGED_SINCE_SQL}", (0,)))
    assert "conversation_changes_at" in plan  # an index range, never a scan
    db.close()


def test_write_log_joins_spans_in_any_order_and_forgets_failed_ones() -> None:
    log = WriteLog()
    log.record(5, 7)
    log.record(0, 2)  # recorded late by a slower thread
    assert not log.covers(0, 7)  # 2..5 were somebody else's
    log.record(2, 5)
    assert log.covers(0, 7) and log.covers(3, 6) and log.covers(7, 7)
    assert not log.covers(0, 8) and not log.covers(7, 6)  # beyond, or a counter gone back
    log.forget(2, 5)
    assert log.covers(0, 2) and log.covers(5, 7) and not log.covers(1, 6)
    log.forget(3, 3)  # nothing was written: nothing changes
    assert log.covers(5, 7)


def test_write_log_keeps_a_bounded_history() -> None:
    log = WriteLog()
    for i in range(WriteLog.KEEP + 10):  # every commit of ours followed by an outside one
        log.record(2 * i, 2 * i + 1)
    assert log.covers(2 * WriteLog.KEEP, 2 * WriteLog.KEEP + 1)
    assert not log.covers(0, 1)  # forgotten: a watcher that far behind refreshes
