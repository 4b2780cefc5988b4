"""The model manager's operations, shared by the CLI and the window (which runs them on
worker threads): a Hub client with the user's token and offline setting, fit verdicts
for remote files, the download queue's jobs (download into the current models folder,
list and discard partial files), the models folder in use, and removing installed models.

Importing this module does not import huggingface_hub (~0.35 s): only make_hub does, on
the thread that first connects, so the window and the CLI can use the rest freely.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from desktopchat.core.errors import DesktopChatError, HubError, InvalidModelFileError
from desktopchat.core.models.architectures import ArchitectureTable
from desktopchat.core.models.download_items import DiscardJob, DownloadItem, DownloadJob
from desktopchat.core.models.downloads import Downloader, Progress
from desktopchat.core.models.fit import (
    FitVerdict,
    GpuDevice,
    MemoryEstimate,
    available_memory,
    estimate,
    size_only_estimate,
    verdict,
)
from desktopchat.core.models.gguf import GGUFInfo
from desktopchat.core.models.library import InstalledModel, human_size, is_inside, model_files
from desktopchat.core.models.remote import ModelFile, RemoteFile, RepoFiles
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import KeychainError, SecretStore
from desktopchat.core.settings import AppSettings, load_settings
from desktopchat.core.storage.repositories import ModelRepository

if TYPE_CHECKING:
    from desktopchat.core.models.hub import Hub
    from desktopchat.core.session import Core

log = logging.getLogger(__name__)


def make_hub(store: SecretStore | None, *, offline: bool) -> Hub:
    """A Hub client with the keychain's token (none when the keychain cannot be read)."""
    from desktopchat.core.models.hub import Hub

    token = None
    if store is not None and not offline:
        try:
            token = store.get()
        except KeychainError as exc:
            log.info("no token: %s", exc)
    return Hub(token=token, offline=offline)


def downloader(paths: AppPaths, hub: Hub) -> Downloader:
    return Downloader(paths.cache / "downloads", paths.models, hub.open_stream)


@dataclass(frozen=True)
class FileCheck:
    """What a remote model file's header (or, failing that, its size) says before it is
    downloaded: whether it fits, and whether llama.cpp can run its architecture."""

    fit: FitVerdict
    architecture: str = ""  # empty when the header could not be read
    warning: str = ""  # the architecture is not supported

    @property
    def text(self) -> str:
        return f"{self.fit.text}. {self.warning}" if self.warning else self.fit.text


def remote_header(hub: Hub, listing: RepoFiles, model: ModelFile) -> GGUFInfo | None:
    """The GGUF header of ``model``'s first file, read with Range requests; None when it
    cannot be read (then fit is judged from the size)."""
    try:
        return hub.read_header(listing.repo_id, listing.revision, model.parts[0])
    except (HubError, InvalidModelFileError) as exc:
        log.info("no header for %s: %s", model.name, exc)
        return None


def check_file(
    info: GGUFInfo | None,
    model: ModelFile,
    n_ctx: int,
    devices: list[GpuDevice],
    free_ram: int | None = None,
    *,
    architectures: ArchitectureTable | None = None,
) -> FileCheck:
    """Will ``model`` fit here at ``n_ctx`` tokens, and run? From its header when there is
    one, else from its size, and the verdict says which. ``architectures``: the table to
    look the architecture up in (a new one, read from the library file, when None)."""
    free_ram = available_memory() if free_ram is None else free_ram
    if info is None:
        fit = verdict(size_only_estimate(model.size, n_ctx), free_ram, devices, from_size_only=True)
        return FileCheck(fit)
    needed = estimate(info, n_ctx)
    if len(model.parts) > 1:  # the header's file holds only the first part's tensors
        needed = MemoryEstimate(
            model.size - info.data_offset,
            needed.kv_cache,
            needed.overhead,
            needed.layers,
        )
    table = architectures or ArchitectureTable()
    warning = table.unsupported_warning(info.architecture, model.label)
    return FileCheck(verdict(needed, free_ram, devices), info.architecture, warning)


