"""Start the Qt application: the database, the inference thread, the window."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from desktopchat import __version__
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.engine import Engine
from desktopchat.core.inference.service import ChatService
from desktopchat.core.paths import AppPaths
from desktopchat.core.settings import load_settings
from desktopchat.ui.controllers import ChatController
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.single_instance import SingleInstance
from desktopchat.ui.workers import TaskRunner

log = logging.getLogger(__name__)
GUI_BUSY_TIMEOUT_MS = 1000
ICON = Path(__file__).resolve().parent.parent / "resources" / "desktopchat.png"


def build_window(
    paths: AppPaths,
    *,
    open_core: Callable[..., Any],
    make_engine: Callable[[], Engine],
    make_chat_service: Callable[[Any, Engine], ChatService],
    tasks: TaskRunner | None = None,
) -> MainWindow:
    """Everything the window needs, wired; raises DesktopChatError if storage is unusable."""
    # The GUI thread waits at most a second for a lock another program holds, then says so;
    # the inference thread (which saves replies) waits the full default.
    core = open_core(paths, busy_timeout_ms=GUI_BUSY_TIMEOUT_MS, check=True)

    def make_service(engine: Engine) -> tuple[ChatService, Callable[[], None]]:
        worker_core = open_core(paths)  # the inference thread's own connection
        return make_chat_service(worker_core, engine), worker_core.close

    controller = ChatController(paths, make_engine, make_service)
    window = MainWindow(core, controller, tasks or TaskRunner(), load_settings(paths.settings_file))
    return window


def run_application(
    paths: AppPaths,
    argv: list[str],
    *,
    open_core: Callable[..., Any],
    make_engine: Callable[[], Engine],
    make_chat_service: Callable[[Any, Engine], ChatService],
) -> int:
    app = QApplication.instance() or QApplication(argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("DesktopChat")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("desktopchat")
    if ICON.is_file():
        app.setWindowIcon(QIcon(str(ICON)))
    instance = SingleInstance(paths)
    if instance.activate_running():
        print(
            "desktopchat: DesktopChat is already running with this data folder; "
            "its window was brought to the front.",
            file=sys.stderr,
        )
        return 0
    instance.listen()
    try:
        window = build_window(
            paths,
            open_core=open_core,
            make_engine=make_engine,
            make_chat_service=make_chat_service,
        )
    except DesktopChatError as exc:
        log.error("cannot start: %s", exc)
        print(f"desktopchat: {exc}", file=sys.stderr)
        QMessageBox.critical(None, "DesktopChat cannot start", str(exc))
        return 1
    instance.activate_requested.connect(window.bring_to_front)
    window.show()
    window.start()
    code = app.exec()
    instance.close()
    window.deleteLater()
    return int(code)
