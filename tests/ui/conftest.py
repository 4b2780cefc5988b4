"""The real main window, built the way the application builds it, for the UI tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktopchat import app as composition
from desktopchat.core.paths import AppPaths
from desktopchat.core.session import open_core
from desktopchat.ui.application import build_window
from desktopchat.ui.controllers import ModelState
from desktopchat.ui.main_window import MainWindow

WindowFactory = Callable[..., MainWindow]


@pytest.fixture
def make_window(qtbot: QtBot, paths: AppPaths) -> Iterator[WindowFactory]:
    windows: list[MainWindow] = []

    def factory(*, wait_for_model: bool = True) -> MainWindow:
        window = build_window(
            paths,
            open_core=open_core,
            make_engine=composition.make_isolated_engine,
            make_chat_service=composition.make_chat_service,
        )
        qtbot.addWidget(window)
        window.show()
        window.start()
        windows.append(window)
        if wait_for_model:
            qtbot.waitUntil(lambda: window.controller.state is ModelState.READY, timeout=60_000)
        return window

    yield factory
    for window in windows:
        window.close()
