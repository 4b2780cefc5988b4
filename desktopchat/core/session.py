"""The open chat data of one thread: the database, its repositories and the model library.

``open_core`` opens (and migrates, and at start checks and recovers) the database; each
thread that touches SQLite opens its own ``Core``. Qt-free: the window, the CLI and the
tests all start from here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from desktopchat.core.errors import StorageCorruptError
from desktopchat.core.models.library import ModelLibrary, starter_model_path
from desktopchat.core.paths import AppPaths
from desktopchat.core.settings import load_settings
from desktopchat.core.storage.backups import Recovery, recover
from desktopchat.core.storage.changes import WriteLog
from desktopchat.core.storage.database import BUSY_TIMEOUT_MS, Database
from desktopchat.core.storage.repositories import (
    ConversationRepository,
    ModelRepository,
    PresetRepository,
)

log = logging.getLogger(__name__)


@dataclass
class Core:
    """What one thread needs to work with the chat data."""

    paths: AppPaths
    db: Database
    conversations: ConversationRepository
    model_records: ModelRepository
    library: ModelLibrary
    recovery: Recovery | None = None  # set when a damaged database was replaced at open
    checked: bool = False  # the database was integrity-checked at open

    @property
    def writes(self) -> WriteLog:
        """The process's log of its own commits: open the other threads' cores with it."""
        return self.db.writes

    @property
    def presets(self) -> PresetRepository:
        return PresetRepository(self.db)

    def close(self) -> None:
        self.db.close()


def open_core(
    paths: AppPaths,
    *,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    check: bool = False,
    writes: WriteLog | None = None,
) -> Core:
    """Open the database (migrating it if needed) and the model library. One per thread.

    ``writes`` is the WriteLog every Core of this process shares, so that the commits of
    one thread never look like an outside change to another's watch (a new one when not
    given).

    With ``check`` (once, at application start) the database is integrity-checked, and a
    damaged one is kept aside and replaced by the newest good backup; ``Core.recovery``
    then says what happened.
    """
    paths.ensure()
    paths = _with_chosen_models_folder(paths)
    backups = paths.data / "backups"
    recovery = None

    def open_database() -> Database:
        return Database.open(
            paths.database,
            backup_dir=backups,
            busy_timeout_ms=busy_timeout_ms,
            check=check,
            writes=writes,
        )

    try:
        db = open_database()
    except StorageCorruptError:
        if not check:
            raise
        recovery = recover(paths.database, backups)  # then checked again, as it opens
        db = open_database()
    records = ModelRepository(db)
    library = ModelLibrary(paths.models, records, starter_model_path())
    return Core(paths, db, ConversationRepository(db), records, library, recovery, check)


def _with_chosen_models_folder(paths: AppPaths) -> AppPaths:
    """The models folder the user chose in the model manager, if any and if it can be
    used (a removed external drive falls back to the default, and the log says so)."""
    chosen = load_settings(paths.settings_file).models_folder
    if not chosen:
        return paths
    folder = Path(chosen)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("the chosen models folder %s cannot be used: %s", folder, exc)
        return paths
    return paths.with_models(folder)
