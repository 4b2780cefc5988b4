"""Rolling backups of the chat database, and recovery from the newest good one.

Backups are consistent copies made with SQLite's online backup API from a connection of
their own, so they can run on any thread while the app keeps writing.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from desktopchat.core.errors import StorageError
from desktopchat.core.storage.database import move_aside, translate_error

log = logging.getLogger(__name__)

DAILY_PREFIX = "daily-"
KEEP_DAILY = 5
DAY = 24 * 60 * 60


@dataclass(frozen=True)
class Recovery:
    """What happened when the database could not be opened."""

    damaged_kept_as: Path
    restored_from: Path | None
    conversations: int
    messages: int

    def describe(self) -> str:
        if self.restored_from is None:
            return (
                "The chat database was damaged and no good backup was found, so DesktopChat "
                f"started a new one. The damaged file was kept as {self.damaged_kept_as}."
            )
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.restored_from.stat().st_mtime))
        return (
            f"The chat database was damaged. DesktopChat restored the backup from {stamp}: "
            f"{self.conversations} conversations and {self.messages} messages. Anything newer "
            f"than that backup is only in the damaged file, kept as {self.damaged_kept_as}."
        )


def _backups(folder: Path) -> list[Path]:
    """Every backup file, newest first."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob("*.sqlite3") if p.is_file()]
    return sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)


def daily_backup(database: Path, folder: Path, *, keep: int = KEEP_DAILY) -> Path | None:
    """Back up ``database`` if the newest daily backup is more than a day old; keep ``keep``."""
    dailies = [p for p in _backups(folder) if p.name.startswith(DAILY_PREFIX)]
    if dailies and time.time() - dailies[0].stat().st_mtime < DAY:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    target = folder / f"{DAILY_PREFIX}{stamp}.sqlite3"
    partial = target.with_suffix(".partial")
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            with sqlite3.connect(partial) as dest:
                source.backup(dest)
            dest.close()
        finally:
            source.close()
        partial.replace(target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise translate_error(exc, database) or exc from None
    for old in [p for p in _backups(folder) if p.name.startswith(DAILY_PREFIX)][keep:]:
        old.unlink(missing_ok=True)
    log.info("daily backup written to %s", target)
    return target


def _check(path: Path) -> tuple[int, int] | None:
    """(conversations, messages) if ``path`` is a healthy DesktopChat database, else None."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return None
            conversations = conn.execute("SELECT COUNT(*) FROM conversations").fetchone()[0]
            messages = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
            return int(conversations), int(messages)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def recover(database: Path, folder: Path) -> Recovery:
    """Keep the damaged database aside and put the newest healthy backup in its place."""
    kept = move_aside(database)
    for candidate in _backups(folder):
        counts = _check(candidate)
        if counts is None:
            log.warning("backup %s is not usable", candidate)
            continue
        try:
            shutil.copyfile(candidate, database)
        except OSError as exc:
            raise StorageError(f"Could not restore {candidate.name}: {exc.strerror}.") from None
        log.warning("restored %s from %s", database, candidate)
        return Recovery(kept, candidate, *counts)
    return Recovery(kept, None, 0, 0)
