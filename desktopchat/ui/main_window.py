"""The main window: composes the parts (desktopchat/ui/window/) and lays them out.

Each part owns one concern: the composer, the conversation list's actions, message
actions and branches, the model picker, the settings panel and presets, the dialogs,
export/import, the look, sending and reply events, documents, the start-up. The window holds what
they share (the database gateway, the controller, the task pool, the settings, the
notice line) and thin entry points that menus, shortcuts and tests call. No SQLite here:
every query goes through ``self.database`` (the database thread).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QTimer, Slot
from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent, QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLayout,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.models.library import InstalledModel
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import redact
from desktopchat.core.settings import AppSettings, save_settings
from desktopchat.core.storage.repositories import SearchHit
from desktopchat.ui.about_dialog import AboutDialog
from desktopchat.ui.chat_view import ChatView
from desktopchat.ui.context_meter import ContextMeter
from desktopchat.ui.controllers import ChatController, ModelState
from desktopchat.ui.conversation_list import ConversationList
from desktopchat.ui.database import DatabaseGateway
from desktopchat.ui.documents.dialog import DocumentsDialog
from desktopchat.ui.help_dialog import ShortcutsDialog
from desktopchat.ui.model_manager import ModelManagerDialog
from desktopchat.ui.presets_dialog import PresetsDialog
from desktopchat.ui.search_dialog import SearchDialog
from desktopchat.ui.services import WindowServices
from desktopchat.ui.settings_panel import SettingsPanel
from desktopchat.ui.window.chat_settings import ChatSettings
from desktopchat.ui.window.composer import Composer, ComposerPanel
from desktopchat.ui.window.conversations import ConversationActions
from desktopchat.ui.window.dialogs import Dialogs
from desktopchat.ui.window.documents import Documents, DocumentsBar
from desktopchat.ui.window.look import Look
from desktopchat.ui.window.menus import build_menus
from desktopchat.ui.window.messages import MessageActions
from desktopchat.ui.window.models import ModelControls
from desktopchat.ui.window.replies import Replies
from desktopchat.ui.window.startup import StartUp
from desktopchat.ui.window.transfer import Transfer

__all__ = ["Composer", "MainWindow"]

log = logging.getLogger(__name__)
UNDO_SECONDS = 20  # how long an Undo button stays offered


class MainWindow(QMainWindow):
    # The model row's widgets, put here by ModelControls (menus and tests use them).
    model_picker: QComboBox
    load_button: QPushButton
    unload_button: QPushButton
    import_button: QPushButton
    models_button: QPushButton
    model_state: QLabel
    load_bar: QProgressBar
    settings_button: QPushButton

    def __init__(
        self,
        paths: AppPaths,
        services: WindowServices,
        controller: ChatController,
        settings: AppSettings,
        *,
        check: bool = False,
    ) -> None:
        super().__init__()
        self.paths = paths
        self.services = services
        self.controller = controller
        self.tasks = services.tasks
        self.secrets = services.secrets
        self.downloads = services.downloads
        self.settings = settings
        # The window's connection lives on the database thread; at start it is opened
        # with the integrity check (and recovery) when the last session did not end cleanly.
        self.database = DatabaseGateway(
            lambda: services.open_core(paths, check=check), on_failed=self.show_error
        )
        self.current_conversation: int | None = None
        self.last_announcement = ""
        self.dialogs: dict[str, object] = {}  # open non-modal dialogs, by kind
        self.database_damaged = False  # the background integrity check failed
        self._shutting_down = False
        self.setWindowTitle("DesktopChat")
        self.resize(1200, 780)
        self._build()
        self.look = Look(self)
        self.conversations = ConversationActions(self)
        self.messages = MessageActions(self)
        self.model_controls = ModelControls(self)
        self.chat_settings = ChatSettings(self)
        self.replies = Replies(self)
        self.window_dialogs = Dialogs(self)
        self.transfer = Transfer(self)
        self.documents = Documents(self)  # after Replies: its slots run after Replies' own
        self.startup = StartUp(self)
        self.actions_by_name, self.theme_actions = build_menus(self)
        self.manager_action = self.actions_by_name["manager"]
        self.network_action = self.actions_by_name["network"]
        self.tools_action = self.actions_by_name["tools"]
        self.update_enabled()

    # -- layout --------------------------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = ConversationList()
        self.sidebar.setMinimumWidth(180)
        self.chat_view = ChatView()
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        self.notice.setAccessibleName("Notice")
        # An offer to act on what just happened: Undo, or the other overflow policies.
        self.action_bar = QWidget()
        self.action_label = QLabel()
        self.action_label.setWordWrap(True)
        self.action_label.setAccessibleName("Last action")
        self.action_buttons = [QPushButton(), QPushButton()]
        action_layout = QHBoxLayout(self.action_bar)
        action_layout.setContentsMargins(0, 0, 0, 0)
        action_layout.addWidget(self.action_label, 1)
        for button in self.action_buttons:
            action_layout.addWidget(button)
        self.action_bar.setVisible(False)
        self._action_callbacks: list[Callable[[], None]] = []
        for index, button in enumerate(self.action_buttons):
            button.clicked.connect(lambda _=False, i=index: self._run_action(i))
        self._action_timer = QTimer(self)
        self._action_timer.setSingleShot(True)
        self._action_timer.setInterval(UNDO_SECONDS * 1000)
        self._action_timer.timeout.connect(self.clear_action)
        self.documents_bar = DocumentsBar()
        self.composing = ComposerPanel(self.controller)
        self.composer = self.composing.editor
        self.settings_panel = SettingsPanel()
        self.settings_scroll = QScrollArea()
        self.settings_scroll.setWidgetResizable(True)
        self.settings_scroll.setWidget(self.settings_panel)
        self.settings_panel.installEventFilter(self)  # its size changes with fonts (zoom)
        self.fit_settings_column()

    def lay_out(self, top: QLayout) -> None:
        """Put the parts in place (called by ModelControls once the model rows exist)."""
        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(6, 6, 6, 6)
        center_layout.addLayout(top)
        center_layout.addWidget(self.chat_view, 1)
        center_layout.addWidget(self.notice)
        center_layout.addWidget(self.action_bar)
        center_layout.addWidget(self.documents_bar)
        center_layout.addWidget(self.composing)
        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(center)
        splitter.addWidget(self.settings_scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(0, False)
        splitter.setCollapsible(2, False)
        splitter.setSizes([self.settings.sidebar_width, 600, self.settings_scroll.minimumWidth()])
        self.splitter = splitter
        self.setCentralWidget(splitter)
        self.ttft_label = QLabel()
        self.speed_label = QLabel()
        self.context_label = QLabel()
        status = self.statusBar()
        status.addPermanentWidget(self.ttft_label)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.context_label)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.settings_panel and event.type() == QEvent.Type.LayoutRequest:
            self.fit_settings_column()
        return super().eventFilter(watched, event)

    def fit_settings_column(self) -> None:
        """The settings column is as wide as its panel needs (beside a vertical scroll
        bar), so nothing in it is cut or scrolled sideways; again after a zoom."""
        scroll = self.settings_scroll
        bar = scroll.verticalScrollBar().sizeHint().width()
        frame = 2 * scroll.frameWidth()
        scroll.setMinimumWidth(self.settings_panel.minimumSizeHint().width() + bar + frame)

    # -- the composer's widgets, by their old names (menus, tests) ------------------------

    @property
    def attachment(self) -> str:
        return self.composing.attachment

    @property
    def attachment_bar(self) -> QWidget:
        return self.composing.attachment_bar

    @property
    def attachment_label(self) -> QLabel:
        return self.composing.attachment_label

    @property
    def attachment_remove(self) -> QPushButton:
        return self.composing.attachment_remove

    @property
    def token_label(self) -> QLabel:
        return self.composing.token_label

    @property
    def send_button(self) -> QPushButton:
        return self.composing.send_button

    @property
    def stop_button(self) -> QPushButton:
        return self.composing.stop_button

    @property
    def edit_bar(self) -> QWidget:
        return self.composing.edit_bar

    @property
    def editing(self) -> int | None:
        return self.composing.editing

    @property
    def context_meter(self) -> ContextMeter:
        return self.composing.context_meter

    @property
    def models(self) -> list[InstalledModel]:
        """The installed models, as the picker lists them."""
        return self.model_controls.models

    # -- start-up ------------------------------------------------------------------------

    def start(self) -> None:
        """Fill the sidebar, run the start-up maintenance, read the models, auto-load."""
        self.startup.start()

    # -- what the parts share ------------------------------------------------------------

    def show_error(self, message: str) -> None:
        self.show_notice(message, error=True)

    def show_notice(self, message: str, *, error: bool = False) -> None:
        look = self.look.current
        self.notice.setStyleSheet(f"color: {look.error if error else look.muted};")
        self.notice.setText(redact(message))
        self.notice.setVisible(bool(message))

    def show_status(self, text: str, msecs: int = 5000) -> None:
        self.statusBar().showMessage(text, msecs)

    def ask_text(self, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text if ok else None

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def change_settings(self, **changes: object) -> None:
        self.settings = self.settings.with_changes(**changes)
        try:
            save_settings(self.paths.settings_file, self.settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    def announce(self, text: str) -> None:
        """Tell screen readers (politely: after what they are reading)."""
        self.last_announcement = text
        QAccessible.updateAccessibility(QAccessibleAnnouncementEvent(self.chat_view, text))

    def offer_action(self, text: str, *choices: tuple[str, Callable[[], None]]) -> None:
        """Show ``text`` with a button for each choice (Undo…) for a while."""
        self.action_label.setText(text)
        self._action_callbacks = [callback for _label, callback in choices]
        for index, button in enumerate(self.action_buttons):
            button.setVisible(index < len(choices))
            if index < len(choices):
                button.setText(choices[index][0])
                button.setAccessibleName(choices[index][0])
        self.action_bar.setVisible(True)
        self._action_timer.start()

    def _run_action(self, index: int) -> None:
        if index < len(self._action_callbacks):
            self._action_callbacks[index]()

    @Slot()
    def clear_action(self) -> None:
        self._action_timer.stop()
        self.action_bar.setVisible(False)

    def update_enabled(self) -> None:
        ready = self.controller.state is ModelState.READY
        generating = self.controller.generating_conversation is not None
        loading = self.controller.state is ModelState.LOADING
        trash = self.sidebar.showing_trash  # conversations in the trash are read-only
        self.composing.set_enabled(
            ready=ready, can_send=ready and not generating and not trash, generating=generating
        )
        self.chat_view.set_actions_enabled(ready and not generating and not loading)
        self.model_controls.update_enabled(loading=loading, generating=generating, ready=ready)

    # -- entry points (menus, shortcuts, the application, tests) ---------------------------

    def refresh_conversations(self) -> None:
        self.conversations.refresh()

    def open_conversation(self, conversation_id: int | None) -> None:
        self.conversations.open(conversation_id)

    def on_composer_submitted(self) -> None:
        self.replies.send()

    def regenerate_last(self) -> None:
        self.messages.regenerate_last()

    def focus_composer(self) -> None:
        self.composing.focus()

    def import_model(self, path: Path, *, copy: bool = False) -> None:
        self.model_controls.import_model(path, copy=copy)

    def show_model_manager(self) -> ModelManagerDialog:
        return self.model_controls.show_manager()

    def show_search(self) -> SearchDialog:
        return self.window_dialogs.show_search()

    def open_hit(self, hit: SearchHit) -> None:
        self.window_dialogs.open_hit(hit)

    def show_about(self) -> AboutDialog:
        return self.window_dialogs.show_about()

    def show_shortcuts(self) -> ShortcutsDialog:
        return self.window_dialogs.show_shortcuts()

    def show_presets(self) -> PresetsDialog:
        return self.window_dialogs.show_presets()

    def show_inspector(self, message_id: int) -> None:
        self.window_dialogs.show_inspector(message_id)

    def show_documents(self) -> DocumentsDialog | None:
        return self.documents.show_dialog()

    def set_theme(self, name: str) -> None:
        self.look.set_theme(name)

    def zoom(self, step: int) -> None:
        self.look.zoom(step)

    @Slot()
    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    @Slot(str)
    def open_file(self, path: str) -> None:
        """A file the system asked us to open (a double-clicked .gguf): import it where
        it is, and choose it."""
        self.bring_to_front()
        if not path.lower().endswith(".gguf"):
            self.show_error(f"DesktopChat opens GGUF models (.gguf files), not {Path(path).name}.")
            return
        self.import_model(Path(path))

    # -- shutdown ------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._shutting_down:
            self._shutting_down = True
            self.settings_panel.flush()  # queued on the database thread, before it ends
            sizes = self.splitter.sizes()
            if sizes:
                self.change_settings(sidebar_width=sizes[0])
            self.conversations.stop_watching()
            self.downloads.shutdown()  # a running download pauses; it resumes next time
            self.controller.shutdown()
            self.documents.shutdown()  # no more progress reports to this window
            self.tasks.wait()
            # The last connection closes on its thread: SQLite checkpoints the WAL then.
            self.database.shutdown()
        event.accept()
