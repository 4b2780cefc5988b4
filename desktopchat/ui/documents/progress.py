"""Indexing progress for the window: ``ProgressRelay`` carries the library's reports
(made on the indexer's thread) to the GUI thread through a queued signal and passes on at
most a few a second; ``describe`` says a report in words for the progress line."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desktopchat.core.documents.types import IndexProgress

COALESCE_MS = 250  # at most four progress repaints a second


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def describe(progress: IndexProgress | None) -> str:
    """The progress line: files, chunks, MB, speed, time left, and why it waits."""
    if progress is None:
        return "Reading the documents' state…"
    text = _describe(progress)
    if progress.unavailable:
        gone = ", ".join(str(p) for p in progress.unavailable[:2])
        more = f" and {len(progress.unavailable) - 2} more" if len(progress.unavailable) > 2 else ""
        text += f" · folder unavailable: {gone}{more} (its files stay searchable)"
    return text


def _describe(p: IndexProgress) -> str:
    if p.files_total == 0:
        return "No documents yet: add files or a folder to a collection."
    failed = f" ({p.files_failed:,} could not be read)" if p.files_failed else ""
    if p.idle:
        return (
            f"All {p.files_total:,} files indexed{failed} · "
            f"{p.chunks_total:,} passages searchable by meaning"
        )
    parts = [f"Files {p.files_done:,} of {p.files_total:,}{failed}"]
    if p.chunks_total:
        parts.append(f"passages embedded {p.chunks_embedded:,} of {p.chunks_total:,}")
    if p.bytes_total:
        parts.append(f"{_size(p.bytes_done)} of {_size(p.bytes_total)}")
    if p.paused:
        parts.append("paused")
    elif p.yielding:
        parts.append("waiting while a reply streams")
    else:
        speeds = []
        if p.bytes_per_second > 0:
            speeds.append(f"{p.bytes_per_second / 1_000_000:.1f} MB/s")
        if p.chunks_per_second > 0:
            speeds.append(f"{p.chunks_per_second:.0f} passages/s")
        if speeds:
            parts.append(", ".join(speeds))
        if p.seconds_left is not None:
            parts.append(f"about {_duration(p.seconds_left)} left")
        if p.current:
            parts.append(f"now: {p.current}")
    return "Indexing: " + " · ".join(parts)


class ProgressRelay(QObject):
    """Lives on the GUI thread. ``report`` may be called on any thread (it is the
    library's listener); ``changed`` is emitted on the GUI thread with the latest report,
    no more often than every ``interval_ms``."""

    changed = Signal(object)  # IndexProgress
    _arrived = Signal()

    def __init__(self, interval_ms: int = COALESCE_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._latest: IndexProgress | None = None
        self._posted = False  # a queued _arrived is on its way
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False
        self.latest: IndexProgress | None = None  # the last one passed on (GUI thread)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.on_timer_timeout)
        self._arrived.connect(self.on_arrived, Qt.ConnectionType.QueuedConnection)

    def report(self, progress: IndexProgress) -> None:
        """The library's listener: any thread. Keeps the newest report and posts one
        wake-up to the GUI thread (never touches a widget)."""
        with self._lock:
            if self._closed:
                return
            self._latest = progress
            if self._posted:
                return
            self._posted = True
        with contextlib.suppress(RuntimeError):  # the window is gone (its C++ object)
            self._arrived.emit()

    def subscribed(self, unsubscribe: Callable[[], None]) -> None:
        """Remember how to unsubscribe (the subscription is made on the task pool)."""
        if self._closed:
            unsubscribe()
        else:
            self._unsubscribe = unsubscribe

    @Slot()
    def on_arrived(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def on_timer_timeout(self) -> None:
        with self._lock:
            progress, self._latest, self._posted = self._latest, None, False
        if progress is not None:
            self.latest = progress
            self.changed.emit(progress)

    def close(self) -> Callable[[], None] | None:
        """Stop passing reports on; returns the unsubscribe function (to call off the GUI
        thread), if subscribed."""
        with self._lock:
            self._closed = True
        self._timer.stop()
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        return unsubscribe
