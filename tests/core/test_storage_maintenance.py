"""Start-up maintenance on real database files: the trash, the integrity check, the daily
backup, and faults reported rather than raised."""

from __future__ import annotations

import sqlite3
import time

import pytest

from desktopchat.core.chat import Role
from desktopchat.core.errors import StorageCorruptError
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.maintenance import start_up
from desktopchat.core.storage.repositories import TRASH_DAYS


def test_start_up_empties_old_trash_checks_and_backs_up(paths: AppPaths) -> None:
    core = open_core(paths)
    repo = core.conversations
    kept = repo.create(title="kept")
    recent = repo.create(title="trashed today")
    old = repo.create(title="trashed long ago")
    repo.add_message(old.id, Role.USER, "old words", parent_id=None)
    repo.move_to_trash(recent.id)
    repo.move_to_trash(old.id)
    with core.db.write() as conn:
        conn.execute(
            "UPDATE conversations SET deleted_at = ? WHERE id = ?",
            (time.time() - (TRASH_DAYS + 1) * 86400, old.id),
        )
    done = start_up(core)
    assert done.emptied == 1
    assert done.damage is None and done.problems == () and done.messages() == []
    assert [c.id for c in repo.summaries()] == [kept.id]
    assert [c.id for c in repo.summaries(trash=True)] == [recent.id]
    assert done.backup is not None and done.backup.parent == paths.data / "backups"
    copy = sqlite3.connect(done.backup)
    assert copy.execute("SELECT COUNT(*) FROM conversations").fetchone()[0] == 2
    copy.close()
    again = start_up(core)
    assert again.emptied == 0 and again.backup is None  # one backup a day
    core.close()


def test_a_damaged_database_is_reported_not_raised(paths: AppPaths) -> None:
    core = open_core(paths)
    conv = core.conversations.create()
    for i in range(200):
        core.conversations.add_message(conv.id, Role.USER, f"message {i} " * 40, parent_id=None)
    core.db.query("PRAGMA wal_checkpoint(TRUNCATE)")
    core.close()
    with paths.database.open("r+b") as file:  # garbage over pages of the messages table
        file.seek(8 * 4096)
        file.write(b"\xa5" * 4096 * 6)
    core = open_core(paths)  # not checked at open, as on a normal start
    done = start_up(core)
    assert done.damage is not None and "damaged" in done.damage
    assert done.messages()[0] == done.damage
    assert done.backup is None  # a damaged copy must not push a good one out
    assert not (paths.data / "backups").exists() or not list(
        (paths.data / "backups").glob("daily-*")
    )
    core.close()


def test_no_second_check_when_the_core_was_checked_at_open(paths: AppPaths) -> None:
    core = open_core(paths, check=True)
    assert core.checked
    conv = core.conversations.create()
    for i in range(200):
        core.conversations.add_message(conv.id, Role.USER, f"message {i} " * 40, parent_id=None)
    core.db.query("PRAGMA wal_checkpoint(TRUNCATE)")
    with paths.database.open("r+b") as file:  # damaged after the check at open
        file.seek(8 * 4096)
        file.write(b"\xa5" * 4096 * 6)
    with pytest.raises(StorageCorruptError):
        Database.verify(paths.database)  # what a check would find
    done = start_up(core, trash_days=10_000)
    assert done.damage is None  # the check is not repeated
    core.close()


def test_a_locked_database_is_a_problem_and_the_backup_still_runs(paths: AppPaths) -> None:
    core = open_core(paths, busy_timeout_ms=100)
    conv = core.conversations.create()
    core.conversations.move_to_trash(conv.id)
    with core.db.write() as conn:
        conn.execute("UPDATE conversations SET deleted_at = 1 WHERE id = ?", (conv.id,))
    holder = sqlite3.connect(paths.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        done = start_up(core)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.emptied == 0
    assert len(done.problems) == 1 and "locked" in done.problems[0]
    assert done.backup is not None  # a reader is not blocked by a writer
    assert start_up(core).emptied == 1  # the next start empties it
    core.close()
