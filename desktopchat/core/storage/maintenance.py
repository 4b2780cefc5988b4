"""Start-up maintenance of the chat data, Qt-free: the integrity check when the database
was not checked at open, emptying the trash of conversations deleted more than
TRASH_DAYS ago, the daily backup, and forgetting old change stamps of deleted
conversations. The window runs ``start_up`` on the thread that owns the core (never
the GUI thread); nothing here raises for an environment fault: it reports it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from desktopchat.core.errors import StorageCorruptError, StorageError
from desktopchat.core.session import Core
from desktopchat.core.storage.backups import daily_backup
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.rows import TRASH_DAYS

log = logging.getLogger(__name__)

STAMP_DAYS = 2  # a deleted conversation's change stamp is kept this long for watchers


@dataclass(frozen=True)
class Maintenance:
    """What start-up maintenance did and found."""

    emptied: int = 0  # conversations deleted for good from the trash
    damage: str | None = None  # the integrity check failed: what it said, for the user
    backup: Path | None = None  # the daily backup written (None: a recent one exists)
    problems: tuple[str, ...] = ()  # steps that could not run (a locked database, ...)

    def messages(self) -> list[str]:
        """What the user should be told, most serious first."""
        return ([self.damage] if self.damage else []) + list(self.problems)


def start_up(core: Core, *, trash_days: float = TRASH_DAYS) -> Maintenance:
    """Check, tidy and back up the database of ``core``, on the calling thread.

    A damaged database is neither tidied nor backed up (a backup of it would push a good
    one out of the rotation); the caller offers the recovery at the next start."""
    problems: list[str] = []
    damage = None
    if not core.checked:
        try:
            Database.verify(core.paths.database)
        except StorageCorruptError as exc:
            damage = str(exc)
        except StorageError as exc:
            problems.append(str(exc))
    if damage is not None:
        log.warning("start-up maintenance skipped: %s", damage)
        return Maintenance(damage=damage, problems=tuple(problems))
    emptied = 0
    try:
        emptied = core.conversations.empty_trash(older_than_days=trash_days)
        core.conversations.forget_changes(before=time.time() - STAMP_DAYS * 86400)
    except StorageError as exc:
        problems.append(str(exc))
    backup = None
    try:
        backup = daily_backup(core.paths.database, core.paths.data / "backups")
    except StorageError as exc:
        problems.append(str(exc))
    return Maintenance(emptied, None, backup, tuple(problems))
