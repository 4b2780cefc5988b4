"""A collection's files as a table: name, state (with the reason a file failed or was
skipped), passages and how many have vectors, size, folder. Given lists made off the GUI
thread; it only shows them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from desktopchat.core.documents.types import DocumentFile, FileState
from desktopchat.core.models.library import human_size

COLUMNS = ("File", "State", "Passages", "Embedded", "Size", "Folder")
STATE_WORDS = {
    FileState.WAITING: "waiting",
    FileState.INDEXING: "indexing",
    FileState.INDEXED: "indexed",
    FileState.FAILED: "failed",
    FileState.SKIPPED: "skipped",
}
STATE_COLORS = {FileState.FAILED: "#cf222e", FileState.SKIPPED: "#9a6700"}

Index = QModelIndex | QPersistentModelIndex


def state_text(file: DocumentFile) -> str:
    """ "indexed", "failed: no text: scanned pages are not read", "skipped: unsupported"."""
    words = STATE_WORDS.get(file.state, str(file.state))
    if file.state is FileState.INDEXED and file.chunks and file.embedded < file.chunks:
        words = "indexed (embedding…)"
    return f"{words}: {file.reason}" if file.reason else words


class FilesModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[DocumentFile] = []

    def set_files(self, files: list[DocumentFile]) -> None:
        if files == self.files:
            return
        if [f.id for f in files] == [f.id for f in self.files]:
            self.files = files  # same rows: repaint them, keep the selection
            if files:
                last = self.index(len(files) - 1, len(COLUMNS) - 1)
                self.dataChanged.emit(self.index(0, 0), last)
            return
        self.beginResetModel()
        self.files = files
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.files)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or index.row() >= len(self.files):
            return None
        file = self.files[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return self.cell(file, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{file.path}\n{state_text(file)}"
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            color = STATE_COLORS.get(file.state)
            return QColor(color) if color else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (2, 3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.UserRole:
            return file
        return None

    @staticmethod
    def cell(file: DocumentFile, column: int) -> str:
        if column == 0:
            return file.path.name
        if column == 1:
            return state_text(file)
        if column == 2:
            return f"{file.chunks:,}"
        if column == 3:
            return f"{file.embedded:,}"
        if column == 4:
            return human_size(file.size) if file.size else ""
        return str(file.path.parent)

    def row_of(self, path: Path) -> int | None:
        return next((i for i, f in enumerate(self.files) if f.path == path), None)
