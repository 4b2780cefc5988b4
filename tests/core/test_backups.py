"""Rolling backups, integrity checks at start, and recovery from a damaged database."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from desktopchat.core.chat import Role
from desktopchat.core.errors import StorageCorruptError
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core
from desktopchat.core.storage.backups import daily_backup, recover
from desktopchat.core.storage.database import Database


def fill(paths: AppPaths, conversations: int) -> None:
    core = open_core(paths)
    for i in range(conversations):
        conv = core.conversations.create()
        core.conversations.add_message(conv.id, Role.USER, f"message {i} " * 50, parent_id=None)
    core.close()


def damage(path: Path) -> None:
    """Overwrite pages in the middle of the file, as a bad disk or a torn copy would."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.seek(size // 2)
        handle.write(os.urandom(8192))


def test_daily_backup_once_a_day_keeping_five(paths: AppPaths, tmp_path: Path) -> None:
    fill(paths, 3)
    folder = tmp_path / "backups"
    first = daily_backup(paths.database, folder)
    assert first is not None and first.is_file()
    assert daily_backup(paths.database, folder) is None  # already one today
    for i in range(7):  # pretend the last backup is days old, seven times over
        for old in folder.glob("*.sqlite3"):
            stamp = time.time() - 2 * 86400 - i
            os.utime(old, (stamp, stamp))
        assert daily_backup(paths.database, folder) is not None
    assert len(list(folder.glob("daily-*.sqlite3"))) == 5
    restored = Database.open(sorted(folder.glob("*.sqlite3"))[-1])
    assert restored.query("SELECT COUNT(*) FROM conversations")[0][0] == 3


def test_damaged_database_is_restored_from_the_newest_good_backup(paths: AppPaths) -> None:
    fill(paths, 40)
    backups = paths.data / "backups"
    older = daily_backup(paths.database, backups)
    assert older is not None
    fill(paths, 5)  # newer work that only the damaged file has
    bad_backup = backups / "daily-29990101-000000.sqlite3"
    bad_backup.write_bytes(b"not a database at all" * 100)  # newest, but useless
    damage(paths.database)
    with pytest.raises(StorageCorruptError):
        Database.open(paths.database, check=True)
    core = open_core(paths, check=True)
    try:
        assert core.recovery is not None
        assert core.recovery.restored_from == older
        assert (core.recovery.conversations, core.recovery.messages) == (40, 40)
        assert core.recovery.damaged_kept_as.is_file()
        assert "restored the backup" in core.recovery.describe()
        assert len(core.conversations.summaries()) == 40
    finally:
        core.close()


def test_no_good_backup_means_a_fresh_database_and_the_old_one_kept(paths: AppPaths) -> None:
    fill(paths, 40)
    damage(paths.database)
    before = paths.database.read_bytes()
    core = open_core(paths, check=True)
    try:
        assert core.recovery is not None and core.recovery.restored_from is None
        assert core.recovery.damaged_kept_as.read_bytes() == before
        assert core.conversations.summaries() == []
        assert "started a new one" in core.recovery.describe()
    finally:
        core.close()


def test_recover_moves_aside_even_without_backups(tmp_path: Path) -> None:
    database = tmp_path / "chat.sqlite3"
    database.write_bytes(b"garbage")
    result = recover(database, tmp_path / "none")
    assert result.restored_from is None and not database.exists()
