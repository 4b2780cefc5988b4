"""Run by the harness in a fresh process: start the real app and report, as one JSON
line on stdout, when its main window was first painted and when the event loop next ran.
Not meant to be run by hand."""

from __future__ import annotations

import time

LAUNCHED = time.time()

import json
import sys
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from desktopchat.app import run_gui
from desktopchat.core.paths import AppPaths


class FirstPaint(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.report: dict[str, object] = {"interpreter_started": LAUNCHED}
        self.window: QWidget | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            self.window is None
            and event.type() == QEvent.Type.Paint
            and isinstance(watched, QWidget)
            and type(watched.window()).__name__ == "MainWindow"
        ):
            self.window = watched.window()
            self.report["painted"] = time.time()
            self.report["llama_cpp_imported"] = "llama_cpp" in sys.modules
            QTimer.singleShot(0, self.on_loop_ran)
        return False

    def on_loop_ran(self) -> None:
        self.report["responsive"] = time.time()
        self.on_list_timer()

    def on_list_timer(self) -> None:
        """The list's first page arrives from the database thread after the first paint:
        report when it is shown (or give up after 30 s)."""
        sidebar = getattr(self.window, "sidebar", None)
        rows = sidebar.list.model().rowCount() if sidebar is not None else 0
        waited = time.time() - self.report["responsive"]  # type: ignore[operator]
        if rows == 0 and waited < 30:
            QTimer.singleShot(5, self.on_list_timer)
            return
        self.report["listed"] = time.time()
        self.report["sidebar_rows"] = rows
        print(json.dumps(self.report), flush=True)
        assert self.window is not None
        QTimer.singleShot(50, self.window.close)


def main() -> int:
    app = QApplication(sys.argv[:1])
    probe = FirstPaint()
    app.installEventFilter(probe)
    return run_gui(AppPaths.under(Path(sys.argv[1])), sys.argv[:1], [])


if __name__ == "__main__":
    raise SystemExit(main())
