"""Where DesktopChat keeps its files.

The only importer of platformdirs. ``DESKTOPCHAT_HOME`` (or ``--home``) puts every folder
under one root, for tests and portable installs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

APP_NAME = "DesktopChat"
HOME_ENV = "DESKTOPCHAT_HOME"


@dataclass(frozen=True)
class AppPaths:
    data: Path
    config: Path
    cache: Path
    logs: Path
    models: Path

    @classmethod
    def under(cls, root: Path) -> AppPaths:
        root = root.expanduser().resolve()
        return cls(
            data=root / "data",
            config=root / "config",
            cache=root / "cache",
            logs=root / "logs",
            models=root / "models",
        )

    @classmethod
    def platform_default(cls) -> AppPaths:
        data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
        return cls(
            data=data,
            config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
            cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
            logs=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
            models=data / "models",
        )

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> AppPaths:
        """``home`` argument, then ``$DESKTOPCHAT_HOME``, then the platform folders."""
        chosen = home if home is not None else os.environ.get(HOME_ENV) or None
        if chosen is not None:
            return cls.under(Path(chosen))
        return cls.platform_default()

    def with_models(self, folder: Path) -> AppPaths:
        """The same folders with ``folder`` for models (the user's choice)."""
        return replace(self, models=folder)

    @property
    def database(self) -> Path:
        return self.data / "desktopchat.sqlite3"

    @property
    def documents_database(self) -> Path:
        """The documents' text, chunks, search index and vectors: a file of its own, so the
        chat database and its backups stay small."""
        return self.data / "documents.sqlite3"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def loading_marker(self) -> Path:
        return self.data / "loading-model.marker"

    @property
    def session_marker(self) -> Path:
        """Present while the app runs: found at start, the last session did not end
        cleanly, and the database is checked before it is used."""
        return self.data / "session-open.marker"

    def ensure(self) -> None:
        for folder in (self.data, self.config, self.cache, self.logs, self.models):
            folder.mkdir(parents=True, exist_ok=True)
