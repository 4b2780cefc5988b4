"""The window's start: the look, the first pages of the list and the presets, a restored
database reported, the start-up maintenance (old trash emptied, the integrity check, the
daily backup: core/storage/maintenance.py, run on the task pool with its own connection),
unfinished downloads listed, the models read and the last one loaded, the watch started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QMessageBox

from desktopchat.core.chat import GenerationParams
from desktopchat.core.models.downloads import Pending
from desktopchat.core.session import Core
from desktopchat.core.storage.backups import Recovery
from desktopchat.core.storage.maintenance import Maintenance, start_up

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow

WARM_UP_DELAY_MS = 3000


class StartUp(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.recovery_box: QMessageBox | None = None
        self.failure_box: QMessageBox | None = None

    def start(self) -> None:
        window = self.window
        window.look.apply()
        # The first query opens the window's connection (checking and recovering it first
        # when the last session did not end cleanly): what happened comes back here.
        window.database.run(
            lambda core: (core.recovery, core.checked), self._on_opened, self._on_open_failed
        )
        window.refresh_conversations()
        window.chat_settings.refresh_presets()
        window.settings_panel.set_params(GenerationParams())
        window.model_controls.refresh(autoload=True)
        window.conversations.start_watching()
        window.tasks.run(
            window.services.pending_downloads, self._on_pending_downloads, window.show_error
        )
        # The code highlighters are prepared once the window is up (on the task pool, it
        # slowed the first paint by 0.15 s holding the interpreter's lock).
        QTimer.singleShot(WARM_UP_DELAY_MS, self, self._warm_up)

    def _warm_up(self) -> None:
        window = self.window
        window.tasks.run(window.chat_view.warm_up, lambda _none: None, window.show_error)

    def _on_open_failed(self, message: str) -> None:
        """The database cannot be used (too new, read-only, locked for long): said in
        the notice and in a box that does not block the window."""
        window = self.window
        window.show_error(message)
        self.failure_box = QMessageBox(
            QMessageBox.Icon.Critical, "DesktopChat cannot open its chats", message, parent=window
        )
        self.failure_box.setWindowModality(Qt.WindowModality.NonModal)
        self.failure_box.show()

    def _on_opened(self, opened: tuple[Recovery | None, bool]) -> None:
        recovery, checked = opened
        window = self.window
        if recovery is not None:
            message = recovery.describe()
            window.show_error(message)
            self.recovery_box = QMessageBox(
                QMessageBox.Icon.Warning,
                "DesktopChat: chat database restored",
                message,
                parent=window,
            )
            self.recovery_box.setWindowModality(Qt.WindowModality.NonModal)
            self.recovery_box.show()  # not modal: the window stays usable
        paths, open_core = window.paths, window.services.open_core

        def maintain() -> Maintenance:
            """The maintenance, on the task pool with a connection of its own."""
            core: Core = open_core(paths)
            core.checked = checked  # checked at open already: not read through again
            try:
                return start_up(core)
            finally:
                core.close()

        window.tasks.run(maintain, self._on_maintained, window.show_error)

    def _on_maintained(self, done: Maintenance) -> None:
        window = self.window
        if done.damage:
            window.database_damaged = True
            window.show_error(
                f"{done.damage} Quit and start DesktopChat again: it will keep the damaged "
                "file aside and restore the newest backup."
            )
        elif done.problems:
            window.show_error(" ".join(done.problems))

    def _on_pending_downloads(self, pending: list[Pending]) -> None:
        """Downloads an earlier session left unfinished: listed, not resumed (the app
        never connects on its own)."""
        window = self.window
        window.downloads.add_pending(pending)
        if pending:
            window.show_status(
                "Unfinished downloads from an earlier session are paused: resume them in "
                "the model manager (Models…).",
                15_000,
            )
