"""*Attach a file of a collection*: choose one file of an existing collection for the chat
to answer from (``GenerationParams.document_files``), without attaching the whole
collection. The collection's files are read on the task pool; the list filters as the
user types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.documents.types import Collection, DocumentFile, FileState
from desktopchat.ui.documents.dialog import guarded

# TaskRunner.run's shape: the job (off the GUI thread), what to do with its result, its error.
RunTask = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[str], None]], None]
_STATE_WORDS = {
    FileState.WAITING: "waiting",
    FileState.INDEXING: "indexing",
    FileState.FAILED: "failed",
    FileState.SKIPPED: "skipped",
}


class CollectionFilePicker(QDialog):
    """Emits ``chosen`` with the files picked (DocumentFile list) when the user accepts."""

    chosen = Signal(object)

    def __init__(
        self,
        library: DocumentLibrary,
        collections: list[Collection],
        run: RunTask,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Attach a file of a collection")
        self.library = library
        self._run = run
        self.files: list[DocumentFile] = []
        self.pending = 0  # reads asked for and not answered (tests wait for 0)
        self._request = 0
        self.collection = QComboBox()
        self.collection.setAccessibleName("Collection")
        for c in collections:
            self.collection.addItem(c.name, c.id)
        self.filter = QLineEdit()
        self.filter.setAccessibleName("Filter files")
        self.filter.setPlaceholderText("Filter by name…")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setAccessibleName("Files")
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Attach")
        layout = QVBoxLayout(self)
        intro = QLabel("This chat answers from the files chosen here, not the whole collection.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(self.collection)
        layout.addWidget(self.filter)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.collection.currentIndexChanged.connect(self.read_files)
        self.filter.textChanged.connect(self.show_files)
        self.list.itemSelectionChanged.connect(self._update_ok)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.resize(520, 420)
        self._update_ok()
        self.read_files()

    @Slot()
    def read_files(self) -> None:
        collection_id = self.collection.currentData()
        self.list.clear()
        self.files = []
        if collection_id is None:
            self.note.setText("There are no collections yet (Documents… makes one).")
            return
        self._request += 1
        request = self._request
        self.pending += 1
        self.note.setText("Reading the collection's files…")
        library = self.library

        def shown(files: list[DocumentFile]) -> None:
            self.pending -= 1
            if request == self._request:
                self.files = [f for f in files if f.state is not FileState.SKIPPED]
                self.note.setText("" if self.files else "This collection has no files to attach.")
                self.show_files()

        def failed(message: str) -> None:
            self.pending -= 1
            if request == self._request:
                self.note.setText(message)

        self._run(guarded(lambda: library.files(int(collection_id))), shown, failed)

    @Slot()
    def show_files(self) -> None:
        wanted = self.filter.text().casefold().strip()
        self.list.clear()
        for f in self.files:
            if wanted and wanted not in str(f.path).casefold():
                continue
            state = _STATE_WORDS.get(f.state)
            item = QListWidgetItem(f.path.name + (f" ({state})" if state else ""))
            item.setToolTip(str(f.path))
            item.setData(Qt.ItemDataRole.UserRole, f.id)
            self.list.addItem(item)
        self._update_ok()

    def selected_files(self) -> list[DocumentFile]:
        ids = {item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()}
        return [f for f in self.files if f.id in ids]

    def _update_ok(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(
            bool(self.list.selectedItems())
        )

    def accept(self) -> None:
        files = self.selected_files()
        if not files:
            return
        self.chosen.emit(files)
        super().accept()