def check_remote(
    hub: Hub,
    listing: RepoFiles,
    model: ModelFile,
    n_ctx: int,
    devices: list[GpuDevice],
    free_ram: int | None = None,
    *,
    architectures: ArchitectureTable | None = None,
) -> FileCheck:
    """check_file for a file on the Hub, its header read with Range requests."""
    info = remote_header(hub, listing, model)
    return check_file(info, model, n_ctx, devices, free_ram, architectures=architectures)


@dataclass(frozen=True)
class Removed:
    path: Path
    freed: int  # bytes deleted (0 when only forgotten)


def remove_model(model: InstalledModel, models_dir: Path, records: ModelRepository) -> Removed:
    """Delete a model in the models folder (every part of a split one); a model imported
    from elsewhere is only forgotten, its file left where the user keeps it."""
    refuse_starter(model)
    records.remove(str(model.path))
    return delete_model_files(model, models_dir)


def refuse_starter(model: InstalledModel) -> None:
    if model.source == "starter":
        raise DesktopChatError("The starter model comes with DesktopChat and cannot be removed.")


def delete_model_files(model: InstalledModel, models_dir: Path) -> Removed:
    """The file side of remove_model (no database): delete the model's files when they
    are in the models folder, and its repository's folder once empty."""
    refuse_starter(model)
    path = model.path
    if not is_inside(path, models_dir):
        return Removed(path, 0)
    freed = 0
    for part in model_files(path):
        try:
            freed += part.stat().st_size
            part.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise DesktopChatError(f"Could not delete {part}: {exc.strerror}.") from None
    folder = path.parent
    while folder != models_dir and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()  # the repository's folder, once empty
        folder = folder.parent
    log.info("removed %s (%s)", path, human_size(freed))
    return Removed(path, freed)


# -- the models folder ---------------------------------------------------------------------


def models_paths(paths: AppPaths, settings: AppSettings) -> AppPaths:
    """``paths`` with the models folder the user chose (``settings.models_folder``), if
    any: where downloads go and models are looked for."""
    return paths.with_models(Path(settings.models_folder)) if settings.models_folder else paths


def check_models_folder(folder: Path) -> None:
    """Can ``folder`` hold models? Created if missing, and a file written and removed;
    DesktopChatError says why not. File work: not on the GUI thread."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".desktopchat-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DesktopChatError(
            f"{folder} cannot be used as the models folder: {exc.strerror}."
        ) from None


def use_models_folder(core: Core, folder: Path) -> None:
    """Make ``core`` (a thread's connection) list models from ``folder`` from now on;
    run it on that Core's thread."""
    core.paths = core.paths.with_models(folder)
    core.library.models_dir = folder


def download_job(
    paths: AppPaths,
    secrets: SecretStore,
    settings: Callable[[], AppSettings] | None = None,
) -> DownloadJob:
    """What the download thread runs for an item: list the repository again when the
    item came from an earlier session, then download into the current models folder.

    ``paths``: the application's folders as started. ``settings``: the current settings
    (their models folder and offline mode are read when each download starts, on the
    download thread); by default the saved settings file, which the window writes on
    every change."""
    current = settings or (lambda: load_settings(paths.settings_file))

    def run(
        item: DownloadItem, progress: Callable[[Progress], None], stop: threading.Event
    ) -> Path:
        now = current()
        hub = make_hub(secrets, offline=now.offline_mode)
        if item.model is None:
            item.model = hub.files(item.repo_id, item.revision).find(item.name)
        return downloader(models_paths(paths, now), hub).download(
            item.repo_id, item.revision, item.model, progress, stop
        )

    return run


def partial_downloads(paths: AppPaths) -> Downloader:
    """The downloader's view of the partial files (listing and deleting; no network).
    They live in the cache folder, whichever models folder is in use."""
    return Downloader(paths.cache / "downloads", paths.models, _no_stream)


def discard_job(paths: AppPaths) -> DiscardJob:
    """What the queue runs to delete what was downloaded of an item (its partial files)."""

    def discard(item: DownloadItem) -> None:
        parts = (
            item.model.parts
            if item.model
            else tuple(RemoteFile(n, 0, None) for n in item.pending_parts)
        )
        partial_downloads(paths).discard(item.repo_id, ModelFile(parts))

    return discard


def _no_stream(*_args: object) -> NoReturn:
    raise AssertionError("listing or deleting partial files never downloads")
