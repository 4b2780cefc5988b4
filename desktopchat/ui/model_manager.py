"""The model manager window: installed models, the catalogue, Hub search, a repository's
files with what fits, downloads, the Hugging Face token and offline mode.

Every network call and every slow read runs on the task pool or the download thread; the
Hub client (and huggingface_hub with it) is imported there on first use, so opening this
window costs the GUI thread nothing. Nothing connects when the window opens: only a
search, opening a repository, a download or a token check does.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import GenerationParams
from desktopchat.core.errors import DesktopChatError, HubAccessError
from desktopchat.core.models.catalog import CatalogEntry, load_catalog
from desktopchat.core.models.downloads import Downloader, Progress
from desktopchat.core.models.elsewhere import FoundModel, find_elsewhere, other_app_folders
from desktopchat.core.models.fit import GpuDevice, available_memory, estimate, verdict
from desktopchat.core.models.gguf import GGUFInfo, read_gguf
from desktopchat.core.models.library import InstalledModel, human_size, is_inside
from desktopchat.core.models.manager import (
    check_file,
    downloader,
    make_hub,
    remote_header,
    remove_model,
)
from desktopchat.core.models.remote import ModelFile, RemoteFile, RepoFiles, RepoSummary
from desktopchat.core.secrets import KeychainError, SecretStore, redact
from desktopchat.core.session import Core
from desktopchat.core.settings import AppSettings
from desktopchat.ui.downloads import DownloadItem, DownloadQueue, DownloadState
from desktopchat.ui.workers import TaskRunner

log = logging.getLogger(__name__)

SORTS = [("Most downloads", "downloads"), ("Most likes", "likes"), ("Recently updated", "recent")]
OFFLINE_NOTE = (
    "Offline mode is on: DesktopChat does not connect to the internet at all, so only "
    "installed models are shown. Turn it off to browse the catalogue, search or download."
)


@dataclass(frozen=True)
class _Refused:
    """A task refused by the Hub (gated or private): its message, and the page where the
    licence is accepted."""

    message: str
    page_url: str


@dataclass
class ManagerContext:
    """What the window needs from the application."""

    core: Core
    tasks: TaskRunner
    secrets: SecretStore
    downloads: DownloadQueue
    settings: Callable[[], AppSettings]
    change_settings: Callable[..., None]  # keyword changes, saved
    models_changed: Callable[[], None]  # the installed models changed: refresh the picker
    use_model: Callable[[Path], None]  # select and load a model in the main window
    gpu_devices: Callable[[], list[GpuDevice]]  # slow: called on the task pool


def _item(text: str, data: Any = None, *, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    if tip:
        item.setToolTip(tip)
    return item


def _table(name: str, headers: list[str], *stretch: int) -> QTableWidget:
    """A read-only table; the ``stretch`` columns share the width, the others fit their
    contents."""
    table = QTableWidget(0, len(headers))
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    for column in range(len(headers)):
        mode = (
            QHeaderView.ResizeMode.Stretch
            if column in stretch
            else QHeaderView.ResizeMode.ResizeToContents
        )
        header.setSectionResizeMode(column, mode)
    table.setWordWrap(True)
    return table


def _button(text: str, accessible: str = "") -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(accessible or text.rstrip("…"))
    return button


def _row(*widgets: QWidget, stretch_first: bool = False) -> QHBoxLayout:
    layout = QHBoxLayout()
    for index, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if stretch_first and index == 0 else 0)
    if not stretch_first:
        layout.addStretch(1)
    return layout


def _selected(table: QTableWidget) -> Any:
    row = table.currentRow()
    item = table.item(row, 0) if row >= 0 else None
    return item.data(Qt.ItemDataRole.UserRole) if item is not None else None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


class ModelManagerDialog(QDialog):
    """Non-modal: the chat window stays usable while models are browsed or downloaded."""

    files_checked = Signal()  # every file of the open repository has its verdict

    def __init__(self, context: ManagerContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Model manager")
        self.resize(1000, 640)
        self.listing: RepoFiles | None = None
        self.headers: dict[str, GGUFInfo | None] = {}  # by file name, for the open repo
        self.devices: list[GpuDevice] | None = None
        self.installed: list[InstalledModel] = []
        self.found: list[FoundModel] = []
        self._listing_request = 0
        self._build()
        self._connect()
        self._apply_offline(self.context.settings().offline_mode)
        self.refresh_installed()
        self.refresh_downloads()
        self.describe_token()

    # -- layout --------------------------------------------------------------------

    def _build(self) -> None:
        self.offline_box = QCheckBox("Offline mode")
        self.offline_box.setAccessibleName("Offline mode")
        self.offline_box.setToolTip("Never connect, not even to search or download")
        self.token_label = QLabel()
        self.token_label.setAccessibleName("Hugging Face token")
        self.token_label.setWordWrap(True)
        self.set_token_button = _button("Set token…", "Set Hugging Face token")
        self.check_token_button = _button("Check", "Check Hugging Face token")
        self.remove_token_button = _button("Remove token", "Remove Hugging Face token")
        top = QHBoxLayout()
        top.addWidget(self.offline_box)
        top.addSpacing(16)
        top.addWidget(self.token_label, 1)
        for button in (self.set_token_button, self.check_token_button, self.remove_token_button):
            top.addWidget(button)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setAccessibleName("Model manager notice")
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.licence_button = _button("Open the licence page", "Open licence page")
        self.licence_button.setVisible(False)
        self._licence_url = ""
        notice_row = _row(self.notice, self.licence_button, stretch_first=True)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_installed(), "Installed")
        self.tabs.addTab(self._build_catalogue(), "Catalogue")
        self.tabs.addTab(self._build_search(), "Search the Hub")
        self.tabs.addTab(self._build_files(), "Files")
        self.tabs.addTab(self._build_downloads(), "Downloads")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(notice_row)
        layout.addWidget(self.tabs, 1)

    def _build_installed(self) -> QWidget:
        page = QWidget()
        self.installed_table = _table(
            "Installed models",
            ["Model", "Source", "Size on disk", "Last used", "On this computer"],
            0,
            4,
        )
        self.use_button = _button("Use in chat")
        self.delete_button = _button("Delete…", "Delete model")
        self.open_folder_button = _button("Open folder", "Open containing folder")
        self.folder_label = QLabel()
        self.folder_label.setAccessibleName("Models folder")
        self.folder_label.setWordWrap(True)
        self.change_folder_button = _button("Change…", "Change models folder")
        self.found_label = QLabel()
        self.found_label.setWordWrap(True)
        self.found_table = _table("Models in other apps", ["File", "App", "Size", "Folder"], 0, 3)
        self.use_found_button = _button("Use in place", "Use found model in place")
        self.look_button = _button("Look again", "Look for models in other apps")
        layout = QVBoxLayout(page)
        layout.addWidget(self.installed_table, 2)
        layout.addLayout(_row(self.use_button, self.delete_button, self.open_folder_button))
        layout.addLayout(_row(self.folder_label, self.change_folder_button, stretch_first=True))
        layout.addWidget(self.found_label)
        layout.addWidget(self.found_table, 1)
        layout.addLayout(_row(self.use_found_button, self.look_button))
        return page

    def _build_catalogue(self) -> QWidget:
        page = QWidget()
        self.catalogue = self._read_catalogue()
        self.catalogue_table = _table(
            "Catalogue", ["Model", "Size", "Recommended", "Licence", "Access", "About"], 5
        )
        self.catalogue_table.setRowCount(len(self.catalogue))
        for row, entry in enumerate(self.catalogue):
            access = "Gated: accept the licence on the Hub" if entry.gated else "Open"
            cells = [
                _item(entry.name, entry, tip=entry.repo),
                _item(entry.parameters),
                _item(entry.quantization),
                _item(entry.licence),
                _item(access),
                _item(entry.description, tip=entry.description),
            ]
            for column, cell in enumerate(cells):
                self.catalogue_table.setItem(row, column, cell)
        self.catalogue_files_button = _button("Show files", "Show the catalogue model's files")
        note = QLabel(
            "A curated list of good chat models. Sizes and checksums come from the Hugging "
            "Face Hub when you open one."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(page)
        layout.addWidget(note)
        layout.addWidget(self.catalogue_table, 1)
        layout.addLayout(_row(self.catalogue_files_button))
        return page

    def _build_search(self) -> QWidget:
        page = QWidget()
        self.search_box = QLineEdit()
        self.search_box.setAccessibleName("Search the Hub")
        self.search_box.setPlaceholderText("Search GGUF models on the Hugging Face Hub")
        self.sort_picker = QComboBox()
        self.sort_picker.setAccessibleName("Sort results")
        for label, value in SORTS:
            self.sort_picker.addItem(label, value)
        self.search_button = _button("Search")
        self.results_table = _table(
            "Search results", ["Repository", "Downloads", "Likes", "Updated", "Access"], 0
        )
        self.results_files_button = _button("Show files", "Show the repository's files")
        layout = QVBoxLayout(page)
        layout.addLayout(
            _row(self.search_box, self.sort_picker, self.search_button, stretch_first=True)
        )
        layout.addWidget(self.results_table, 1)
        layout.addLayout(_row(self.results_files_button))
        return page

    def _build_files(self) -> QWidget:
        page = QWidget()
        self.files_title = QLabel("Open a model from the catalogue or the search results.")
        self.files_title.setWordWrap(True)
        self.files_title.setAccessibleName("Repository")
        self.context_box = QSpinBox()
        self.context_box.setAccessibleName("Context length to plan for")
        self.context_box.setRange(512, 1_048_576)
        self.context_box.setSingleStep(1024)
        self.context_box.setValue(GenerationParams().n_ctx)
        self.context_box.setSuffix(" tokens")
        self.files_table = _table(
            "Model files",
            ["File", "Quantization", "Size", "On this computer", "Architecture"],
            0,
            3,
        )
        self.download_button = _button("Download")
        layout = QVBoxLayout(page)
        layout.addWidget(self.files_title)
        context_label = QLabel("Plan for a context of")
        layout.addLayout(_row(context_label, self.context_box))
        layout.addWidget(self.files_table, 1)
        layout.addLayout(_row(self.download_button))
        return page

    def _build_downloads(self) -> QWidget:
        page = QWidget()
        self.downloads_table = _table(
            "Downloads", ["Model", "State", "Progress", "Speed", "Time left", "Details"], 0, 5
        )
        self.downloads_table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Fixed
        )
        self.downloads_table.setColumnWidth(2, 190)
        self.pause_button = _button("Pause", "Pause download")
        self.resume_button = _button("Resume", "Resume download")
        self.cancel_button = _button("Cancel", "Cancel download")
        layout = QVBoxLayout(page)
        layout.addWidget(self.downloads_table, 1)
        layout.addLayout(_row(self.pause_button, self.resume_button, self.cancel_button))
        return page

    def _connect(self) -> None:
        self.offline_box.toggled.connect(self.on_offline_toggled)
        self.set_token_button.clicked.connect(self.on_set_token_clicked)
        self.check_token_button.clicked.connect(self.check_token)
        self.remove_token_button.clicked.connect(self.on_remove_token_clicked)
        self.licence_button.clicked.connect(lambda: self.open_url(self._licence_url))
        self.use_button.clicked.connect(self.on_use_clicked)
        self.delete_button.clicked.connect(self.on_delete_clicked)
        self.open_folder_button.clicked.connect(self.on_open_folder_clicked)
        self.change_folder_button.clicked.connect(self.on_change_folder_clicked)
        self.use_found_button.clicked.connect(self.on_use_found_clicked)
        self.look_button.clicked.connect(self.look_elsewhere)
        self.catalogue_files_button.clicked.connect(self.on_catalogue_files_clicked)
        self.catalogue_table.cellDoubleClicked.connect(self.on_catalogue_files_clicked)
        self.search_button.clicked.connect(self.on_search_clicked)
        self.search_box.returnPressed.connect(self.on_search_clicked)
        self.results_files_button.clicked.connect(self.on_results_files_clicked)
        self.results_table.cellDoubleClicked.connect(self.on_results_files_clicked)
        self.context_box.editingFinished.connect(self.show_file_checks)
        self.download_button.clicked.connect(self.on_download_clicked)
        self.pause_button.clicked.connect(lambda: self._on_download_action("pause"))
        self.resume_button.clicked.connect(lambda: self._on_download_action("resume"))
        self.cancel_button.clicked.connect(lambda: self._on_download_action("cancel"))
        self.context.downloads.changed.connect(self.on_download_changed)
        self.context.downloads.installed.connect(self.on_download_installed)

    def _read_catalogue(self) -> list[CatalogEntry]:
        try:
            return load_catalog()
        except DesktopChatError as exc:
            self.show_error(str(exc))
            return []

    # -- overridable in tests ----------------------------------------------------------

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def ask_secret(self, title: str, label: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, label, QLineEdit.EchoMode.Password)
        return text.strip() if ok and text.strip() else None

    def choose_folder(self, start: Path) -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self, "Choose the models folder", str(start))
        return Path(chosen) if chosen else None

    def open_url(self, url: str) -> None:
        QDesktopServices.openUrl(QUrl(url))

    # -- messages ------------------------------------------------------------------------

    def show_error(self, message: str, page_url: str = "") -> None:
        self.show_notice(message, error=True, page_url=page_url)

    def show_notice(self, message: str, *, error: bool = False, page_url: str = "") -> None:
        self.notice.setStyleSheet(f"color: {'#b42318' if error else '#57606a'};")
        self.notice.setText(redact(message))
        self._licence_url = page_url
        self.licence_button.setVisible(bool(page_url))

    def _run(self, job: Callable[[], Any], done: Callable[[Any], None], what: str = "") -> None:
        """Run ``job`` on the task pool; a failure is shown here (with the licence page
        button when the Hub refused access)."""

        def wrapped() -> Any:
            try:
                return job()
            except HubAccessError as exc:
                return _Refused(str(exc), exc.page_url)

        def finished(result: Any) -> None:
            if isinstance(result, _Refused):
                self.show_error(result.message, page_url=result.page_url)
            else:
                done(result)

        if what:
            self.show_notice(what)
        self.context.tasks.run(wrapped, finished, self._on_task_failed)

    def _on_task_failed(self, message: str) -> None:
        self.show_error(message)

    # -- offline mode ----------------------------------------------------------------------

    @Slot(bool)
    def on_offline_toggled(self, offline: bool) -> None:
        self.context.change_settings(offline_mode=offline)
        self._apply_offline(offline)
        if offline:
            self.context.downloads.pause_all()

    def _apply_offline(self, offline: bool) -> None:
        self.offline_box.blockSignals(True)
        self.offline_box.setChecked(offline)
        self.offline_box.blockSignals(False)
        for index in (1, 2, 3):
            self.tabs.setTabEnabled(index, not offline)
        for button in (self.check_token_button, self.resume_button):
            button.setEnabled(not offline)
        if offline:
            self.tabs.setCurrentIndex(0)
            self.show_notice(OFFLINE_NOTE)
        elif self.notice.text() == OFFLINE_NOTE:
            self.show_notice("")

    def _hub(self) -> Any:
        """A Hub client with the current token (call on the task pool: it may read the
        keychain, and imports huggingface_hub on first use)."""
        return make_hub(self.context.secrets, offline=self.context.settings().offline_mode)

    # -- token -----------------------------------------------------------------------------

    def describe_token(self) -> None:
        """Say whether a token is kept, and where (the keychain is read off the GUI thread;
        nothing connects)."""
        secrets = self.context.secrets

        def look() -> tuple[bool, bool, str, str]:
            status = secrets.status()
            try:
                has = secrets.get() is not None
            except KeychainError:
                has = False
            return has, secrets.session_only, status.backend, status.reason

        self.token_label.setText("Hugging Face token: looking in the keychain…")
        self.context.tasks.run(look, self._on_token_described, self._on_task_failed)

    def _on_token_described(self, found: tuple[bool, bool, str, str]) -> None:
        has, session_only, backend, reason = found
        if session_only:
            text = "A Hugging Face token is set for this session only (it is not saved)."
        elif has:
            text = f"A Hugging Face token is stored in {backend}. Check shows the account."
        elif reason:
            text = (
                f"No Hugging Face token. No keychain is usable ({reason}): a token can be "
                "used for this session only. Public models need none."
            )
        else:
            text = "No Hugging Face token (public models need none; gated ones do)."
        self.token_label.setText(text)
        self.remove_token_button.setEnabled(has or session_only)
        self.check_token_button.setEnabled(
            (has or session_only) and not self.context.settings().offline_mode
        )

    @Slot()
    def on_set_token_clicked(self) -> None:
        token = self.ask_secret(
            "Hugging Face token",
            "Paste a Hugging Face access token (read access is enough). It is kept in "
            "the system keychain, never in DesktopChat's files.",
        )
        if token is None:
            return
        secrets = self.context.secrets

        def store() -> bool:
            try:
                secrets.set(token)
                return True
            except KeychainError:
                return False  # ask about a session-only token on the GUI thread

        self._run(store, lambda saved: self._on_token_stored(token, saved))

    def _on_token_stored(self, token: str, saved: bool) -> None:
        if not saved:
            reason = self.context.secrets.status().reason or "the keychain refused it"
            if not self.confirm(
                "No keychain",
                f"The token cannot be saved: {reason}. DesktopChat never writes it to a "
                "file.\n\nUse it for this session only? It is forgotten when DesktopChat "
                "closes.",
            ):
                self.show_notice("The token was not kept.")
                return
            self.context.secrets.set(token, session_only=True)
        self.describe_token()
        if not self.context.settings().offline_mode:
            self.check_token()

    @Slot()
    def check_token(self) -> None:
        self._run(
            lambda: self._hub().whoami(),
            lambda name: self.show_notice(f"Signed in to Hugging Face as {name}."),
            "Checking the token with the Hugging Face Hub…",
        )

    @Slot()
    def on_remove_token_clicked(self) -> None:
        secrets = self.context.secrets
        self._run(secrets.delete, lambda _: self._on_token_removed())

    def _on_token_removed(self) -> None:
        self.show_notice("The Hugging Face token was removed.")
        self.describe_token()

    # -- installed models ------------------------------------------------------------------

    def refresh_installed(self) -> None:
        library = self.context.core.library
        try:
            candidates = library.candidates()
            last_used = self.context.core.model_records.last_used()
        except DesktopChatError as exc:
            self.show_error(str(exc))
            return
        self.folder_label.setText(f"Models folder: {library.models_dir}")

        def describe() -> tuple[list[InstalledModel], list[str], list[FoundModel]]:
            models = [library.describe(path, source) for path, source in candidates]
            devices = self._devices()
            free = available_memory()
            n_ctx = GenerationParams().n_ctx
            fits = [
                verdict(
                    estimate(m.info, min(n_ctx, m.info.context_length or n_ctx)), free, devices
                ).text
                if m.info is not None
                else m.problem
                for m in models
            ]
            known = {path.resolve() for path, _ in candidates}
            found = find_elsewhere(other_app_folders(Path.home()), known)
            return models, fits, found

        def show(result: tuple[list[InstalledModel], list[str], list[FoundModel]]) -> None:
            models, fits, found = result
            self._show_installed(models, fits, last_used)
            self._show_found(found)

        self.context.tasks.run(describe, show, self._on_task_failed)

    def _devices(self) -> list[GpuDevice]:
        if self.devices is None:
            self.devices = self.context.gpu_devices()
        return self.devices

    def _show_installed(
        self, models: list[InstalledModel], fits: list[str], last_used: dict[str, float]
    ) -> None:
        self.installed = models
        table = self.installed_table
        table.setRowCount(len(models))
        sources = {"starter": "bundled", "folder": "in the models folder"}
        for row, (model, fit) in enumerate(zip(models, fits, strict=True)):
            status = model.warning or fit
            cells = [
                _item(model.label(), model, tip=str(model.path)),
                _item(sources.get(model.source, model.source)),
                _item(human_size(model.disk_size)),
                _item(_when(last_used.get(str(model.path)))),
                _item(status, tip=status),
            ]
            for column, cell in enumerate(cells):
                table.setItem(row, column, cell)
        table.resizeRowsToContents()

    def _show_found(self, found: list[FoundModel]) -> None:
        self.found = found
        self.found_label.setText(
            f"Models other apps already have ({len(found)}): use them in place, without "
            "a second copy."
            if found
            else "No models found in the Hugging Face cache, LM Studio or GPT4All folders."
        )
        self.found_table.setRowCount(len(found))
        for row, model in enumerate(found):
            cells = [
                _item(model.path.name, model),
                _item(model.app),
                _item(human_size(model.size)),
                _item(str(model.path.parent), tip=str(model.path)),
            ]
            for column, cell in enumerate(cells):
                self.found_table.setItem(row, column, cell)
        self.found_table.setVisible(bool(found))
        self.use_found_button.setVisible(bool(found))

    @Slot()
    def look_elsewhere(self) -> None:
        self.refresh_installed()

    @Slot()
    def on_use_clicked(self) -> None:
        model = _selected(self.installed_table)
        if model is None:
            return
        if not model.usable or model.warning:
            self.show_error(model.warning or model.problem)
            return
        self.context.use_model(model.path)
        self.show_notice(f"Loading {model.name} in the chat window.")

    @Slot()
    def on_delete_clicked(self) -> None:
        model: InstalledModel | None = _selected(self.installed_table)
        if model is None:
            return
        if model.source == "starter":
            self.show_error("The starter model comes with DesktopChat and cannot be removed.")
            return
        inside = is_inside(model.path, self.context.core.library.models_dir)
        size = human_size(model.disk_size)
        question = (
            f"Delete {model.path.name} from the models folder? This frees {size}."
            if inside
            else f"Stop listing {model.path.name}? The file stays where it is ({model.path})."
        )
        if not self.confirm("Delete model", question):
            return
        core = self.context.core
        try:
            removed = remove_model(model, core.library.models_dir, core.model_records)
        except DesktopChatError as exc:
            self.show_error(str(exc))
            return
        self.show_notice(
            f"Deleted {removed.path.name}: {human_size(removed.freed)} freed."
            if removed.freed
            else f"{removed.path.name} is no longer listed; the file was left in place."
        )
        self.refresh_installed()
        self.context.models_changed()

    @Slot()
    def on_open_folder_clicked(self) -> None:
        model: InstalledModel | None = _selected(self.installed_table)
        folder = model.path.parent if model is not None else self.context.core.library.models_dir
        self.open_url(QUrl.fromLocalFile(str(folder)).toString())

    @Slot()
    def on_change_folder_clicked(self) -> None:
        current = self.context.core.library.models_dir
        chosen = self.choose_folder(current)
        if chosen is None or chosen == current:
            return
        try:
            chosen.mkdir(parents=True, exist_ok=True)
            probe = chosen / ".desktopchat-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            self.show_error(f"{chosen} cannot be used as the models folder: {exc.strerror}.")
            return
        if self.context.downloads.active():
            self.show_error("Wait for the running download to finish or pause it first.")
            return
        self.context.change_settings(models_folder=str(chosen))
        core = self.context.core
        core.paths = core.paths.with_models(chosen)
        core.library.models_dir = chosen
        self.show_notice(
            f"Models are now kept in {chosen}. Models already in {current} stay there and "
            "are no longer listed; move them into the new folder to keep using them."
        )
        self.refresh_installed()
        self.context.models_changed()

    @Slot()
    def on_use_found_clicked(self) -> None:
        found: FoundModel | None = _selected(self.found_table)
        if found is None:
            return
        library = self.context.core.library

        def check() -> GGUFInfo:
            return read_gguf(found.path)

        def record(info: GGUFInfo) -> None:
            try:
                model = library.import_file(found.path, info=info)
            except DesktopChatError as exc:
                self.show_error(str(exc))
                return
            note = f" {model.warning}" if model.warning else ""
            self.show_notice(f"{model.path.name} from {found.app} is now listed, in place.{note}")
            self.refresh_installed()
            self.context.models_changed()

        self._run(check, record, f"Checking {found.path.name}…")

    # -- catalogue and search --------------------------------------------------------------

    @Slot()
    def on_catalogue_files_clicked(self) -> None:
        entry: CatalogEntry | None = _selected(self.catalogue_table)
        if entry is not None:
            self.open_repo(entry.repo, prefer=entry.quantization)

    @Slot()
    def on_search_clicked(self) -> None:
        text = self.search_box.text().strip()
        sort = str(self.sort_picker.currentData())
        self.search_button.setEnabled(False)

        def done(found: list[RepoSummary]) -> None:
            self.search_button.setEnabled(True)
            self._show_results(found)

        def failed(message: str) -> None:
            self.search_button.setEnabled(True)
            self.show_error(message)

        self.show_notice(f"Searching the Hugging Face Hub for “{text}”…")
        self.context.tasks.run(lambda: self._hub().search(text, sort=sort, limit=100), done, failed)

    def _show_results(self, found: list[RepoSummary]) -> None:
        self.show_notice(f"{len(found)} GGUF repositories found." if found else "Nothing found.")
        table = self.results_table
        table.setRowCount(len(found))
        for row, repo in enumerate(found):
            access = "Private" if repo.private else ("Gated" if repo.gated else "Open")
            cells = [
                _item(repo.repo_id, repo),
                _item(f"{repo.downloads:,}"),
                _item(f"{repo.likes:,}"),
                _item(repo.last_modified[:10]),
                _item(access),
            ]
            for column, cell in enumerate(cells):
                table.setItem(row, column, cell)

    @Slot()
    def on_results_files_clicked(self) -> None:
        repo: RepoSummary | None = _selected(self.results_table)
        if repo is not None:
            self.open_repo(repo.repo_id)

    # -- a repository's files ----------------------------------------------------------------

    def open_repo(self, repo_id: str, *, prefer: str = "") -> None:
        """List every GGUF of ``repo_id`` and work out, file by file, what fits here."""
        self._listing_request += 1
        request = self._listing_request
        self.listing = None
        self.headers = {}
        self.files_table.setRowCount(0)
        self.files_title.setText(f"{repo_id}: listing files…")
        self.tabs.setCurrentIndex(3)

        def list_files() -> tuple[RepoFiles, str]:
            hub = self._hub()
            return hub.files(repo_id), hub.page_url(repo_id)

        def listed(result: tuple[RepoFiles, str]) -> None:
            if request == self._listing_request:
                self._show_files(*result, prefer)

        self._run(list_files, listed, f"Opening {repo_id}…")

    def _show_files(self, listing: RepoFiles, page_url: str, prefer: str) -> None:
        self.listing = listing
        models = listing.models()
        gated = (
            " Gated: accept its licence on the Hub and set a token for that account before "
            "downloading."
            if listing.gated
            else ""
        )
        self.files_title.setText(
            f"{listing.repo_id} at {listing.revision[:12]}: {len(models)} GGUF "
            f"file{'s' if len(models) != 1 else ''}.{gated}"
        )
        if listing.gated:
            self.show_notice(f"{listing.repo_id} is gated.", page_url=page_url)
        else:
            self.show_notice("")
        table = self.files_table
        table.setRowCount(len(models))
        for row, model in enumerate(models):
            incomplete = "" if model.complete else " (parts missing from the listing)"
            cells = [
                _item(model.label + incomplete, model),
                _item(model.quantization or "?"),
                _item(human_size(model.size)),
                _item("reading its header…"),
                _item(""),
            ]
            for column, cell in enumerate(cells):
                table.setItem(row, column, cell)
            if prefer and model.quantization == prefer.upper() and table.currentRow() < 0:
                table.selectRow(row)
        request = self._listing_request

        def read_headers() -> dict[str, GGUFInfo | None]:
            hub = self._hub()
            self._devices()
            return {m.name: remote_header(hub, listing, m) for m in models}

        def read(headers: dict[str, GGUFInfo | None]) -> None:
            if request == self._listing_request:
                self.headers = headers
                self.show_file_checks()

        self.context.tasks.run(read_headers, read, self._on_task_failed)

    @Slot()
    def show_file_checks(self) -> None:
        """Each file's verdict at the chosen context, from the headers already read."""
        if self.listing is None or not self.headers:
            return
        n_ctx = self.context_box.value()
        devices = self.devices or []
        free = available_memory()
        table = self.files_table
        for row in range(table.rowCount()):
            cell = table.item(row, 0)
            if cell is None:
                continue
            model: ModelFile = cell.data(Qt.ItemDataRole.UserRole)
            check = check_file(self.headers.get(model.name), model, n_ctx, devices, free)
            table.setItem(row, 3, _item(check.text, tip=check.text))
            architecture = check.architecture or "unknown"
            if check.warning:
                architecture += ": not supported"
            table.setItem(row, 4, _item(architecture, tip=check.warning))
        table.resizeRowsToContents()
        self.files_checked.emit()

    @Slot()
    def on_download_clicked(self) -> None:
        model: ModelFile | None = _selected(self.files_table)
        if model is None or self.listing is None:
            self.show_error("Choose a file to download.")
            return
        row = self.files_table.currentRow()
        cell = self.files_table.item(row, 4)
        warning = cell.toolTip() if cell is not None else ""
        if warning and not self.confirm("Unsupported model", f"{warning}\n\nDownload anyway?"):
            return
        self.context.downloads.add(self.listing.repo_id, self.listing.revision, model)
        self.show_notice(f"{model.label} was added to the downloads.")
        self.tabs.setCurrentIndex(4)

    # -- downloads -------------------------------------------------------------------------

    def refresh_downloads(self) -> None:
        table = self.downloads_table
        items = self.context.downloads.items
        table.setRowCount(len(items))
        for row, item in enumerate(items):
            self._show_download(row, item)

    def _show_download(self, row: int, item: DownloadItem) -> None:
        table = self.downloads_table
        bar = table.cellWidget(row, 2)
        if not isinstance(bar, QProgressBar):
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setAccessibleName("Download progress")
            table.setCellWidget(row, 2, bar)
        bar.setValue(int(1000 * item.done / item.total) if item.total else 0)
        bar.setFormat(f"{human_size(item.done)} of {human_size(item.total)}")
        downloading = item.state is DownloadState.DOWNLOADING
        speed = f"{human_size(int(item.bytes_per_second))}/s" if downloading else ""
        cells = [
            _item(item.label, item),
            _item(item.state.value),
            None,
            _item(speed),
            _item(_duration(item.seconds_left) if downloading else ""),
            _item(item.message, tip=item.message),
        ]
        for column, cell in enumerate(cells):
            if cell is not None:
                table.setItem(row, column, cell)

    @Slot(object)
    def on_download_changed(self, item: DownloadItem) -> None:
        items = self.context.downloads.items
        if self.downloads_table.rowCount() != len(items):
            self.refresh_downloads()
            return
        self._show_download(items.index(item), item)
        if item.state is DownloadState.FAILED:
            self.show_error(f"{item.label}: {item.message}", page_url=item.page_url)

    @Slot(object)
    def on_download_installed(self, item: DownloadItem) -> None:
        self.show_notice(f"{item.label} was downloaded, verified and installed.")
        self.refresh_installed()

    def _on_download_action(self, action: str) -> None:
        item: DownloadItem | None = _selected(self.downloads_table)
        if item is None:
            return
        queue = self.context.downloads
        if action == "pause":
            queue.pause(item)
        elif action == "resume":
            if self.context.settings().offline_mode:
                self.show_error(OFFLINE_NOTE)
                return
            queue.resume(item)
        elif self.confirm(
            "Cancel download", f"Cancel {item.label} and delete what was downloaded?"
        ):
            queue.cancel(item)


