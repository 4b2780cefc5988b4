"""The sidebar: conversations newest first, a filter box, New chat, rename and delete."""

from __future__ import annotations

import time

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.storage.repositories import ConversationSummary

ID_ROLE = Qt.ItemDataRole.UserRole


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
        self.list = QListWidget()
        self.list.setAccessibleName("Conversations")
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self.on_list_context_menu)
        self.list.currentItemChanged.connect(self.on_list_current_item_changed)
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

    def set_items(self, items: list[ConversationSummary], selected: int | None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for summary in items:
            item = QListWidgetItem(summary.title)
            item.setData(ID_ROLE, summary.id)
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated_at))
            item.setToolTip(f"{summary.title}\n{stamp} · {summary.message_count} messages")
            self.list.addItem(item)
            if summary.id == selected:
                self.list.setCurrentItem(item)
        if selected is None:
            self.list.setCurrentRow(-1)
        self.list.blockSignals(False)

    def ids(self) -> list[int]:
        return [int(self.list.item(i).data(ID_ROLE)) for i in range(self.list.count())]

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return int(item.data(ID_ROLE)) if item is not None else None

    @Slot(QListWidgetItem, QListWidgetItem)
    def on_list_current_item_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        if current is not None:
            self.conversation_selected.emit(int(current.data(ID_ROLE)))

    @Slot(QPoint)
    def on_list_context_menu(self, position: QPoint) -> None:
        if self.list.itemAt(position) is None:
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
