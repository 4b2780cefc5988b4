"""What the model manager is given by the window (ManagerContext, contract 4 of the
structure: no Core, no services of its own), and the Hub client made from it on the task
pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktopchat.core.models.fit import GpuDevice
from desktopchat.core.models.manager import make_hub
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import SecretStore
from desktopchat.core.settings import AppSettings
from desktopchat.ui.database import DatabaseGateway
from desktopchat.ui.downloads import DownloadQueue
from desktopchat.ui.workers import TaskRunner

if TYPE_CHECKING:
    from desktopchat.core.models.hub import Hub


@dataclass
class ManagerContext:
    """What the model manager needs from the window. Every SQLite query goes through
    ``database`` (the database thread), file and network work through ``tasks``."""

    paths: Callable[[], AppPaths]  # current paths (the models folder can change)
    database: DatabaseGateway  # every SQLite query, on the database thread
    tasks: TaskRunner  # file and network work on the task pool
    secrets: SecretStore
    downloads: DownloadQueue
    settings: Callable[[], AppSettings]
    change_settings: Callable[..., None]  # keyword changes, saved
    models_changed: Callable[[], None]  # installed models changed: refresh the picker
    use_model: Callable[[Path], None]  # select and load a model in the main window
    gpu_devices: Callable[[], list[GpuDevice]]  # slow: on the task pool; asks the engine


def hub_client(context: ManagerContext) -> Hub:
    """A Hub client with the current token and offline setting. Call on the task pool: it
    may read the keychain, and imports huggingface_hub on first use."""
    return make_hub(context.secrets, offline=context.settings().offline_mode)
