"""The indexer's lock: one process at a time indexes a documents database.

An advisory lock on a file beside the database (``documents.sqlite3.indexer-lock``):
``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows. The operating system releases it
when the holder exits in any way (SIGKILL and crashes included), so a stale lock is never
left behind. The file itself holds nothing and is never deleted (deleting it would let two
processes lock two different files of the same name).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def lock_path_for(database: Path) -> Path:
    return database.with_name(database.name + ".indexer-lock")


class IndexerLock:
    """Non-blocking: ``try_acquire`` says whether this process is now the indexer."""

    def __init__(self, database: Path) -> None:
        self.path = lock_path_for(database)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if _lock(fd):
                self._fd = fd
                return True
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return False

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                _unlock(fd)
            finally:
                os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass

else:
    import fcntl

    def _lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
