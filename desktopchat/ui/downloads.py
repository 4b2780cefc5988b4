"""The download queue behind the model manager: one download at a time on its own thread,
with pause, resume and cancel, and downloads left unfinished by an earlier session.

The queue belongs to the main window, so downloads go on while the model manager is
closed. Its state is only touched on the GUI thread; the download thread reports through
queued signals. Nothing here connects on its own: a download left from an earlier session
is listed as paused until the user resumes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktopchat.core.errors import DesktopChatError, DownloadStoppedError, HubAccessError
from desktopchat.core.models.downloads import Pending, Progress
from desktopchat.core.models.remote import ModelFile, split_name

log = logging.getLogger(__name__)

# download(item, progress, stop) -> the installed path; runs on the download thread.
DownloadJob = Callable[["DownloadItem", Callable[[Progress], None], threading.Event], Path]


class DownloadState(Enum):
    QUEUED = "Queued"
    DOWNLOADING = "Downloading"
    PAUSED = "Paused"
    FAILED = "Failed"
    DONE = "Done"
    CANCELLED = "Cancelled"


@dataclass
class DownloadItem:
    repo_id: str
    revision: str
    name: str  # the model's (first) file name in the repository
    model: ModelFile | None  # None for a download found on disk, until it is listed again
    total: int
    done: int = 0
    bytes_per_second: float = 0.0
    state: DownloadState = DownloadState.QUEUED
    message: str = ""
    page_url: str = ""  # a gated model's page, when access was refused
    path: Path | None = None  # once installed
    pending_parts: tuple[str, ...] = ()  # a download found on disk: its parts' names
    stop: threading.Event = field(default_factory=threading.Event)
    cancel_requested: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.repo_id, self.name)

    @property
    def label(self) -> str:
        return f"{self.repo_id} · {self.model.label if self.model else self.name}"

    @property
    def seconds_left(self) -> float | None:
        if self.bytes_per_second <= 0:
            return None
        return (self.total - self.done) / self.bytes_per_second


def items_from_pending(pending: list[Pending]) -> list[DownloadItem]:
    """Unfinished downloads found on disk, one item per model (a split model's parts
    together), to be listed as paused."""
    items: dict[tuple[str, str], DownloadItem] = {}
    for part in pending:
        split = split_name(part.name)
        group = f"{split.stem}\0split" if split else part.name
        key = (part.repo_id, group)
        item = items.get(key)
        if item is None:
            item = items[key] = DownloadItem(
                part.repo_id, part.revision, part.name, None, 0, state=DownloadState.PAUSED
            )
            item.message = "Unfinished from an earlier session: resume to continue."
        item.total += part.size
        item.done += part.done
        item.pending_parts += (part.name,)
    return list(items.values())


class DownloadQueue(QObject):
    changed = Signal(object)  # DownloadItem: its progress or state changed
    installed = Signal(object)  # DownloadItem: verified and in the models folder

    _progress = Signal(object, object)  # from the download thread: item, Progress
    _ended = Signal(object, object, object)  # item, installed path or None, exception or None

    def __init__(self, download: DownloadJob, discard: Callable[[DownloadItem], None]) -> None:
        super().__init__()
        self._download = download
        self._discard = discard
        self.items: list[DownloadItem] = []
        self._running: DownloadItem | None = None
        self._thread: threading.Thread | None = None
        self._progress.connect(self._on_progress)
        self._ended.connect(self._on_ended)

    # -- commands (GUI thread) -------------------------------------------------------------

    def add(self, repo_id: str, revision: str, model: ModelFile) -> DownloadItem:
        """Queue ``model``; an item already listed for it is resumed instead."""
        found = (self.find(repo_id, part.name) for part in model.parts)
        item = next((i for i in found if i is not None), None)
        if item is not None:
            if item.model is None:
                item.model = model
            self.resume(item)
            return item
        item = DownloadItem(repo_id, revision, model.name, model, model.size)
        self.items.append(item)
        self.changed.emit(item)
        self._next()
        return item

    def add_pending(self, pending: list[Pending]) -> None:
        """List downloads an earlier session left unfinished (paused, not started)."""
        for item in items_from_pending(pending):
            if self.find(item.repo_id, item.name) is None:
                self.items.append(item)
                self.changed.emit(item)

    def find(self, repo_id: str, name: str) -> DownloadItem | None:
        for item in self.items:
            if item.repo_id == repo_id and (item.name == name or name in _part_names(item)):
                return item
        return None

    def pause(self, item: DownloadItem) -> None:
        if item.state is DownloadState.DOWNLOADING:
            item.stop.set()  # the thread stops at the next chunk and reports "paused"
        elif item.state is DownloadState.QUEUED:
            item.state = DownloadState.PAUSED
            self.changed.emit(item)

    def resume(self, item: DownloadItem) -> None:
        if item.state in (DownloadState.PAUSED, DownloadState.FAILED, DownloadState.CANCELLED):
            item.state = DownloadState.QUEUED
            item.message = ""
            item.page_url = ""
            item.cancel_requested = False
            self.changed.emit(item)
            self._next()

    def cancel(self, item: DownloadItem) -> None:
        """Stop and delete what was downloaded of ``item``."""
        if item.state is DownloadState.DOWNLOADING:
            item.cancel_requested = True
            item.stop.set()
            return
        if item.state in (DownloadState.QUEUED, DownloadState.PAUSED, DownloadState.FAILED):
            self._discard_partial(item)
            item.state = DownloadState.CANCELLED
            item.done = 0
            self.changed.emit(item)

    def pause_all(self) -> None:
        for item in self.items:
            self.pause(item)

    def active(self) -> bool:
        return self._running is not None

    def shutdown(self, timeout: float = 10.0) -> None:
        """Pause the running download (its partial file stays, to resume next time)."""
        running = self._running
        if running is not None:
            running.stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the download thread -----------------------------------------------------------

    def _next(self) -> None:
        if self._running is not None:
            return
        item = next((i for i in self.items if i.state is DownloadState.QUEUED), None)
        if item is None:
            return
        item.state = DownloadState.DOWNLOADING
        item.stop = threading.Event()
        self._running = item
        self.changed.emit(item)
        self._thread = threading.Thread(
            target=self._run, args=(item,), name="download", daemon=True
        )
        self._thread.start()

    def _run(self, item: DownloadItem) -> None:
        try:
            path = self._download(item, lambda p: self._progress.emit(item, p), item.stop)
        except Exception as exc:  # reported on the GUI thread
            if not isinstance(exc, DesktopChatError):
                log.exception("download failed")
            self._ended.emit(item, None, exc)
        else:
            self._ended.emit(item, path, None)

    @Slot(object, object)
    def _on_progress(self, item: DownloadItem, progress: Progress) -> None:
        item.done, item.total = progress.done, progress.total
        item.bytes_per_second = progress.bytes_per_second
        self.changed.emit(item)

    @Slot(object, object, object)
    def _on_ended(self, item: DownloadItem, path: Path | None, error: Any) -> None:
        self._running = None
        item.bytes_per_second = 0.0
        if error is None:
            item.state, item.path, item.done = DownloadState.DONE, path, item.total
            item.message = f"Verified and installed: {path}"
            self.changed.emit(item)
            self.installed.emit(item)
        elif item.cancel_requested:
            self._discard_partial(item)
            item.state, item.done, item.message = DownloadState.CANCELLED, 0, ""
            self.changed.emit(item)
        elif isinstance(error, DownloadStoppedError):
            item.state, item.message = DownloadState.PAUSED, ""
            self.changed.emit(item)
        else:
            item.state = DownloadState.FAILED
            item.message = (
                str(error)
                if isinstance(error, DesktopChatError)
                else (
                    f"The download failed unexpectedly ({type(error).__name__}); details are in "
                    "the log."
                )
            )
            if isinstance(error, HubAccessError):
                item.page_url = error.page_url
            self.changed.emit(item)
        self._next()

    def _discard_partial(self, item: DownloadItem) -> None:
        try:
            self._discard(item)
        except OSError as exc:
            log.warning("could not delete the partial download of %s: %s", item.name, exc)


def _part_names(item: DownloadItem) -> set[str]:
    return {part.name for part in item.model.parts} if item.model else set(item.pending_parts)
