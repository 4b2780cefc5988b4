"""Application settings (not per-conversation ones): a small JSON file, written atomically."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SETTINGS_VERSION = 1


@dataclass(frozen=True)
class AppSettings:
    last_model: str = ""  # path of the model to load at start
    sidebar_width: int = 260
    offline_mode: bool = False  # the model manager may not connect at all
    models_folder: str = ""  # where downloads go and models are looked for ("": the default)
    theme: str = "system"  # "system" (follow the desktop), "light" or "dark"
    zoom: int = 0  # font size, in points from the default
    # Local documents: files larger than this are not read (a 2 GB log, say).
    documents_max_file_mb: int = 200
    documents_embedding_model: str = ""  # GGUF path of the embedder ("": the built-in one)
    # The folders the built-in read_file tool may read (none: it is not offered).
    tool_folders: list[str] = field(default_factory=list)

    def with_changes(self, **changes: Any) -> AppSettings:
        return replace(self, **changes)


def load_settings(path: Path) -> AppSettings:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AppSettings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings %s: %s", path, exc)
        return AppSettings()
    if not isinstance(raw, dict):
        return AppSettings()
    defaults = AppSettings()
    known = {f.name for f in fields(AppSettings)}
    values = {
        k: v for k, v in raw.items() if k in known and isinstance(v, type(getattr(defaults, k)))
    }
    return replace(defaults, **values)


def save_settings(path: Path, settings: AppSettings) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": SETTINGS_VERSION, **asdict(settings)}
    fd, temp = tempfile.mkstemp(prefix=".settings-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
