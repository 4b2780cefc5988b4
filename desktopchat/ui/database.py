"""The window's way to the database: every SQLite query of the GUI runs here.

``DatabaseGateway`` owns one thread and, on it, one ``Core`` (one SQLite connection) that
it opens with the factory it is given. ``run(query, done, failed)`` queues ``query(core)``
on that thread; queries run one at a time in the order they were asked for, and
``done(result)`` (or ``failed(message)``) is then called on the GUI thread. The GUI thread
never waits: a lock another program holds makes the query wait on the database thread
while the window keeps painting.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from desktopchat.core.errors import DesktopChatError
from desktopchat.core.session import Core

log = logging.getLogger(__name__)
T = TypeVar("T")
SHUTDOWN_TIMEOUT_S = 30.0  # a generous bound: a query waiting on a lock gives up well before


class _Job:
    """One query and where its answer goes (both callbacks run on the GUI thread)."""

    __slots__ = ("done", "failed", "query")

    def __init__(
        self,
        query: Callable[[Core], object],
        done: Callable[[object], None],
        failed: Callable[[str], None],
    ) -> None:
        self.query = query
        self.done = done
        self.failed = failed


class DatabaseGateway(QObject):
    """Runs queries on the database thread; delivers their results on the GUI thread."""

    _delivered = Signal(object, object)  # callback, its argument

    def __init__(
        self,
        open_core: Callable[[], Core],
        *,
        on_failed: Callable[[str], None] | None = None,
        name: str = "database",
    ) -> None:
        super().__init__()
        self._open_core = open_core
        # Where failures go when a caller names no ``failed`` (the window's notice line).
        self.on_failed: Callable[[str], None] = on_failed or (lambda message: None)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._pending = 0  # queued or running, not yet delivered (GUI thread only)
        self._closed = False
        self._delivered.connect(self._on_delivered)
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    # -- GUI thread --------------------------------------------------------------------

    def run(
        self,
        query: Callable[[Core], T],
        done: Callable[[T], None],
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """Run ``query(core)`` on the database thread, then ``done(result)`` here. A
        DesktopChatError becomes ``failed(message)`` (default: ``on_failed``)."""
        if self._closed:
            log.debug("a query after shutdown is dropped")
            return
        self._pending += 1
        self._jobs.put(_Job(query, done, failed or self._default_failed))  # type: ignore[arg-type]

    @property
    def idle(self) -> bool:
        """Every query asked for so far has run and its answer was delivered."""
        return self._pending == 0

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Run what is queued (writes are not lost), close the connection on its thread,
        and end it. Answers that arrive after this are dropped. True if it ended."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _default_failed(self, message: str) -> None:
        self.on_failed(message)

    @Slot(object, object)
    def _on_delivered(self, callback: Callable[[object], None], value: object) -> None:
        self._pending -= 1
        if self._closed:
            return  # the window is going: nobody is left to show it
        callback(value)

    # -- the database thread -----------------------------------------------------------

    def _serve(self) -> None:
        core: Core | None = None
        while True:
            job = self._jobs.get()
            if job is None:
                break
            try:
                if core is None:
                    core = self._open_core()
                result = job.query(core)
            except DesktopChatError as exc:
                self._delivered.emit(job.failed, str(exc))
            except Exception as exc:
                log.error("database query failed:\n%s", traceback.format_exc())
                self._delivered.emit(
                    job.failed, f"Unexpected error in the database ({type(exc).__name__})."
                )
            else:
                self._delivered.emit(job.done, result)
        if core is not None:
            try:
                core.close()
            except Exception:
                log.exception("closing the window's database connection failed")
