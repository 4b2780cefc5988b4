"""What the model manager is given by the window (ManagerContext), and the Hub client
made from it on the task pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktopchat.core.models.fit import GpuDevice
from desktopchat.core.models.manager import make_hub
from desktopchat.core.secrets import SecretStore
from desktopchat.core.session import Core
from desktopchat.core.settings import AppSettings
from desktopchat.ui.downloads import DownloadQueue
from desktopchat.ui.workers import TaskRunner

if TYPE_CHECKING:
    from desktopchat.core.models.hub import Hub


@dataclass
class ManagerContext:
    """What the window needs from the application."""

    core: Core
    tasks: TaskRunner
    secrets: SecretStore
    downloads: DownloadQueue
    settings: Callable[[], AppSettings]
    change_settings: Callable[..., None]  # keyword changes, saved
    models_changed: Callable[[], None]  # the installed models changed: refresh the picker
    use_model: Callable[[Path], None]  # select and load a model in the main window
    gpu_devices: Callable[[], list[GpuDevice]]  # slow: called on the task pool


def hub_client(context: ManagerContext) -> Hub:
    """A Hub client with the current token and offline setting. Call on the task pool: it
    may read the keychain, and imports huggingface_hub on first use."""
    return make_hub(context.secrets, offline=context.settings().offline_mode)
