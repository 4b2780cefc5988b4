"""Composition root: the only module that knows every concrete class.

The CLI and the GUI both start here. PySide6 is only imported (through desktopchat.ui)
when the GUI is actually started, so headless commands never load Qt.
"""

from __future__ import annotations

import faulthandler
import logging
import logging.handlers
from dataclasses import dataclass
from pathlib import Path

from desktopchat.core.errors import StorageCorruptError
from desktopchat.core.inference.engine import Engine
from desktopchat.core.inference.llama_engine import LlamaEngine
from desktopchat.core.inference.process_engine import ProcessEngine
from desktopchat.core.inference.service import ChatService
from desktopchat.core.models.library import ModelLibrary, starter_model_path
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import RedactingFormatter
from desktopchat.core.settings import load_settings
from desktopchat.core.storage.backups import Recovery, recover
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
    def presets(self) -> PresetRepository:
        return PresetRepository(self.db)

    def close(self) -> None:
        self.db.close()


def open_core(
    paths: AppPaths, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, check: bool = False
) -> Core:
    """Open the database (migrating it if needed) and the model library. One per thread.

    With ``check`` (once, at application start) the database is integrity-checked, and a
    damaged one is kept aside and replaced by the newest good backup; ``Core.recovery``
    then says what happened.
    """
    paths.ensure()
    paths = _with_chosen_models_folder(paths)
    backups = paths.data / "backups"
    recovery = None
    try:
        db = Database.open(
            paths.database, backup_dir=backups, busy_timeout_ms=busy_timeout_ms, check=check
        )
    except StorageCorruptError:
        if not check:
            raise
        recovery = recover(paths.database, backups)
        db = Database.open(
            paths.database, backup_dir=backups, busy_timeout_ms=busy_timeout_ms, check=True
        )
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


def make_engine() -> Engine:
    """The CLI's engine: llama.cpp in this process (a crash ends one command anyway)."""
    return LlamaEngine()


def make_isolated_engine() -> Engine:
    """The GUI's engine: llama.cpp in a supervised child process, so it cannot take the
    window down with it."""
    return ProcessEngine()


def make_chat_service(core: Core, engine: Engine) -> ChatService:
    return ChatService(core.conversations, engine)


def configure_logging(paths: AppPaths, *, verbose: bool = False) -> None:
    paths.logs.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.logs / "desktopchat.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    # Every line is redacted as it is written: a token cannot reach the file by mistake.
    handler.setFormatter(
        RedactingFormatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Native crashes (llama.cpp aborting, a segfault) leave a Python stack here.
    crash_log = (paths.logs / "crash.log").open("a", encoding="utf-8")
    faulthandler.enable(file=crash_log, all_threads=True)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # llama.cpp's own chatter is kept at warnings and above unless asked for.
    logging.getLogger("desktopchat.llama").setLevel(logging.DEBUG if verbose else logging.WARNING)


def run_gui(
    paths: AppPaths, argv: list[str], open_files: list[str], self_test: Path | None = None
) -> int:
    from desktopchat.ui.application import run_application

    return run_application(
        paths,
        argv,
        open_core=open_core,
        make_engine=make_isolated_engine,
        make_chat_service=make_chat_service,
        open_files=open_files,
        self_test=self_test,
    )
