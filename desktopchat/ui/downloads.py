"""The download queue behind the model manager: one download at a time on its own thread,
with pause, resume and cancel, and downloads left unfinished by an earlier session.

The queue belongs to the main window, so downloads go on while the model manager is
closed. Its state is only touched on the GUI thread; the download thread reports through
queued signals. Deleting what a cancelled download left runs off the GUI thread too (on
the download thread, or a short thread of its own). Nothing here connects on its own: a
download left from an earlier session is listed as paused until the user resumes it.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from desktopchat.core.errors import DesktopChatError, DownloadStoppedError, HubAccessError
from desktopchat.core.models.download_items import (
    DiscardJob,
    DownloadItem,
    DownloadJob,
    DownloadState,
    items_from_pending,
)
from desktopchat.core.models.downloads import Pending, Progress
from desktopchat.core.models.remote import ModelFile

log = logging.getLogger(__name__)

__all__ = ["DownloadItem", "DownloadJob", "DownloadQueue", "DownloadState"]


class DownloadQueue(QObject):
    changed = Signal(object)  # DownloadItem: its progress or state changed
    installed = Signal(object)  # DownloadItem: verified and in the models folder

    _progress = Signal(object, object)  # from the download thread: item, Progress
    _ended = Signal(object, object, object)  # item, installed path or None, exception or None
    _discarded = Signal(object)  # item: its partial files are deleted

    def __init__(self, download: DownloadJob, discard: DiscardJob) -> None:
        super().__init__()
        self._download = download
        self._discard = discard
        self.items: list[DownloadItem] = []
        self._running: DownloadItem | None = None
        self._thread: threading.Thread | None = None
        self._progress.connect(self._on_progress)
        self._ended.connect(self._on_ended)
        self._discarded.connect(self._on_discarded)

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
            if item.repo_id == repo_id and (item.name == name or name in item.part_names()):
                return item
        return None

    def pause(self, item: DownloadItem) -> None:
        if item.state is DownloadState.DOWNLOADING:
            item.stop.set()  # the thread stops at the next chunk and reports "paused"
        elif item.state is DownloadState.QUEUED:
            item.state = DownloadState.PAUSED
            self.changed.emit(item)

    def resume(self, item: DownloadItem) -> None:
        if item.cancel_requested:
            return  # what was downloaded is still being deleted
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
            item.cancel_requested = True  # until the files are gone
            item.state = DownloadState.CANCELLED
            item.done = 0
            self.changed.emit(item)
            threading.Thread(
                target=self._discard_in_background, args=(item,), name="discard", daemon=True
            ).start()

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
            if item.cancel_requested:  # set before the stop: delete here, not on the GUI thread
                self._discard_partial(item)
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
        elif item.cancel_requested:  # its partial files were deleted on the download thread
            item.cancel_requested = False
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

    def _discard_in_background(self, item: DownloadItem) -> None:
        self._discard_partial(item)
        self._discarded.emit(item)

    @Slot(object)
    def _on_discarded(self, item: DownloadItem) -> None:
        item.cancel_requested = False
        self.changed.emit(item)

    def _discard_partial(self, item: DownloadItem) -> None:
        try:
            self._discard(item)
        except OSError as exc:
            log.warning("could not delete the partial download of %s: %s", item.name, exc)
