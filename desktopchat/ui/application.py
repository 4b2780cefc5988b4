"""Start the Qt application: the window wired to the services the composition root made
(desktopchat/app.py: window_services), the single-instance lock, signals, the event loop.
Nothing here imports the composition root: the services are handed in."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QEvent, QObject, QSocketNotifier, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFileOpenEvent, QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from desktopchat import APP_ID, __version__
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.paths import AppPaths
from desktopchat.core.settings import load_settings
from desktopchat.ui.controllers import ChatController, ModelState
from desktopchat.ui.main_window import MainWindow
from desktopchat.ui.services import WindowServices
from desktopchat.ui.single_instance import SingleInstance

log = logging.getLogger(__name__)
ICON = Path(__file__).resolve().parent.parent / "resources" / "desktopchat.png"


SELF_TEST_TIMEOUT_MS = 180_000


class FileOpenEvents(QObject):
    """Files the system asks us to open as events (macOS Finder, a dock drop)."""

    open_requested = Signal(str)

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            self.open_requested.emit(event.file())
            return True
        return super().eventFilter(watched, event)


class SelfTest(QObject):
    """``desktopchat --self-test PNG``: wait for the model, save the painted window, quit.
    Proves a build works end to end: Qt's plugins, the engine process, the model."""

    def __init__(self, window: MainWindow, picture: Path) -> None:
        super().__init__(window)
        self.window = window
        self.picture = picture
        self.code = 1
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.on_timer_timeout)

    def start(self) -> None:
        self.window.controller.model_state_changed.connect(self.on_model_state_changed)
        self._timer.start(SELF_TEST_TIMEOUT_MS)

    @Slot(object, str)
    def on_model_state_changed(self, state: ModelState, detail: str) -> None:
        if state is ModelState.READY:
            QTimer.singleShot(200, self.finish)  # let the window repaint with the model
        elif state is ModelState.FAILED:
            self.fail(f"the model did not load: {detail}")

    @Slot()
    def on_timer_timeout(self) -> None:
        self.fail("the model did not load in time")

    def finish(self) -> None:
        self._timer.stop()
        picture = self.window.grab()
        loaded = self.window.controller.loaded
        if picture.isNull() or not picture.save(str(self.picture), "PNG") or loaded is None:
            self.fail(f"cannot save the window's picture to {self.picture}")
            return
        print(
            f"self-test: painted the window ({picture.width()}x{picture.height()}) with "
            f"{loaded.name} on {loaded.backend}; saved {self.picture}",
            flush=True,
        )
        self.code = 0
        self.window.close()

    def fail(self, why: str) -> None:
        self._timer.stop()
        print(f"desktopchat: self-test failed: {why}", file=sys.stderr, flush=True)
        self.window.close()


def build_window(paths: AppPaths, services: WindowServices) -> MainWindow:
    """The window wired to ``services`` (made by the composition root: app.window_services).

    The window's database connection opens on its database thread. After a clean exit
    the integrity check runs in the background once the window is up (reading every page
    of a large history takes longer than the whole rest of the start); after a crash it
    runs first, as that connection opens, so a damaged database is replaced by a backup
    before anything reads it."""
    paths.ensure()
    dirty = paths.session_marker.exists()
    try:
        paths.session_marker.write_text(str(os.getpid()), encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write %s: %s", paths.session_marker, exc)
    controller = ChatController(paths, services.make_engine, services.make_service)
    settings = load_settings(paths.settings_file)
    return MainWindow(paths, services, controller, settings, check=dirty)


def install_excepthook(window: MainWindow, paths: AppPaths) -> None:
    """A bug anywhere is logged with its traceback and shown in a dialog that names the log
    file; the app keeps running."""
    log_file = paths.logs / "desktopchat.log"

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            window.close()
            return
        log.critical("uncaught exception", exc_info=(kind, value, tb))
        summary = f"Something went wrong inside DesktopChat ({kind.__name__}). Your chats are safe."
        window.show_error(f"{summary} The details are in {log_file}.")
        box = QMessageBox(
            QMessageBox.Icon.Warning, "DesktopChat", summary, QMessageBox.StandardButton.Ok, window
        )
        box.setObjectName("uncaught-exception")
        box.setInformativeText(
            f"The details are in the log file:\n{log_file}\n\nDesktopChat keeps running; if "
            "this happens again, please report it with that file."
        )
        box.setWindowModality(Qt.WindowModality.NonModal)  # never blocks the window
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    sys.excepthook = hook


def stop_on_signals(window: MainWindow) -> tuple[socket.socket, socket.socket]:
    """SIGTERM (logout, shutdown, kill) and Ctrl+C close the window the normal way: the
    partial reply is saved and the inference thread is stopped before we exit."""
    # Python runs signal handlers between bytecodes; while Qt's loop sleeps in C, a
    # wake-up file descriptor lets the loop notice the signal at once.
    read_end, write_end = socket.socketpair()
    read_end.setblocking(False)
    write_end.setblocking(False)
    signal.set_wakeup_fd(write_end.fileno())
    notifier = QSocketNotifier(read_end.fileno(), QSocketNotifier.Type.Read, window)

    def drain() -> None:
        with contextlib.suppress(OSError):
            read_end.recv(64)

    notifier.activated.connect(drain)

    def handler(_signum: int, _frame: object) -> None:
        QTimer.singleShot(0, window.close)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return read_end, write_end  # the caller keeps them open while the loop runs


def run_application(
    paths: AppPaths,
    argv: list[str],
    services: Callable[[], WindowServices],
    *,
    open_files: Sequence[str] = (),
    self_test: Path | None = None,
) -> int:
    """The window's event loop. ``services`` makes the window's services (once Qt is up:
    the download queue and the task pool are Qt objects). ``open_files``: .gguf files to
    import (a double-click in the file manager). ``self_test``: load the starter model,
    save a picture of the painted window there and quit (0 when all of that worked; for
    packagers)."""
    app = QApplication.instance() or QApplication(argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("DesktopChat")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)  # Wayland finds the icon and name by it
    if ICON.is_file():
        app.setWindowIcon(QIcon(str(ICON)))
    files = [str(Path(f).resolve()) for f in open_files]
    opened = FileOpenEvents(app)  # macOS sends double-clicked files as events
    instance = SingleInstance(paths)
    if self_test is None and instance.activate_running(files):
        print(
            "desktopchat: DesktopChat is already running with this data folder; "
            "its window was brought to the front.",
            file=sys.stderr,
        )
        return 0
    instance.listen()
    try:
        window = build_window(paths, services())
    except DesktopChatError as exc:
        log.error("cannot start: %s", exc)
        print(f"desktopchat: {exc}", file=sys.stderr)
        QMessageBox.critical(None, "DesktopChat cannot start", str(exc))
        return 1
    instance.activate_requested.connect(window.bring_to_front)
    instance.open_requested.connect(window.open_file)
    opened.open_requested.connect(window.open_file)
    install_excepthook(window, paths)
    wakeup = stop_on_signals(window)
    window.show()
    window.start()
    for path in files:
        window.open_file(path)
    test = SelfTest(window, self_test) if self_test is not None else None
    if test is not None:
        test.start()
    code = app.exec() or (test.code if test is not None else 0)
    if not window.database_damaged:  # else the next start checks (and recovers) first
        paths.session_marker.unlink(missing_ok=True)
    signal.set_wakeup_fd(-1)
    for end in wakeup:
        end.close()
    instance.close()
    window.deleteLater()
    return int(code)