def download_job(
    core: Core, secrets: Callable[[], SecretStore], settings: Callable[[], AppSettings]
) -> Callable[[DownloadItem, Callable[[Progress], None], threading.Event], Path]:
    """What the download thread runs for an item: list the repository again when the
    item came from an earlier session, then download into the current models folder."""

    def run(
        item: DownloadItem, progress: Callable[[Progress], None], stop: threading.Event
    ) -> Path:
        hub = make_hub(secrets(), offline=settings().offline_mode)
        if item.model is None:
            item.model = hub.files(item.repo_id, item.revision).find(item.name)
        return downloader(core.paths, hub).download(
            item.repo_id, item.revision, item.model, progress, stop
        )

    return run


def partial_downloads(core: Core) -> Downloader:
    """The downloader's view of the partial files (listing and deleting; no network)."""
    return Downloader(core.paths.cache / "downloads", core.paths.models, _no_stream)


def discard_job(core: Core) -> Callable[[DownloadItem], None]:
    def discard(item: DownloadItem) -> None:
        parts = (
            item.model.parts
            if item.model
            else tuple(RemoteFile(n, 0, None) for n in item.pending_parts)
        )
        partial_downloads(core).discard(item.repo_id, ModelFile(parts))

    return discard


def _no_stream(*_args: Any) -> Any:
    raise AssertionError("listing or deleting partial files never downloads")
