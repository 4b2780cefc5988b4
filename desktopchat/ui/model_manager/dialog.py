"""The model manager window: composes the top bar (offline mode, the token), the notice
line with its licence-page button, and the tabs (installed, catalogue, Hub search, a
repository's files, downloads). It is the shell every tab asks for notices, questions
and background work.

Every network call and every slow read runs on the task pool or the download thread; the
Hub client (and huggingface_hub with it) is imported there on first use, so opening this
window costs the GUI thread nothing. Nothing connects when the window opens: only a
search, opening a repository, a download or a token check does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.errors import HubAccessError
from desktopchat.core.models.architectures import ArchitectureTable
from desktopchat.core.models.library import ModelReader
from desktopchat.core.secrets import redact
from desktopchat.ui.downloads import DownloadItem
from desktopchat.ui.model_manager.catalogue_tab import CatalogueTab
from desktopchat.ui.model_manager.common import (
    OFFLINE_NOTE,
    Devices,
    Refused,
    T,
    make_button,
    make_row,
)
from desktopchat.ui.model_manager.context import ManagerContext
from desktopchat.ui.model_manager.downloads_tab import DownloadsTab
from desktopchat.ui.model_manager.files_tab import FilesTab
from desktopchat.ui.model_manager.installed_tab import InstalledTab
from desktopchat.ui.model_manager.search_tab import SearchTab
from desktopchat.ui.model_manager.top_bar import TopBar


class ModelManagerDialog(QDialog):
    """Non-modal: the chat window stays usable while models are browsed or downloaded."""

    def __init__(self, context: ManagerContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setWindowTitle("Model manager")
        self.resize(1000, 640)
        self.devices = Devices(context.gpu_devices)
        # Headers of installed models, and the architectures llama.cpp knows: this
        # window's own, read on the task pool.
        self.reader = ModelReader(ArchitectureTable())

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setAccessibleName("Model manager notice")
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.licence_button = make_button("Open the licence page", "Open licence page")
        self.licence_button.setVisible(False)
        self._licence_url = ""
        self.licence_button.clicked.connect(lambda: self.open_url(self._licence_url))

        self.top_bar = TopBar(context, self, self._apply_offline)
        self.installed_tab = InstalledTab(context, self, self.devices, self.reader)
        self.catalogue_tab = CatalogueTab(self)
        self.search_tab = SearchTab(context, self)
        self.files_tab = FilesTab(context, self, self.devices, self.reader.architectures)
        self.downloads_tab = DownloadsTab(context, self, self._on_download_installed)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.installed_tab, "Installed")
        self.tabs.addTab(self.catalogue_tab, "Catalogue")
        self.tabs.addTab(self.search_tab, "Search the Hub")
        self.tabs.addTab(self.files_tab, "Files")
        self.tabs.addTab(self.downloads_tab, "Downloads")
        self.files_tab.download_added.connect(
            lambda: self.tabs.setCurrentWidget(self.downloads_tab)
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.top_bar)
        layout.addLayout(make_row(self.notice, self.licence_button, stretch_first=True))
        layout.addWidget(self.tabs, 1)

        self._apply_offline(context.settings().offline_mode)
        self.installed_tab.refresh()
        self.top_bar.describe_token()

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

    # -- the shell the tabs use ------------------------------------------------------------

    def show_error(self, message: str, page_url: str = "") -> None:
        self.show_notice(message, error=True, page_url=page_url)

    def show_notice(self, message: str, *, error: bool = False, page_url: str = "") -> None:
        self.notice.setStyleSheet(f"color: {'#b42318' if error else '#57606a'};")
        self.notice.setText(redact(message))
        self._licence_url = page_url
        self.licence_button.setVisible(bool(page_url))

    def run_task(self, job: Callable[[], T], done: Callable[[T], None], what: str = "") -> None:
        """Run ``job`` on the task pool; a failure is shown here (with the licence page
        button when the Hub refused access)."""

        def wrapped() -> T | Refused:
            try:
                return job()
            except HubAccessError as exc:
                return Refused(str(exc), exc.page_url)

        def finished(result: T | Refused) -> None:
            if isinstance(result, Refused):
                self.show_error(result.message, page_url=result.page_url)
            else:
                done(result)

        if what:
            self.show_notice(what)
        self.context.tasks.run(wrapped, finished, self.show_error)

    def open_repo(self, repo_id: str, *, prefer: str = "") -> None:
        """Show the Files tab for ``repo_id`` (listed on the task pool)."""
        self.tabs.setCurrentWidget(self.files_tab)
        self.files_tab.open_repo(repo_id, prefer=prefer)

    # -- offline mode and downloads ----------------------------------------------------------

    def _apply_offline(self, offline: bool) -> None:
        self.top_bar.show_offline(offline)
        self.downloads_tab.show_offline(offline)
        for page in (self.catalogue_tab, self.search_tab, self.files_tab):
            self.tabs.setTabEnabled(self.tabs.indexOf(page), not offline)
        if offline:
            self.tabs.setCurrentWidget(self.installed_tab)
            self.show_notice(OFFLINE_NOTE)
        elif self.notice.text() == OFFLINE_NOTE:
            self.show_notice("")

    def _on_download_installed(self, _item: DownloadItem) -> None:
        self.installed_tab.refresh()
