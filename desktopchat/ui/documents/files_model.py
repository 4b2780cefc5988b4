"""A collection's files as a table: name, state (with the reason a file failed or was
skipped), passages and how many have vectors, size, folder. Given lists made off the GUI
thread; it only shows them. ``plan`` works out off the GUI thread which rows and columns
a new list changes, so the GUI thread repaints only those (one ``dataChanged`` per run of
changed rows, no reset, the selection kept) and nothing when nothing changed."""

from __future__ import annotations

from dataclasses import dataclass
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
Run = tuple[int, int, int, int]  # first row, last row, first column, last column


@dataclass(frozen=True)
class FilesChange:
    """What showing ``files`` instead of ``before`` takes: ``runs`` of changed cells
    (empty: nothing to repaint), or None when the rows themselves differ (a reset)."""

    before: list[DocumentFile]
    files: list[DocumentFile]
    runs: tuple[Run, ...] | None


def changed_columns(old: DocumentFile, new: DocumentFile) -> tuple[int, int] | None:
    """The first and last column whose cells differ between two versions of a row (the
    whole row when its state words change: every cell's tooltip carries them)."""
    if old == new:
        return None
    if state_text(old) != state_text(new) or old.path != new.path:
        return 0, len(COLUMNS) - 1
    differ = [c for c in range(len(COLUMNS)) if FilesModel.cell(old, c) != FilesModel.cell(new, c)]
    return (differ[0], differ[-1]) if differ else None


def plan(before: list[DocumentFile], files: list[DocumentFile]) -> FilesChange:
    """The change from ``before`` to ``files``: any thread (it reads only the lists,
    which are never changed in place)."""
    if len(files) != len(before) or any(a.id != b.id for a, b in zip(before, files, strict=True)):
        return FilesChange(before, files, None)
    runs: list[Run] = []
    for row, (old, new) in enumerate(zip(before, files, strict=True)):
        span = changed_columns(old, new)
        if span is None:
            continue
        last = runs[-1] if runs else None
        if last is not None and last[1] == row - 1:
            runs[-1] = (last[0], row, min(last[2], span[0]), max(last[3], span[1]))
        else:
            runs.append((row, row, span[0], span[1]))
    return FilesChange(before, files, tuple(runs))


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
        self.apply(plan(self.files, files))

    def apply(self, change: FilesChange) -> None:
        """Show ``change.files``: only the changed cells are repainted (same rows: the
        selection stays); a reset when the rows differ. A change planned against another
        list than the one shown (the list changed meanwhile) is planned again here."""
        if change.before is not self.files:
            change = plan(self.files, change.files)
        if change.runs is None:
            self.beginResetModel()
            self.files = change.files
            self.endResetModel()
            return
        self.files = change.files
        for first, last, left, right in change.runs:
            self.dataChanged.emit(self.index(first, left), self.index(last, right))

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
