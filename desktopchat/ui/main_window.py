"""The main window: sidebar, chat view, composer, model picker, settings, status bar.

All slow work happens elsewhere: inference and model loading on the inference thread,
model header reads and file copies on the task pool. The window only reads and writes a
few rows of SQLite at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAccessible,
    QAccessibleAnnouncementEvent,
    QAction,
    QActionGroup,
    QCloseEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core import exchange, network
from desktopchat.core.chat import GenerationParams, Message, MessageStatus, Overflow, Role
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.inference.llama_engine import backend_info, engine_version, gpu_devices
from desktopchat.core.inference.prompt import turns
from desktopchat.core.inference.service import ReplyResult, ReplyStarted, ResumeMode
from desktopchat.core.models.downloads import Pending
from desktopchat.core.models.gguf import GGUFInfo, read_gguf
from desktopchat.core.models.library import InstalledModel, default_params, human_size
from desktopchat.core.notices import Component, components
from desktopchat.core.presets import Preset
from desktopchat.core.secrets import SecretStore, redact
from desktopchat.core.session import Core, open_core
from desktopchat.core.settings import AppSettings, save_settings
from desktopchat.core.storage.backups import daily_backup
from desktopchat.core.storage.database import Database
from desktopchat.core.storage.repositories import (
    TRASH_DAYS,
    ConversationSummary,
    DeletedBranch,
    SearchHit,
)
from desktopchat.ui import theme
from desktopchat.ui.about_dialog import AboutDialog
from desktopchat.ui.chat_view import Branches, ChatView
from desktopchat.ui.context_meter import ContextMeter
from desktopchat.ui.controllers import ChatController, ModelState
from desktopchat.ui.conversation_list import ConversationList
from desktopchat.ui.downloads import DownloadItem, DownloadQueue
from desktopchat.ui.help_dialog import ShortcutsDialog
from desktopchat.ui.inspector import PromptInspector
from desktopchat.ui.model_manager import (
    ManagerContext,
    ModelManagerDialog,
    discard_job,
    download_job,
    partial_downloads,
)
from desktopchat.ui.network_dialog import NetworkActivityDialog
from desktopchat.ui.presets_dialog import PresetsDialog
from desktopchat.ui.search_dialog import SearchDialog
from desktopchat.ui.settings_panel import SettingsPanel
from desktopchat.ui.workers import ReplyFailure, TaskRunner

log = logging.getLogger(__name__)
T = TypeVar("T")
EXTERNAL_CHANGES_MS = 1500  # how often to look for changes made by other programs
PASTE_INLINE_LIMIT = 50_000  # characters; a bigger paste is attached, not laid out in the box
TOKEN_COUNT_DELAY_MS = 400  # count tokens once typing pauses
UNDO_SECONDS = 20  # how long an Undo button stays offered
EXPORT_FILTERS = {"md": "Markdown (*.md)", "html": "Web page (*.html)", "json": "JSON (*.json)"}


class Composer(QPlainTextEdit):
    """Enter sends; Shift+Enter starts a new line. A huge paste (laying out megabytes of
    text would freeze the window for seconds) is handed over as an attachment instead."""

    submitted = Signal()
    large_paste = Signal(str)

    def insertFromMimeData(self, source: QMimeData) -> None:
        if source.hasText():
            text = source.text()
            if len(text) > PASTE_INLINE_LIMIT:
                self.large_paste.emit(text)
                return
        super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class MainWindow(QMainWindow):
    def __init__(
        self,
        core: Core,
        controller: ChatController,
        tasks: TaskRunner,
        settings: AppSettings,
    ) -> None:
        super().__init__()
        self.core = core
        self.controller = controller
        self.tasks = tasks
        self.settings = settings
        self.current_conversation: int | None = None
        self.models: list[InstalledModel] = []
        self._shutting_down = False
        self._displayed_leaf: int | None = None
        self._data_version = -1
        self._loading_text = ""
        self.secrets = SecretStore()  # the keychain, or a token kept for this session only
        self.downloads = DownloadQueue(
            download_job(core, lambda: self.secrets, lambda: self.settings), discard_job(core)
        )
        self.model_manager: ModelManagerDialog | None = None  # once opened
        self.editing: int | None = None  # the user message being edited in the composer
        self._sending_edit = False
        self.look = theme.resolve(settings.theme)
        self.last_announcement = ""
        self.dialogs: dict[str, object] = {}  # open non-modal dialogs, by kind
        self.database_damaged = False  # the background integrity check failed
        self._watch = QTimer(self)
        self._watch.setInterval(EXTERNAL_CHANGES_MS)
        self._watch.timeout.connect(self.on_watch_timeout)
        self.setWindowTitle("DesktopChat")
        self.resize(1200, 780)
        self._build()
        self._connect()
        self._update_enabled()

    # -- layout --------------------------------------------------------------------

    def _build(self) -> None:
        self.sidebar = ConversationList()
        self.sidebar.setMinimumWidth(180)
        self.model_picker = QComboBox()
        self.model_picker.setAccessibleName("Model")
        self.model_picker.setMinimumWidth(240)
        self.load_button = QPushButton("Load")
        self.load_button.setAccessibleName("Load model")
        self.unload_button = QPushButton("Unload")
        self.unload_button.setToolTip("Free the memory the model uses")
        self.import_button = QPushButton("Import GGUF…")
        self.import_button.setAccessibleName("Import GGUF")
        self.models_button = QPushButton("Models…")
        self.models_button.setAccessibleName("Model manager")
        self.models_button.setToolTip("Find, download and manage models")
        self.model_state = QLabel("No model loaded")
        self.model_state.setAccessibleName("Model state")
        # Long states ("Loaded …") must not widen the window past small screens.
        self.model_state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.load_bar = QProgressBar()
        self.load_bar.setRange(0, 100)
        self.load_bar.setMaximumWidth(160)
        self.load_bar.setVisible(False)
        self.settings_button = QPushButton("Settings")
        self.settings_button.setAccessibleName("Show chat settings")
        self.unload_button.setAccessibleName("Unload model")
        self.settings_button.setCheckable(True)
        self.settings_button.setChecked(True)
        top = QHBoxLayout()
        top.addWidget(self.model_picker, 1)
        top.addWidget(self.load_button)
        top.addWidget(self.unload_button)
        top.addWidget(self.import_button)
        top.addWidget(self.models_button)
        top.addWidget(self.load_bar)
        top.addWidget(self.settings_button)

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
        self.edit_bar = QWidget()
        edit_label = QLabel(
            "Editing a message: Send makes it a new version (the old one and its replies "
            "stay, with ‹ › to switch). Esc cancels."
        )
        edit_label.setWordWrap(True)
        self.edit_cancel = QPushButton("Cancel edit")
        self.edit_cancel.setAccessibleName("Cancel editing")
        edit_layout = QHBoxLayout(self.edit_bar)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addWidget(edit_label, 1)
        edit_layout.addWidget(self.edit_cancel)
        self.edit_bar.setVisible(False)
        self.context_meter = ContextMeter()
        self.composer = Composer()
        self.composer.setAccessibleName("Message")
        self.composer.setPlaceholderText("Type a message — Enter sends, Shift+Enter for a new line")
        self.composer.setMaximumHeight(96)
        self.attachment = ""
        self.attachment_label = QLabel()
        self.attachment_label.setAccessibleName("Attached text")
        self.attachment_remove = QPushButton("Remove")
        self.attachment_remove.setAccessibleName("Remove attached text")
        self.attachment_bar = QWidget()
        attachment_layout = QHBoxLayout(self.attachment_bar)
        attachment_layout.setContentsMargins(0, 0, 0, 0)
        attachment_layout.addWidget(self.attachment_label, 1)
        attachment_layout.addWidget(self.attachment_remove)
        self.attachment_bar.setVisible(False)
        self.token_label = QLabel()
        self.token_label.setAccessibleName("Token count")
        self.token_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self._count_id = 0
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(TOKEN_COUNT_DELAY_MS)
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send message")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop the reply")
        self.stop_button.setVisible(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        compose = QHBoxLayout()
        compose.addWidget(self.composer, 1)
        compose.addLayout(buttons)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(6, 6, 6, 6)
        center_layout.addLayout(top)
        center_layout.addWidget(self.model_state)
        center_layout.addWidget(self.chat_view, 1)
        center_layout.addWidget(self.notice)
        center_layout.addWidget(self.action_bar)
        center_layout.addWidget(self.edit_bar)
        center_layout.addWidget(self.attachment_bar)
        center_layout.addLayout(compose)
        center_layout.addWidget(self.context_meter)
        center_layout.addWidget(self.token_label)

        self.settings_panel = SettingsPanel()
        self.settings_scroll = QScrollArea()
        self.settings_scroll.setWidgetResizable(True)
        self.settings_scroll.setWidget(self.settings_panel)
        self.settings_scroll.setMinimumWidth(260)

        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(center)
        splitter.addWidget(self.settings_scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([self.settings.sidebar_width, 640, 300])
        self.splitter = splitter
        self.setCentralWidget(splitter)

        self.ttft_label = QLabel()
        self.speed_label = QLabel()
        self.context_label = QLabel()
        status = self.statusBar()
        status.addPermanentWidget(self.ttft_label)
        status.addPermanentWidget(self.speed_label)
        status.addPermanentWidget(self.context_label)

        def action(text: str, slot: Callable[[], object], *keys: str) -> QAction:
            made = QAction(text, self)
            made.setShortcuts([QKeySequence(k) for k in keys])
            made.triggered.connect(slot)
            self.addAction(made)  # shortcuts work wherever the focus is
            return made

        new = QKeySequence(QKeySequence.StandardKey.New).toString()
        quit_keys = QKeySequence(QKeySequence.StandardKey.Quit).toString()
        self.actions_by_name = {
            "new": action("New chat", self.on_sidebar_new_requested, new),
            "search": action("Search conversations…", self.show_search, "Ctrl+F", "Ctrl+K"),
            "stop": action("Stop the reply (or cancel an edit)", self.on_stop_clicked, "Esc"),
            "regenerate": action("Regenerate the last answer", self.regenerate_last, "Ctrl+R"),
            "continue": action("Continue the last answer", self.continue_last, "Ctrl+E"),
            "composer": action("Focus the message box", self.focus_composer, "Ctrl+L"),
            "next": action("Next conversation", lambda: self.sidebar.select_next(1), "Ctrl+PgDown"),
            "previous": action(
                "Previous conversation", lambda: self.sidebar.select_next(-1), "Ctrl+PgUp"
            ),
            "inspect": action("Show the last prompt…", self.inspect_last, "Ctrl+I"),
            "settings": action("Show or hide chat settings", self.settings_button.toggle, "Ctrl+,"),
            "zoom_in": action("Zoom in", lambda: self.zoom(1), "Ctrl++", "Ctrl+="),
            "zoom_out": action("Zoom out", lambda: self.zoom(-1), "Ctrl+-"),
            "zoom_reset": action("Actual size", lambda: self.zoom(0), "Ctrl+0"),
            "import_chats": action("Import conversations…", self.import_conversations),
            "export_chat": action("Export this conversation…", self.export_current, "Ctrl+S"),
            "export_all": action("Export all conversations…", self.export_all),
            "import": action("Import GGUF…", self.on_import_clicked),
            "manager": action("Model manager…", self.show_model_manager, "Ctrl+Shift+M"),
            "network": action("Network activity…", self.show_network_activity),
            "shortcuts": action("Keyboard shortcuts…", self.show_shortcuts, "F1"),
            "about": action("About DesktopChat…", self.show_about),
            "quit": action("Quit", self.close, quit_keys),
        }
        a = self.actions_by_name
        self.manager_action = a["manager"]
        self.network_action = a["network"]
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addActions([a["new"], a["import"], a["import_chats"]])
        file_menu.addActions([a["export_chat"], a["export_all"]])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        chat_menu = menus.addMenu("&Chat")
        chat_menu.addActions(
            [a[k] for k in ("search", "stop", "regenerate", "continue", "inspect", "composer")]
        )
        chat_menu.addActions([a["next"], a["previous"]])
        view_menu = menus.addMenu("&View")
        theme_menu = view_menu.addMenu("Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in theme.THEMES:
            choice = QAction("Follow the system" if name == "system" else name.capitalize(), group)
            choice.setCheckable(True)
            choice.setChecked(name == self.settings.theme)
            choice.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            theme_menu.addAction(choice)
            self.theme_actions[name] = choice
        view_menu.addActions([a["zoom_in"], a["zoom_out"], a["zoom_reset"], a["settings"]])
        tools_menu = menus.addMenu("&Tools")
        tools_menu.addActions([self.manager_action, self.network_action])
        help_menu = menus.addMenu("&Help")
        help_menu.addActions([a["shortcuts"], a["about"]])

    def _connect(self) -> None:
        self.sidebar.conversation_selected.connect(self.on_sidebar_conversation_selected)
        self.sidebar.new_requested.connect(self.on_sidebar_new_requested)
        self.sidebar.rename_requested.connect(self.on_sidebar_rename_requested)
        self.sidebar.delete_requested.connect(self.on_sidebar_delete_requested)
        self.sidebar.filter_changed.connect(self.on_sidebar_filter_changed)
        self.sidebar.pin_requested.connect(self.on_sidebar_pin_requested)
        self.sidebar.restore_requested.connect(self.on_sidebar_restore_requested)
        self.sidebar.export_requested.connect(self.export_conversation)
        self.sidebar.empty_trash_requested.connect(self.on_sidebar_empty_trash_requested)
        self.sidebar.trash_toggled.connect(self.on_sidebar_trash_toggled)
        self.composer.submitted.connect(self.on_composer_submitted)
        self.chat_view.continue_requested.connect(self.on_chat_view_continue_requested)
        self.chat_view.regenerate_requested.connect(self.on_chat_view_regenerate_requested)
        self.chat_view.edit_requested.connect(self.on_chat_view_edit_requested)
        self.chat_view.delete_requested.connect(self.on_chat_view_delete_requested)
        self.chat_view.inspect_requested.connect(self.show_inspector)
        self.chat_view.version_requested.connect(self.on_chat_view_version_requested)
        self.chat_view.copied.connect(lambda what: self.statusBar().showMessage(what, 2500))
        self.edit_cancel.clicked.connect(self.cancel_edit)
        self.settings_panel.preset_chosen.connect(self.on_settings_preset_chosen)
        self.settings_panel.save_preset_requested.connect(self.on_settings_save_preset)
        self.settings_panel.manage_presets_requested.connect(self.show_presets)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self.on_color_scheme_changed)
        self.composer.large_paste.connect(self.on_composer_large_paste)
        self.composer.textChanged.connect(self._count_timer.start)
        self._count_timer.timeout.connect(self.request_token_count)
        self.attachment_remove.clicked.connect(self.on_attachment_remove_clicked)
        self.controller.tokens_counted.connect(self.on_controller_tokens_counted)
        self.send_button.clicked.connect(self.on_composer_submitted)
        self.stop_button.clicked.connect(self.on_stop_clicked)
        self.load_button.clicked.connect(self.on_load_clicked)
        self.unload_button.clicked.connect(self.controller.unload)
        self.import_button.clicked.connect(self.on_import_clicked)
        self.models_button.clicked.connect(self.show_model_manager)
        self.downloads.installed.connect(self.on_download_installed)
        self.settings_button.toggled.connect(self.settings_scroll.setVisible)
        self.settings_panel.params_changed.connect(self.on_settings_params_changed)
        self.settings_panel.save_defaults_requested.connect(self.on_settings_save_defaults)
        self.settings_panel.reset_requested.connect(self.on_settings_reset)
        self.chat_view.code_copied.connect(self.on_chat_code_copied)
        c = self.controller
        c.model_state_changed.connect(self.on_controller_model_state_changed)
        c.load_progress.connect(self.on_controller_load_progress)
        c.reply_started.connect(self.on_controller_reply_started)
        c.reply_text_changed.connect(self.on_controller_reply_text_changed)
        c.prompt_progress.connect(self.on_controller_prompt_progress)
        c.reply_finished.connect(self.on_controller_reply_finished)
        c.reply_failed.connect(self.on_controller_reply_failed)
        c.busy_changed.connect(self.on_controller_busy_changed)
        c.status.connect(lambda text: self.statusBar().showMessage(text, 15_000))
        c.title_changed.connect(self.on_controller_title_changed)

    # -- start-up ------------------------------------------------------------------

    def start(self) -> None:
        """Fill the sidebar, then read model headers off the GUI thread and auto-load."""
        self.apply_look()
        self.guarded(lambda: self.core.conversations.empty_trash(older_than_days=TRASH_DAYS))
        self.refresh_conversations()
        self.refresh_presets()
        self.settings_panel.set_params(GenerationParams())
        self.refresh_models(autoload=True)
        self._data_version = self.guarded(self.core.db.data_version) or -1
        self._watch.start()
        if self.core.recovery is not None:
            message = self.core.recovery.describe()
            self.show_error(message)
            self._recovery_box = QMessageBox(
                QMessageBox.Icon.Warning,
                "DesktopChat: chat database restored",
                message,
                parent=self,
            )
            self._recovery_box.open()  # not modal: the window stays usable
        paths = self.core.paths
        if not self.core.checked:
            self.tasks.run(
                lambda: Database.verify(paths.database),
                lambda _ok: None,
                self._on_database_damaged,
            )
        self.tasks.run(
            lambda: daily_backup(paths.database, paths.data / "backups"),
            lambda _written: None,
            self.show_error,
        )
        downloads = partial_downloads(self.core)
        self.tasks.run(downloads.pending, self._on_pending_downloads, self.show_error)

    def _on_pending_downloads(self, pending: list[Pending]) -> None:
        """Downloads an earlier session left unfinished: listed, not resumed (the app
        never connects on its own)."""
        self.downloads.add_pending(pending)
        if pending:
            self.statusBar().showMessage(
                "Unfinished downloads from an earlier session are paused: resume them in "
                "the model manager (Models…).",
                15_000,
            )

    def _on_database_damaged(self, message: str) -> None:
        self.database_damaged = True
        self.show_error(
            f"{message} Quit and start DesktopChat again: it will keep the damaged file "
            "aside and restore the newest backup."
        )

    def refresh_models(self, *, autoload: bool = False, select: str | None = None) -> None:
        candidates = self.guarded(self.core.library.candidates) or []
        library = self.core.library

        def describe_all() -> list[InstalledModel]:
            return [library.describe(path, source) for path, source in candidates]

        self.model_state.setText("Reading models…")
        self.tasks.run(
            describe_all,
            lambda models: self._on_models_described(models, autoload, select),
            self.show_error,
        )

    def _on_models_described(
        self, models: list[InstalledModel], autoload: bool, select: str | None
    ) -> None:
        self.models = models
        self.model_picker.blockSignals(True)
        self.model_picker.clear()
        for model in models:
            self.model_picker.addItem(model.label(), str(model.path))
            if not model.usable:
                index = self.model_picker.count() - 1
                self.model_picker.setItemData(index, model.problem, Qt.ItemDataRole.ToolTipRole)
        self.model_picker.blockSignals(False)
        wanted = select or self.settings.last_model
        index = self.model_picker.findData(wanted) if wanted else -1
        if index < 0:
            index = next((i for i, m in enumerate(models) if m.source == "starter"), 0)
        if models:
            self.model_picker.setCurrentIndex(index)
        if not models:
            self.model_state.setText("No models yet: use Import GGUF… to add one")
        elif self.controller.state is ModelState.NONE:
            self.model_state.setText("No model loaded")
        if autoload and models:
            self._autoload()
        self._update_enabled()

    def _autoload(self) -> None:
        marker = self.core.paths.loading_marker
        if marker.exists():
            crashed = marker.read_text(encoding="utf-8", errors="replace").strip()
            marker.unlink(missing_ok=True)
            self.show_notice(
                f"Loading {Path(crashed).name} crashed last time, so no model was loaded "
                "automatically. Press Load to try again.",
                error=True,
            )
            return
        model = self.selected_model()
        if model is not None and model.usable:
            self.load_selected_model()

    # -- helpers ---------------------------------------------------------------------

    def guarded(self, action: Callable[[], T]) -> T | None:
        """Run a quick storage action; show an expected failure instead of raising."""
        try:
            return action()
        except DesktopChatError as exc:
            self.show_error(str(exc))
            return None

    @Slot()
    def show_model_manager(self) -> ModelManagerDialog:
        if self.model_manager is None:
            context = ManagerContext(
                core=self.core,
                tasks=self.tasks,
                secrets=self.secrets,
                downloads=self.downloads,
                settings=lambda: self.settings,
                change_settings=self.change_settings,
                models_changed=self.refresh_models,
                use_model=self.use_model,
                gpu_devices=gpu_devices,
            )
            self.model_manager = ModelManagerDialog(context, self)
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def change_settings(self, **changes: object) -> None:
        self.settings = self.settings.with_changes(**changes)
        self._save_settings()

    def use_model(self, path: Path) -> None:
        """Select ``path`` in the model picker and load it (from the model manager)."""
        index = self.model_picker.findData(str(path))
        if index < 0:
            self.refresh_models(select=str(path))
            return
        self.model_picker.setCurrentIndex(index)
        if not self.controller.busy:
            self.load_selected_model()

    @Slot(object)
    def on_download_installed(self, item: DownloadItem) -> None:
        self.statusBar().showMessage(f"Downloaded and verified {item.label}", 8000)
        self.refresh_models()

    @Slot()
    def show_network_activity(self) -> NetworkActivityDialog:
        dialog = NetworkActivityDialog(network.activity, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_error(self, message: str) -> None:
        self.show_notice(message, error=True)

    def show_notice(self, message: str, *, error: bool = False) -> None:
        color = self.look.error if error else self.look.muted
        self.notice.setStyleSheet(f"color: {color};")
        self.notice.setText(redact(message))
        self.notice.setVisible(bool(message))

    def ask_text(self, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, text=value)
        return text if ok else None

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def selected_model(self) -> InstalledModel | None:
        path = self.model_picker.currentData()
        return next((m for m in self.models if str(m.path) == path), None)

    def loaded_model(self) -> InstalledModel | None:
        loaded = self.controller.loaded
        if loaded is None:
            return None
        return next((m for m in self.models if m.path == loaded.config.path), None)

    def _update_enabled(self) -> None:
        ready = self.controller.state is ModelState.READY
        generating = self.controller.generating_conversation is not None
        loading = self.controller.state is ModelState.LOADING
        trash = self.sidebar.showing_trash  # conversations in the trash are read-only
        self.composer.setEnabled(ready and not generating and not trash)
        self.chat_view.set_actions_enabled(ready and not generating and not loading)
        self.send_button.setEnabled(ready and not generating and not trash)
        self.send_button.setVisible(not generating)
        self.stop_button.setVisible(generating)
        self.load_button.setEnabled(not loading and not generating and bool(self.models))
        self.model_picker.setEnabled(not loading and not generating)
        self.unload_button.setEnabled(ready and not generating)
        if not ready:
            self.composer.setPlaceholderText("Load a model to start chatting")
        else:
            self.composer.setPlaceholderText(
                "Type a message — Enter sends, Shift+Enter for a new line"
            )

    # -- conversations ---------------------------------------------------------------

    def refresh_conversations(self) -> None:
        text = self.sidebar.filter.text()
        trash = self.sidebar.showing_trash

        def fetch(offset: int, limit: int) -> list[ConversationSummary]:
            rows = self.guarded(
                lambda: self.core.conversations.summaries(
                    text, limit=limit, offset=offset, trash=trash
                )
            )
            return rows or []

        self.sidebar.show_rows(fetch, self.current_conversation)

    def open_conversation(self, conversation_id: int | None) -> None:
        self.settings_panel.flush()
        if conversation_id is None:
            self.current_conversation = None
            self.chat_view.show_conversation(None, [])
            model = self.loaded_model() or self.selected_model()
            params = default_params(model, self.core.model_records) if model else GenerationParams()
            self.settings_panel.set_params(params)
            self.refresh_conversations()
            return
        try:
            conversation = self.core.conversations.get(conversation_id)
            messages = self.core.conversations.active_path(conversation_id)
            tree = self.core.conversations.children(conversation_id)
        except DesktopChatError as exc:
            self.show_error(str(exc))
            return
        self.cancel_edit()
        self.current_conversation = conversation_id
        self._displayed_leaf = conversation.active_leaf_id
        self.chat_view.show_conversation(conversation_id, messages, versions(messages, tree))
        last_reply = next((m for m in reversed(messages) if m.role is Role.ASSISTANT), None)
        stats = last_reply.stats if last_reply is not None else None
        if stats is not None:
            self.show_context(messages, stats.summarized_messages, stats.dropped_messages)
        self.context_meter.show_stats(stats)
        self.settings_panel.set_params(conversation.params)
        if self.controller.generating_conversation == conversation_id:
            streaming = messages[-1] if messages else None
            if streaming is not None and streaming.status is MessageStatus.PARTIAL:
                self.chat_view.update_message(
                    streaming.id, self.controller.current_text(), MessageStatus.PARTIAL, live=True
                )
        self.show_notice("")

    @Slot()
    def on_watch_timeout(self) -> None:
        """Pick up what other programs (the CLI, a script) changed in the database."""
        try:
            version = self.core.db.data_version()
        except DesktopChatError:
            return
        if version == self._data_version:
            return
        self._data_version = version
        self.refresh_conversations()
        current = self.current_conversation
        if current is None or self.controller.generating_conversation == current:
            return
        try:
            leaf = self.core.conversations.get(current).active_leaf_id
        except DesktopChatError:
            self.open_conversation(None)  # deleted elsewhere
            return
        if leaf != self._displayed_leaf:
            self.open_conversation(current)

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

    @Slot(int)
    def on_sidebar_conversation_selected(self, conversation_id: int) -> None:
        if conversation_id != self.current_conversation:
            self.open_conversation(conversation_id)

    @Slot()
    def on_sidebar_new_requested(self) -> None:
        self.open_conversation(None)
        self.composer.setFocus()

    @Slot(str)
    def on_sidebar_filter_changed(self, _text: str) -> None:
        self.refresh_conversations()

    @Slot(int)
    def on_sidebar_rename_requested(self, conversation_id: int) -> None:
        conversation = self.guarded(lambda: self.core.conversations.get(conversation_id))
        if conversation is None:
            return
        title = self.ask_text("Rename conversation", "Title:", conversation.title)
        if title is None or not title.strip():
            return
        self.guarded(lambda: self.core.conversations.rename(conversation_id, title))
        self.refresh_conversations()

    @Slot(int)
    def on_sidebar_delete_requested(self, conversation_id: int) -> None:
        """To the trash, with Undo; in the trash, for good (after asking)."""
        if self.controller.generating_conversation == conversation_id:
            self.show_error("Stop the reply before deleting this conversation.")
            return
        repo = self.core.conversations
        conversation = self.guarded(lambda: repo.get(conversation_id))
        if conversation is None:
            return
        for_good = self.sidebar.showing_trash
        if for_good and not self.confirm(
            "Delete for good",
            f"Delete “{conversation.title}” and all its messages for good? This cannot be undone.",
        ):
            return
        try:
            if for_good:
                repo.delete(conversation_id)
            else:
                repo.move_to_trash(conversation_id)
        except DesktopChatError as exc:
            self.show_error(str(exc))
            return
        if self.current_conversation == conversation_id:
            self.open_conversation(None)
        self.refresh_conversations()
        if not for_good:
            self.offer_action(
                f"Moved “{conversation.title}” to the trash.",
                ("Undo", lambda: self.on_sidebar_restore_requested(conversation_id)),
            )

    @Slot(int)
    def on_sidebar_restore_requested(self, conversation_id: int) -> None:
        self.clear_action()
        self.guarded(lambda: self.core.conversations.restore_from_trash(conversation_id))
        self.refresh_conversations()
        if not self.sidebar.showing_trash:
            self.open_conversation(conversation_id)
            self.refresh_conversations()

    @Slot(int)
    def on_sidebar_pin_requested(self, conversation_id: int) -> None:
        repo = self.core.conversations
        self.guarded(lambda: repo.set_pinned(conversation_id, not repo.get(conversation_id).pinned))
        self.refresh_conversations()

    @Slot()
    def on_sidebar_empty_trash_requested(self) -> None:
        if self.confirm(
            "Empty trash", "Delete every conversation in the trash for good? This cannot be undone."
        ):
            count = self.guarded(self.core.conversations.empty_trash)
            self.statusBar().showMessage(f"Deleted {count or 0} conversations for good.", 5000)
            if self.current_conversation is not None and self.sidebar.showing_trash:
                self.open_conversation(None)
            self.refresh_conversations()

    @Slot(bool)
    def on_sidebar_trash_toggled(self, _showing: bool) -> None:
        self.open_conversation(None)
        self._update_enabled()

    @Slot(int, str)
    def on_controller_title_changed(self, conversation_id: int, title: str) -> None:
        self.refresh_conversations()
        self.statusBar().showMessage(f"Titled “{title}” (rename it any time)", 5000)

    # -- sending ---------------------------------------------------------------------

    @Slot()
    def on_composer_submitted(self) -> None:
        if not self.send_button.isEnabled():
            return
        text = self.message_text()
        if not text.strip():
            self.show_error("The message is empty. Type something to send.")
            return
        ready = self._reply_settings()
        if ready is None:
            return
        model, params = ready
        if self.current_conversation is None:
            created = self.guarded(
                lambda: self.core.conversations.create(params=params, model_path=str(model.path))
            )
            if created is None:
                return
            self.current_conversation = created.id
            self.chat_view.conversation_id = created.id
            self.refresh_conversations()
        else:
            self.guarded(
                lambda: self.core.conversations.set_model(
                    self.current_conversation or 0, str(model.path)
                )
            )
        conversation_id = self.current_conversation
        self._reload_if_needed(model, params)
        self.show_notice("")
        self.clear_action()
        self.composer.setReadOnly(True)
        self._sending_edit = self.editing is not None
        self.controller.send(conversation_id, text, params, edit_of=self.editing)
        self.editing = None
        self.edit_bar.setVisible(False)
        self._update_enabled()

    def _reply_settings(self) -> tuple[InstalledModel, GenerationParams] | None:
        """The model and the chat's checked settings for a reply, or None (and why)."""
        model = self.loaded_model()
        if model is None or self.controller.loaded is None:
            self.show_error("Load a model first.")
            return None
        self.settings_panel.flush()
        try:
            return model, self.settings_panel.params().validated()
        except ValueError as exc:
            self.show_error(f"Check the chat settings: {exc}.")
            return None

    def _reload_if_needed(self, model: InstalledModel, params: GenerationParams) -> None:
        if self.controller.needs_reload(str(model.path), params):
            self.controller.load_model(str(model.path), params)

    @Slot(int)
    def on_chat_view_continue_requested(self, message_id: int) -> None:
        self._resume(message_id, ResumeMode.CONTINUE)

    @Slot(int)
    def on_chat_view_regenerate_requested(self, message_id: int) -> None:
        self._resume(message_id, ResumeMode.REGENERATE)

    def _resume(self, message_id: int, mode: ResumeMode) -> None:
        conversation_id = self.current_conversation
        if conversation_id is None or self.controller.busy:
            return
        ready = self._reply_settings()
        if ready is None:
            return
        model, params = ready
        self._reload_if_needed(model, params)
        self.show_notice("")
        self.controller.resume(conversation_id, message_id, mode, params)
        self._update_enabled()

    @Slot()
    def on_stop_clicked(self) -> None:
        if self.controller.generating_conversation is not None:
            self.controller.stop()
        elif self.editing is not None:
            self.cancel_edit()
            self.composer.clear()

    # -- the message being written ---------------------------------------------------

    def message_text(self) -> str:
        typed = self.composer.toPlainText()
        if not self.attachment:
            return typed
        return f"{typed}\n\n{self.attachment}" if typed.strip() else self.attachment

    @Slot(str)
    def on_composer_large_paste(self, text: str) -> None:
        self.attachment = text
        self.attachment_bar.setVisible(True)
        self._describe_attachment()
        self.request_token_count()

    def _describe_attachment(self, counted: str = "counting tokens…") -> None:
        size = human_size(len(self.attachment.encode("utf-8", "replace")))
        self.attachment_label.setText(
            f"Pasted text attached: {len(self.attachment):,} characters ({size}), {counted}. "
            "It is sent with your message."
        )

    @Slot()
    def on_attachment_remove_clicked(self) -> None:
        self.attachment = ""
        self.attachment_bar.setVisible(False)
        self.request_token_count()

    @Slot()
    def request_token_count(self) -> None:
        self._count_timer.stop()
        text = self.message_text()
        if self.controller.state is not ModelState.READY or not text:
            self._count_id = 0
            self.token_label.setText("")
            return
        self._count_id = self.controller.count_tokens(text)

    @Slot(int, int, bool)
    def on_controller_tokens_counted(self, request_id: int, count: int, exact: bool) -> None:
        if request_id != self._count_id:
            return
        loaded = self.controller.loaded
        if count < 0 or loaded is None:
            self.token_label.setText("")
            return
        counted = f"{count:,} tokens" if exact else f"more than {count:,} tokens"
        if self.attachment:
            self._describe_attachment(counted)
        if count > loaded.n_ctx:
            self.token_label.setStyleSheet("color: #b42318;")
            self.token_label.setText(
                f"{counted}: longer than the whole {loaded.n_ctx:,}-token context. "
                "Shorten it, or raise the context length in the chat settings."
            )
        else:
            self.token_label.setStyleSheet("color: #57606a;")
            self.token_label.setText(f"{counted} · context {loaded.n_ctx:,}")

    @Slot(object)
    def on_controller_reply_started(self, started: ReplyStarted) -> None:
        self.composer.setReadOnly(False)
        shown = self.chat_view.conversation_id == started.user_message.conversation_id
        if self._sending_edit:  # a new version of a message: the branch shown changes
            self._sending_edit = False
            self.composer.clear()
            if shown:
                self.open_conversation(started.user_message.conversation_id)
        elif started.resumed:  # the composer keeps any draft: it was not what was sent
            if shown:  # the reply, or its new sibling, now ends the displayed branch
                self.open_conversation(started.user_message.conversation_id)
        else:
            self.composer.clear()
            self.on_attachment_remove_clicked()
            if shown:
                self.chat_view.append_message(started.user_message)
                self.chat_view.append_message(started.assistant_message, live=True)
                self.chat_view.stick_to_bottom = True
                self.chat_view.scroll_to_bottom()
        notes = []
        if started.dropped_messages:
            notes.append(
                f"The {started.dropped_messages} oldest messages no longer fit the "
                f"{started.context_size:,}-token context and were left out of the prompt."
            )
        if started.summarized_messages:
            notes.append(
                f"The {started.summarized_messages} oldest messages are sent as a summary "
                "the model wrote (they no longer fit the context)."
            )
        if "fallback" in started.template:
            notes.append(f"Prompt format: {started.template}.")
        self.show_notice(" ".join(notes))
        if shown:
            path = self.guarded(
                lambda: self.core.conversations.path_to(started.assistant_message.id)
            )
            self.show_context(path or [], started.summarized_messages, started.dropped_messages)
        self.context_meter.set_usage(
            started.system_tokens, started.prompt_tokens, 0, started.context_size
        )
        self.context_label.setText(f"Context {started.prompt_tokens:,} / {started.context_size:,}")
        self.refresh_conversations()

    @Slot(int, int)
    def on_controller_prompt_progress(self, done: int, total: int) -> None:
        self.load_bar.setVisible(done < total)
        self.load_bar.setValue(int(100 * done / max(total, 1)))
        self.load_bar.setFormat("Prompt %p%")
        self.load_bar.setToolTip(f"Reading the prompt: {done:,} of {total:,} tokens")

    @Slot(int, int, str)
    def on_controller_reply_text_changed(
        self, conversation_id: int, message_id: int, text: str
    ) -> None:
        self.chat_view.hold_building(False)  # the prompt is read
        if self.chat_view.conversation_id == conversation_id:
            self.chat_view.update_message(message_id, text, MessageStatus.PARTIAL, live=True)

    @Slot(object)
    def on_controller_reply_finished(self, result: ReplyResult) -> None:
        if self.chat_view.conversation_id == result.conversation_id:
            self.chat_view.update_message(
                result.assistant_message_id,
                result.text,
                result.status,
                finish_reason=result.finish_reason.value,
            )
            self._displayed_leaf = result.assistant_message_id
        stats = result.stats
        self.context_meter.show_stats(stats)
        if result.status is MessageStatus.ERROR:  # JSON mode: cut before the JSON was whole
            self.show_error(
                "The reply stopped at the max-new-tokens limit before its JSON was complete. "
                "Raise max new tokens in the chat settings and regenerate it."
            )
        elif result.finish_reason.value == "length":  # added to what the start said
            earlier = self.notice.text() if self.notice.isVisible() else ""
            note = "The reply reached the max-new-tokens limit: Continue goes on."
            self.show_notice(f"{earlier} {note}".strip())
        self.announce(f"Reply {result.status.value}: {result.text[:300]}")
        ttft = stats.time_to_first_token
        self.ttft_label.setText(f"First token {ttft * 1000:.0f} ms" if ttft is not None else "")
        speed = stats.tokens_per_second
        self.speed_label.setText(f"{speed:.1f} tokens/s" if speed is not None else "")
        self.context_label.setText(f"Context {stats.context_used:,} / {stats.context_size:,}")
        self.refresh_conversations()
        self._update_enabled()
        if result.status is MessageStatus.COMPLETE and self.composer.isEnabled():
            self.composer.setFocus()

    @Slot(object)
    def on_controller_reply_failed(self, failure: ReplyFailure) -> None:
        self.composer.setReadOnly(False)
        self._sending_edit = False
        self.show_error(failure.message)
        if failure.kind == "HistoryFullError":
            self.offer_action(
                "This chat's policy is to stop and ask when the history is too long.",
                ("Leave out the oldest turns", lambda: self.resend_with(Overflow.DROP)),
                ("Summarize them", lambda: self.resend_with(Overflow.SUMMARIZE)),
            )
        if failure.started and self.current_conversation == failure.conversation_id:
            self.open_conversation(failure.conversation_id)
            self.show_error(failure.message)
        self._update_enabled()

    @Slot(bool)
    def on_controller_busy_changed(self, _busy: bool) -> None:
        # From a reply's start (sent or resumed) until its first text or its end, older
        # messages wait: llama.cpp is reading the prompt and needs the CPU.
        self.chat_view.hold_building(self.controller.generating_conversation is not None)
        self.load_bar.setVisible(self.controller.state is ModelState.LOADING)
        self._update_enabled()

    # -- models ------------------------------------------------------------------------

    def load_selected_model(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        if not model.usable or model.warning:
            self.show_error(model.warning or model.problem)
            return
        if self.current_conversation is not None:
            params = self.settings_panel.params()
        else:
            params = default_params(model, self.core.model_records)
            self.settings_panel.set_params(params)
        self.controller.load_model(str(model.path), params)

    @Slot()
    def on_load_clicked(self) -> None:
        self.show_notice("")
        self.load_selected_model()

    @Slot(object, str)
    def on_controller_model_state_changed(self, state: ModelState, detail: str) -> None:
        self.load_bar.setVisible(state is ModelState.LOADING)
        if state is ModelState.LOADING:
            self.load_bar.setValue(0)
            self._loading_text = f"Loading {Path(detail).name}"
            self.model_state.setText(f"{self._loading_text}…")
        elif state is ModelState.READY:
            loaded = self.controller.loaded
            assert loaded is not None
            template = "" if loaded.chat_template else " · no chat template: plain fallback"
            capped = (
                f" (capped: the model was trained for {loaded.n_ctx_train:,})"
                if loaded.n_ctx < loaded.config.n_ctx
                else ""
            )
            self.model_state.setText(
                f"Loaded {loaded.name} on {loaded.backend} · context {loaded.n_ctx:,}"
                f"{capped}{template}"
            )
            self.model_state.setToolTip(
                f"{loaded.config.path}\nloaded in {loaded.load_seconds:.2f} s, "
                f"{loaded.config.n_threads} threads; {loaded.placement}"
            )
            self.change_settings(last_model=str(loaded.config.path))
            self.guarded(lambda: self.core.model_records.mark_used(str(loaded.config.path)))
            if not loaded.chat_template:
                self.show_notice(
                    "This model has no chat template; DesktopChat uses a plain "
                    "“User: … / Assistant:” format. Base models may ramble.",
                )
        elif state is ModelState.FAILED:
            self.model_state.setText("Model not loaded")
            self.show_error(detail)
        else:
            self.model_state.setText("No model loaded")
        self._update_enabled()

    @Slot(float, str)
    def on_controller_load_progress(self, fraction: float, what: str) -> None:
        self.load_bar.setValue(int(fraction * 100))
        self.load_bar.setFormat("%p%")
        if self.controller.state is ModelState.LOADING:  # with the plan: where the layers go
            self.model_state.setText(f"{self._loading_text}: {what}…")

    @Slot()
    def on_import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a GGUF model", str(Path.home()), "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            copy = self.confirm(
                "Import GGUF",
                "Copy the file into DesktopChat's models folder?\n\n"
                "Yes: copy it (uses disk space). No: use it where it is.",
            )
            self.import_model(Path(path), copy=copy)

    def import_model(self, path: Path, *, copy: bool = False) -> None:
        """Validate (and copy) off the GUI thread, then record the import."""
        library = self.core.library
        self.model_state.setText(f"Checking {path.name}…")
        if copy:
            self.tasks.run(
                lambda: library.import_file(path, copy=True),
                self._on_model_imported,
                self._on_import_failed,
            )
        else:
            self.tasks.run(
                lambda: read_gguf(path),
                lambda info: self._record_import(path, info),
                self._on_import_failed,
            )

    def _record_import(self, path: Path, info: GGUFInfo) -> None:
        model = self.guarded(lambda: self.core.library.import_file(path, info=info))
        if model is not None:
            self._on_model_imported(model)

    def _on_model_imported(self, model: InstalledModel) -> None:
        if model.warning:
            self.show_error(f"Imported {model.path.name}, but: {model.warning}")
        else:
            self.show_notice(f"Imported {model.label()}.")
        self.refresh_models(select=str(model.path))

    def _on_import_failed(self, message: str) -> None:
        self.model_state.setText("Import failed")
        self.show_error(message)

    # -- settings ------------------------------------------------------------------------

    @Slot(object)
    def on_settings_params_changed(self, params: GenerationParams) -> None:
        if self.current_conversation is None:
            return
        conversation_id = self.current_conversation
        try:
            self.core.conversations.set_params(conversation_id, params)
        except ValueError as exc:
            self.show_error(f"Check the chat settings: {exc}.")
        except DesktopChatError as exc:
            self.show_error(str(exc))

    @Slot(object)
    def on_settings_save_defaults(self, params: GenerationParams) -> None:
        model = self.loaded_model() or self.selected_model()
        if model is None:
            return
        try:
            self.core.model_records.set_defaults(str(model.path), params)
        except (ValueError, DesktopChatError) as exc:
            self.show_error(str(exc))
            return
        self.settings_panel.note.setText(f"Saved as defaults for {model.name}.")

    @Slot()
    def on_settings_reset(self) -> None:
        model = self.loaded_model() or self.selected_model()
        params = default_params(model, self.core.model_records) if model else GenerationParams()
        self.settings_panel.set_params(params)
        self.on_settings_params_changed(params)

    @Slot(str)
    def on_chat_code_copied(self, _code: str) -> None:
        self.statusBar().showMessage("Code copied to the clipboard", 2500)

    def _save_settings(self) -> None:
        try:
            save_settings(self.core.paths.settings_file, self.settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    # -- branches, edits, deletions ------------------------------------------------------

    def show_context(self, path: list[Message], summarized: int, dropped: int) -> None:
        """Mark, in the view, where the model's context starts for the latest reply."""
        kept = turns(path)
        first = summarized + dropped
        if first <= 0 or first >= len(kept):
            self.chat_view.mark_cut(None, "")
            return
        if summarized and not dropped:
            note = (
                f"▲ The {summarized} messages above are sent to the model as a summary: "
                "the whole conversation no longer fits its context."
            )
        elif summarized:
            note = (
                f"▲ Of the {first} messages above, the model gets the first {summarized} as "
                f"a summary and not the other {dropped}: the context is full."
            )
        else:
            note = (
                f"▲ The {dropped} messages above are no longer in the model's context "
                "(it cannot see them)."
            )
        self.chat_view.mark_cut(kept[first].id, note)

    @Slot(int)
    def on_chat_view_edit_requested(self, message_id: int) -> None:
        message = self.guarded(lambda: self.core.conversations.get_message(message_id))
        if message is None or self.controller.busy:
            return
        self.editing = message_id
        self.composer.setPlainText(message.content)
        self.edit_bar.setVisible(True)
        self.focus_composer()

    @Slot()
    def cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.edit_bar.setVisible(False)

    @Slot(int, int)
    def on_chat_view_version_requested(self, message_id: int, step: int) -> None:
        """Show the previous or next version of a message, with the branch below it."""
        conversation_id = self.current_conversation
        if conversation_id is None or self.controller.generating_conversation is not None:
            return
        repo = self.core.conversations
        message = self.guarded(lambda: repo.get_message(message_id))
        if message is None:
            return
        siblings = repo.children(conversation_id).get(message.parent_id, [])
        index = siblings.index(message_id) + step
        if 0 <= index < len(siblings):
            self.guarded(lambda: repo.switch_branch(conversation_id, siblings[index]))
            self.open_conversation(conversation_id)

    @Slot(int)
    def on_chat_view_delete_requested(self, message_id: int) -> None:
        conversation_id = self.current_conversation
        if conversation_id is None or self.controller.generating_conversation is not None:
            self.show_error("Stop the reply before deleting messages.")
            return
        deleted = self.guarded(lambda: self.core.conversations.delete_branch(message_id))
        if deleted is None:
            return
        self.open_conversation(conversation_id)
        count = len(deleted.messages)
        self.offer_action(
            f"Deleted {count} message{'s' if count != 1 else ''}.",
            ("Undo", lambda: self.undo_delete(deleted)),
        )

    def undo_delete(self, deleted: DeletedBranch) -> None:
        self.clear_action()
        self.guarded(lambda: self.core.conversations.undo_delete(deleted))
        if self.current_conversation == deleted.conversation_id:
            self.open_conversation(deleted.conversation_id)

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

    def resend_with(self, policy: Overflow) -> None:
        """Change the chat's overflow policy and send the message again."""
        self.clear_action()
        params = self.settings_panel.params().with_changes(overflow=policy.value)
        self.settings_panel.set_params(params)
        self.on_settings_params_changed(params)
        self.on_composer_submitted()

    def _last(self, role: Role) -> Message | None:
        return next((m for m in reversed(self.displayed_messages()) if m.role is role), None)

    @Slot()
    def regenerate_last(self) -> None:
        last = self._last(Role.ASSISTANT)
        if last is not None:
            self._resume(last.id, ResumeMode.REGENERATE)

    @Slot()
    def continue_last(self) -> None:
        last = self._last(Role.ASSISTANT)
        if last is not None:
            self._resume(last.id, ResumeMode.CONTINUE)

    @Slot()
    def focus_composer(self) -> None:
        self.composer.setFocus()
        cursor = self.composer.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.composer.setTextCursor(cursor)

    def announce(self, text: str) -> None:
        """Tell screen readers (politely: after what they are reading)."""
        self.last_announcement = text
        QAccessible.updateAccessibility(QAccessibleAnnouncementEvent(self.chat_view, text))

    # -- dialogs ---------------------------------------------------------------------------

    @Slot(int)
    def show_inspector(self, message_id: int) -> PromptInspector | None:
        repo = self.core.conversations
        message = self.guarded(lambda: repo.get_message(message_id))
        if message is None:
            return None
        record = self.guarded(lambda: repo.prompt_for(message_id))
        dialog = PromptInspector(message, record, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.dialogs["inspector"] = dialog
        return dialog

    @Slot()
    def inspect_last(self) -> None:
        last = self._last(Role.ASSISTANT)
        if last is not None:
            self.show_inspector(last.id)

    @Slot()
    def show_search(self) -> SearchDialog:
        repo = self.core.conversations
        dialog = SearchDialog(lambda text, newest: repo.search(text, newest_first=newest), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.hit_chosen.connect(self.open_hit)
        dialog.show()
        self.dialogs["search"] = dialog
        return dialog

    @Slot(object)
    def open_hit(self, hit: SearchHit) -> None:
        """Open the conversation on the branch through the message, scrolled to it."""
        repo = self.core.conversations
        if self.sidebar.showing_trash:
            self.sidebar.trash_button.setChecked(False)
        path = self.guarded(lambda: repo.active_path(hit.conversation_id)) or []
        if hit.message_id not in {m.id for m in path}:
            if self.controller.generating_conversation == hit.conversation_id:
                self.show_error("That message is on another branch: stop the reply first.")
                return
            self.guarded(lambda: repo.switch_branch(hit.conversation_id, hit.message_id))
        self.open_conversation(hit.conversation_id)
        self.refresh_conversations()
        self.chat_view.scroll_to_message(hit.message_id)

    @Slot()
    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(list(self.actions_by_name.values()), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.dialogs["shortcuts"] = dialog
        return dialog

    def show_about(self) -> AboutDialog:
        """The version, backend and licences; the engine and the package metadata are
        read on the task pool (loading llama.cpp's library can take a moment)."""
        dialog = self.dialogs.get("about")
        if not isinstance(dialog, AboutDialog):
            dialog = AboutDialog(self.core.paths, self)
            self.dialogs["about"] = dialog

            def facts() -> tuple[str, str, list[Component]]:
                return backend_info().summary(), engine_version(), components()

            def show(found: tuple[str, str, list[Component]]) -> None:
                summary, version, parts = found
                dialog.set_backend(summary, version)
                dialog.set_components(parts)

            self.tasks.run(facts, show, self.show_error)
        dialog.show()
        dialog.raise_()
        return dialog

    def refresh_presets(self) -> None:
        presets = self.guarded(self.core.presets.all)
        self.settings_panel.set_presets(presets or [])

    @Slot(object)
    def on_settings_preset_chosen(self, preset: Preset) -> None:
        params = preset.apply(self.settings_panel.params())
        self.settings_panel.set_params(params)
        self.on_settings_params_changed(params)
        self.statusBar().showMessage(f"Using the preset “{preset.name}”", 4000)

    @Slot(object)
    def on_settings_save_preset(self, params: GenerationParams) -> None:
        name = self.ask_text("Save as preset", "Name of the new preset:", "")
        if not name or not name.strip():
            return
        try:
            saved = self.core.presets.save(Preset(0, name, params))
        except (ValueError, DesktopChatError) as exc:
            self.show_error(f"The preset was not saved: {exc}")
            return
        self.refresh_presets()
        self.statusBar().showMessage(f"Saved the preset “{saved.name}”", 4000)

    @Slot()
    def show_presets(self) -> PresetsDialog:
        dialog = PresetsDialog(self.core.presets, self.settings_panel.params, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.changed.connect(self.refresh_presets)
        dialog.show()
        self.dialogs["presets"] = dialog
        return dialog

    # -- export and import -------------------------------------------------------------

    def ask_export_path(self, title: str, name: str) -> tuple[str, str]:
        """A file to write and its format (md, html, json); ("", "") when cancelled."""
        path, chosen = QFileDialog.getSaveFileName(
            self, title, str(Path.home() / name), ";;".join(EXPORT_FILTERS.values())
        )
        fmt = next((k for k, v in EXPORT_FILTERS.items() if v == chosen), "")
        suffix = Path(path).suffix.lstrip(".").lower()
        return path, suffix if suffix in EXPORT_FILTERS else fmt or "md"

    def ask_import_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import conversations",
            str(Path.home()),
            "DesktopChat or ChatGPT export (*.json);;All files (*)",
        )
        return path

    @Slot()
    def export_current(self) -> None:
        if self.current_conversation is not None:
            self.export_conversation(self.current_conversation)

    @Slot(int)
    def export_conversation(self, conversation_id: int) -> None:
        conversation = self.guarded(lambda: self.core.conversations.get(conversation_id))
        if conversation is not None:
            safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in conversation.title)
            self._export([conversation_id], safe.strip() or "conversation")

    @Slot()
    def export_all(self) -> None:
        self._export(None, "conversations")

    def _export(self, ids: list[int] | None, name: str) -> None:
        path, fmt = self.ask_export_path("Export conversations", name)
        if not path:
            return
        paths = self.core.paths

        def job() -> int:  # on the task pool, with its own connection
            core = open_core(paths)
            try:
                return exchange.export_file(core.conversations, ids, fmt, Path(path))
            finally:
                core.close()

        self.tasks.run(
            job,
            lambda count: self.statusBar().showMessage(
                f"Exported {count} conversation{'s' if count != 1 else ''} to {path}", 8000
            ),
            self.show_error,
        )

    @Slot()
    def import_conversations(self) -> None:
        path = self.ask_import_path()
        if not path:
            return
        paths = self.core.paths

        def job() -> tuple[list[int], int]:
            core = open_core(paths)
            try:
                return exchange.import_file(core.conversations, Path(path))
            finally:
                core.close()

        self.tasks.run(job, self._on_imported, self.show_error)

    def _on_imported(self, result: tuple[list[int], int]) -> None:
        ids, count = result
        self.refresh_conversations()
        self.statusBar().showMessage(
            f"Imported {len(ids)} conversations ({count:,} messages)", 8000
        )
        if ids:
            self.open_conversation(ids[0])
            self.refresh_conversations()

    # -- look ---------------------------------------------------------------------------

    def apply_look(self) -> None:
        self.look = theme.resolve(self.settings.theme)
        theme.apply(self.look, self.settings.zoom)
        self.chat_view.set_theme(self.look)
        self.model_state.setStyleSheet(f"color: {self.look.muted};")

    def set_theme(self, name: str) -> None:
        self.change_settings(theme=name)
        self.theme_actions[name].setChecked(True)
        self.apply_look()

    @Slot()
    def on_color_scheme_changed(self) -> None:
        if self.settings.theme == "system":
            self.apply_look()

    def zoom(self, step: int) -> None:
        """Font size up (1), down (-1) or back to the default (0)."""
        self.change_settings(zoom=theme.clamp_zoom(self.settings.zoom + step) if step else 0)
        self.apply_look()

    # -- shutdown -------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._shutting_down:
            self._shutting_down = True
            self.settings_panel.flush()
            sizes = self.splitter.sizes()
            if sizes:
                self.change_settings(sidebar_width=sizes[0])
            self._watch.stop()
            self.downloads.shutdown()  # a running download pauses; it resumes next time
            self.controller.shutdown()
            self.tasks.wait()
            self.core.close()  # the last connection: SQLite checkpoints the WAL into the file
        event.accept()

    def displayed_messages(self) -> list[Message]:
        """The active branch as stored (for tests and exports)."""
        if self.current_conversation is None:
            return []
        return self.core.conversations.active_path(self.current_conversation)


def versions(path: list[Message], tree: dict[int | None, list[int]]) -> Branches:
    """For each message of ``path``: its version's number among its siblings, of how many."""
    shown: Branches = {}
    for message in path:
        siblings = tree.get(message.parent_id, [message.id])
        if len(siblings) > 1:
            shown[message.id] = (siblings.index(message.id) + 1, len(siblings))
    return shown
