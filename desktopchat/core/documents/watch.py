"""Watched folders: file-system notifications (watchdog), debounced into paths to rescan.

The only module that imports watchdog. ``FolderWatcher`` schedules one recursive watch per
folder root (a file root is watched through its parent folder, filtered to that file) and
hands the indexer the set of paths that changed once they have been quiet for ``debounce``
seconds (a file being copied sends many events; it is rescanned once). Events under hidden
and system folders (``.git``, ``node_modules``) are dropped, as the scan drops them.

Notifications do not work everywhere (network folders, some FUSE mounts, an exhausted
inotify limit): a root that cannot be watched is returned by ``watch`` and the indexer's
slow periodic rescan covers it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from desktopchat.core.documents.scan import skipped_name

log = logging.getLogger(__name__)

PathsListener = Callable[[set[Path]], None]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher, root: Path, only: Path | None) -> None:
        self._watcher = watcher
        self._root = root
        self._only = only  # a file root: only events about this file count

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reads (our own parsers' included) change nothing
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = Path(raw if isinstance(raw, str) else raw.decode(errors="surrogateescape"))
            if self._only is not None:
                if path == self._only:
                    self._watcher.changed(path)
                continue
            if self._relevant(path):
                self._watcher.changed(path)

    def _relevant(self, path: Path) -> bool:
        try:
            parts = path.relative_to(self._root).parts
        except ValueError:
            return False
        if not parts:
            return True
        *folders, name = parts
        if any(skipped_name(p, folder=True) for p in folders):
            return False
        # The last part may be a folder or a file: drop it only if it is hidden either way.
        return not (skipped_name(name, folder=True) and skipped_name(name, folder=False))


class FolderWatcher:
    """Debounced notifications for a set of roots; ``listener`` runs on the watcher's thread."""

    def __init__(self, listener: PathsListener, debounce: float = 1.0) -> None:
        self._listener = listener
        self._debounce = debounce
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: set[Path] = set()
        self._last_event = 0.0
        self._first_event = 0.0
        self._closed = False
        self._observer: BaseObserver | None = None
        self._watches: dict[Path, ObservedWatch] = {}
        self._thread = threading.Thread(
            target=self._deliver, name="documents-watch-debounce", daemon=True
        )
        self._thread.start()

    def changed(self, path: Path) -> None:
        with self._lock:
            now = time.monotonic()
            if not self._pending:
                self._first_event = now
            self._pending.add(path)
            self._last_event = now
            self._wake.notify()

    def watch(self, roots: Sequence[Path]) -> list[Path]:
        """Watch exactly these roots (others are unwatched); returns those that cannot be."""
        failed: list[Path] = []
        wanted = set(roots)
        with self._lock:
            if self._closed:
                return list(roots)
            if self._observer is None:
                self._observer = Observer()
                self._observer.daemon = True
                self._observer.start()
            observer = self._observer
            for root in list(self._watches):
                if root not in wanted:
                    with contextlib.suppress(KeyError, OSError):
                        observer.unschedule(self._watches.pop(root))
        for root in roots:
            if root in self._watches:
                continue
            try:
                if root.is_dir():
                    handler = _Handler(self, root, None)
                    watch = observer.schedule(handler, str(root), recursive=True)
                elif root.parent.is_dir():
                    handler = _Handler(self, root, root)
                    watch = observer.schedule(handler, str(root.parent), recursive=False)
                else:
                    failed.append(root)
                    continue
            except (OSError, RuntimeError) as exc:  # inotify limits, a vanished folder
                log.info("cannot watch %s: %s", root, exc)
                failed.append(root)
                continue
            with self._lock:
                self._watches[root] = watch
        return failed

    def watched(self) -> list[Path]:
        with self._lock:
            return list(self._watches)

    def _deliver(self) -> None:
        while True:
            with self._lock:
                while not self._closed:
                    if self._pending:
                        now = time.monotonic()
                        quiet = now - self._last_event
                        # A long copy keeps sending events: deliver at least every 10 s.
                        if quiet >= self._debounce or now - self._first_event >= 10.0:
                            break
                        self._wake.wait(self._debounce - quiet)
                    else:
                        self._wake.wait()
                if self._closed:
                    return
                paths, self._pending = self._pending, set()
            try:
                self._listener(paths)
            except Exception:  # the listener's bug must not end the watching
                log.exception("watch listener failed")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wake.notify_all()
            observer, self._observer = self._observer, None
            self._watches.clear()
        if observer is not None:
            observer.stop()
            observer.join(timeout=2.0)
        self._thread.join(timeout=2.0)
