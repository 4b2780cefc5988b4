"""The real main window, built the way the application builds it, for the UI tests.

``make_window`` closes everything it opened: each window, then (as ``app.run_gui`` does
after the window) the documents library of its services, with the library's threads (the
store, the indexer's workers, the embedder, the folder watcher). A window the test closed
itself has its library closed before the next window opens, as when the app is started
again. ``no_leftover_threads`` (autouse) fails a UI test that leaves a documents thread or
a watchdog observer running."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktopchat import app as composition
from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.paths import AppPaths
from desktopchat.ui.application import build_window
from desktopchat.ui.controllers import ModelState
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.services import WindowServices

WindowFactory = Callable[..., MainWindow]
# What a test changes in the composition root's services before the window gets them.
Customize = Callable[[WindowServices], WindowServices]
SETTLE_TIMEOUT_MS = 60_000  # a hang guard, not a speed limit
THREADS_END_TIMEOUT_S = 30.0  # a hang guard: closed libraries' threads end within this


def settle(qtbot: QtBot, window: MainWindow) -> None:
    """Wait until every database query the window asked for has been answered (and what
    those answers asked for in turn): the window shows what the database holds."""
    qtbot.waitUntil(lambda: window.database.idle, timeout=SETTLE_TIMEOUT_MS)


def leftover_threads() -> list[threading.Thread]:
    """Running threads of the documents library (named documents-*) and of watchdog."""
    return [
        t
        for t in threading.enumerate()
        if t.is_alive()
        and (t.name.startswith("documents-") or type(t).__module__.startswith("watchdog"))
    ]


@pytest.fixture(autouse=True)
def no_leftover_threads() -> Iterator[None]:
    """After the test and its fixtures' teardown: no documents or watchdog thread runs
    (waits a little for threads that were told to end: a hang guard, not a speed limit)."""
    before = set(leftover_threads())
    yield
    deadline = time.monotonic() + THREADS_END_TIMEOUT_S
    left = [t for t in leftover_threads() if t not in before]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [t for t in leftover_threads() if t not in before]
    assert not left, f"threads left running: {sorted(t.name for t in left)}"


class _Opened:
    """A window the factory built and the libraries its services hold."""

    def __init__(self, window: MainWindow, libraries: list[DocumentLibrary]) -> None:
        self.window = window
        self.libraries = libraries
        self.closed = False

    def close_libraries(self) -> None:
        if not self.closed:
            self.closed = True
            for library in self.libraries:
                library.close()


@pytest.fixture
def make_window(qtbot: QtBot, paths: AppPaths) -> Iterator[WindowFactory]:
    """``make_window(wait_for_model=True, customize=None)``: a shown, started window
    (with the starter model loaded unless ``wait_for_model`` is False); ``customize``
    changes the services first (another keychain, say). ``window.services.documents``
    is the library the window got."""
    opened: list[_Opened] = []

    def factory(*, wait_for_model: bool = True, customize: Customize | None = None) -> MainWindow:
        for earlier in opened:  # a window the test closed: its library goes, as at a restart
            if not earlier.window.isVisible():
                earlier.close_libraries()
        made = composition.window_services(paths)
        services = customize(made) if customize is not None else made
        libraries: list[DocumentLibrary] = []
        for library in (made.documents, services.documents):
            if library is not None and all(library is not other for other in libraries):
                libraries.append(library)
        try:
            window = build_window(paths, services)
        except BaseException:
            for library in libraries:
                library.close()
            raise
        opened.append(_Opened(window, libraries))
        qtbot.addWidget(window)
        window.show()
        window.start()
        if wait_for_model:
            qtbot.waitUntil(lambda: window.controller.state is ModelState.READY, timeout=60_000)
        settle(qtbot, window)
        return window

    yield factory
    for item in opened:
        item.window.close()
    for item in opened:
        item.close_libraries()
