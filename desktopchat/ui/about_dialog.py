"""Help → About: the version, the engine and backend it runs on, where the data lives,
and every component's licence (the same list the bundle ships as
THIRD-PARTY-NOTICES.txt)."""

from __future__ import annotations

import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, Slot, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat import __version__
from desktopchat.core.notices import Component
from desktopchat.core.paths import AppPaths


class AboutDialog(QDialog):
    def __init__(self, paths: AppPaths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About DesktopChat")
        self.paths = paths
        self.components: list[Component] = []
        title = QLabel(f"<h2>DesktopChat {__version__}</h2>")
        title.setAccessibleName(f"DesktopChat version {__version__}")
        tagline = QLabel(
            "Private, offline chat with language models on your own computer. "
            "Nothing leaves it unless you download a model."
        )
        tagline.setWordWrap(True)
        self.backend_label = QLabel("Engine: looking…")
        self.backend_label.setWordWrap(True)
        self.backend_label.setAccessibleName("Engine and backend")
        self.backend_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        versions = QLabel(
            f"Qt {qVersion()} · PySide6 {pyside_version} · Python {platform.python_version()}"
            f" · {platform.system()} {platform.machine()}"
        )
        folders = QLabel(f"Your data: {paths.data}\nModels: {paths.models}\nLogs: {paths.logs}")
        folders.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.parts = QListWidget()
        self.parts.setAccessibleName("Components and their licences")
        self.parts.currentRowChanged.connect(self.on_parts_current_row_changed)
        self.licence = QPlainTextEdit()
        self.licence.setReadOnly(True)
        self.licence.setAccessibleName("Licence text")
        self.licence.setPlainText("Reading the licences…")
        lists = QHBoxLayout()
        lists.addWidget(self.parts, 2)
        lists.addWidget(self.licence, 3)
        self.copy_button = QPushButton("Copy details")
        self.copy_button.setAccessibleName("Copy version and engine details")
        self.copy_button.clicked.connect(self.on_copy_clicked)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (title, tagline, self.backend_label, versions, folders):
            layout.addWidget(widget)
        layout.addWidget(QLabel("Made with (select one to read its licence):"))
        layout.addLayout(lists, 1)
        layout.addWidget(buttons)
        self.resize(820, 600)

    def set_backend(self, summary: str, engine_version: str) -> None:
        self.backend_label.setText(
            f"Engine: llama.cpp (llama-cpp-python {engine_version}) · backend: {summary}"
        )

    def set_components(self, components: list[Component]) -> None:
        self.components = components
        self.parts.clear()
        for part in components:
            item = QListWidgetItem(f"{part.name} {part.version} — {part.licence}")
            item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{part.name}, {part.licence}")
            self.parts.addItem(item)
        if components:
            self.parts.setCurrentRow(0)

    def details(self) -> str:
        return "\n".join(
            [
                f"DesktopChat {__version__}",
                self.backend_label.text(),
                f"Qt {qVersion()}, PySide6 {pyside_version}, Python {platform.python_version()}",
                f"{platform.platform()}",
            ]
        )

    @Slot(int)
    def on_parts_current_row_changed(self, row: int) -> None:
        if 0 <= row < len(self.components):
            self.licence.setPlainText(self.components[row].text())

    @Slot()
    def on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.details())
