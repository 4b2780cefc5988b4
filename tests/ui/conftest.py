"""The real main window, built the way the application builds it, for the UI tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktopchat import app as composition
from desktopchat.core.paths import AppPaths
from desktopchat.ui.application import build_window
from desktopchat.ui.controllers import ModelState
from desktopchat.ui.main_window import MainWindow

WindowFactory = Callable[..., MainWindow]
SETTLE_TIMEOUT_MS = 60_000  # a hang guard, not a speed limit


def settle(qtbot: QtBot, window: MainWindow) -> None:
    """Wait until every database query the window asked for has been answered (and what
    those answers asked for in turn): the window shows what the database holds."""
    qtbot.waitUntil(lambda: window.database.idle, timeout=SETTLE_TIMEOUT_MS)


@pytest.fixture
def make_window(qtbot: QtBot, paths: AppPaths) -> Iterator[WindowFactory]:
    windows: list[MainWindow] = []

    def factory(*, wait_for_model: bool = True) -> MainWindow:
        window = build_window(paths, composition.window_services(paths))
        qtbot.addWidget(window)
        window.show()
        window.start()
        windows.append(window)
        if wait_for_model:
            qtbot.waitUntil(lambda: window.controller.state is ModelState.READY, timeout=60_000)
        settle(qtbot, window)
        return window

    yield factory
    for window in windows:
        window.close()
