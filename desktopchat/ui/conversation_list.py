"""The sidebar: conversations newest first, a filter box, New chat, rename and delete.

Rows are fetched from the database a page at a time as the list is scrolled, so a history
of tens of thousands of conversations opens as fast as a short one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLineEdit, QListView, QMenu, QPushButton, QVBoxLayout, QWidget

from desktopchat.core.storage.repositories import ConversationSummary

ID_ROLE = Qt.ItemDataRole.UserRole
PAGE = 200  # rows fetched at a time

# Reads rows ``offset`` to ``offset + limit`` of the list (fewer at its end).
Fetch = Callable[[int, int], list[ConversationSummary]]
AnyIndex = QModelIndex | QPersistentModelIndex


class ConversationModel(QAbstractListModel):
    """The conversations fetched so far; Qt's views ask for more as they scroll."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ConversationSummary] = []
        self._fetch: Fetch = lambda _offset, _limit: []
        self._more = False

    def reset(self, fetch: Fetch, at_least: int) -> None:
        """Show the list ``fetch`` reads, with at least ``at_least`` rows when it has them."""
        self.beginResetModel()
        self._fetch = fetch
        self.rows = fetch(0, at_least)
        self._more = len(self.rows) == at_least
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        summary = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return summary.title
        if role == ID_ROLE:
            return summary.id
        if role == Qt.ItemDataRole.ToolTipRole:
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated_at))
            return f"{summary.title}\n{stamp} · {summary.message_count} messages"
        return None

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and self._more

    def fetchMore(self, parent: AnyIndex) -> None:
        if parent.isValid() or not self._more:
            return
        batch = self._fetch(len(self.rows), PAGE)
        self._more = len(batch) == PAGE
        if batch:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(batch) - 1)
            self.rows.extend(batch)
            self.endInsertRows()


class ConversationList(QWidget):
    conversation_selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int)
    delete_requested = Signal(int)
    filter_changed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.new_button = QPushButton("New chat")
        self.new_button.setAccessibleName("New chat")
        self.new_button.clicked.connect(self.new_requested)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter conversations")
        self.filter.setAccessibleName("Filter conversations")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.filter_changed)
        self.model = ConversationModel()
        self.list = QListView()
        self.list.setAccessibleName("Conversations")
        self.list.setUniformItemSizes(True)
        self.list.setModel(self.model)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self.on_list_context_menu)
        self.list.selectionModel().currentChanged.connect(self.on_list_current_changed)
        self._resetting = False
        rename = QAction("Rename", self.list)
        rename.setShortcut(QKeySequence(Qt.Key.Key_F2))
        rename.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        rename.triggered.connect(self.on_rename_triggered)
        delete = QAction("Delete", self.list)
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self.on_delete_triggered)
        self.list.addActions([rename, delete])
        self._rename_action = rename
        self._delete_action = delete
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.new_button)
        layout.addWidget(self.filter)
        layout.addWidget(self.list)

    def show_rows(self, fetch: Fetch, selected: int | None) -> None:
        """Show the list ``fetch`` reads, as deep as the user had scrolled, with
        ``selected`` as the current row when it is among them."""
        self._resetting = True
        try:
            self.model.reset(fetch, max(PAGE, self.model.rowCount()))
            row = next((i for i, s in enumerate(self.model.rows) if s.id == selected), -1)
            self.list.setCurrentIndex(self.model.index(row) if row >= 0 else QModelIndex())
        finally:
            self._resetting = False

    def ids(self) -> list[int]:
        """The conversations fetched so far, in order."""
        return [summary.id for summary in self.model.rows]

    def title(self, row: int) -> str:
        return self.model.rows[row].title

    def select_row(self, row: int) -> None:
        self.list.setCurrentIndex(self.model.index(row))

    def current_id(self) -> int | None:
        index = self.list.currentIndex()
        return int(index.data(ID_ROLE)) if index.isValid() else None

    @Slot(QModelIndex, QModelIndex)
    def on_list_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not self._resetting and current.isValid():
            self.conversation_selected.emit(int(current.data(ID_ROLE)))

    @Slot(QPoint)
    def on_list_context_menu(self, position: QPoint) -> None:
        if not self.list.indexAt(position).isValid():
            return
        menu = QMenu(self)
        menu.addAction(self._rename_action)
        menu.addAction(self._delete_action)
        menu.exec(self.list.viewport().mapToGlobal(position))

    @Slot()
    def on_rename_triggered(self) -> None:
        current = self.current_id()
        if current is not None:
            self.rename_requested.emit(current)

    @Slot()
    def on_delete_triggered(self) -> None:
        current = self.current_id()
        if current is not None:
            self.delete_requested.emit(current)
