"""The sidebar: conversations, pinned first then newest first under date headings
(Today, Yesterday, Previous 7 days, …), a filter box, New chat, rename, pin, delete to the
trash, and the trash itself (restore, delete for good).

Rows arrive a page at a time as the list is scrolled, so a history of tens of thousands of
conversations opens as fast as a short one. The list never reads the database itself: it
is handed rows, and asks for more pages through a callback answered later (the window's
database thread); an answer for a list that was replaced since is dropped.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.storage.repositories import ConversationSummary

ID_ROLE = Qt.ItemDataRole.UserRole
PAGE = 200  # rows fetched at a time
FILTER_DELAY_MS = 150  # filter once typing pauses

Rows = Callable[[list[ConversationSummary]], None]
# Asks for rows ``offset`` to ``offset + limit`` of the list (fewer at its end); the answer
# comes later, through the callback.
FetchMore = Callable[[int, int, Rows], None]
AnyIndex = QModelIndex | QPersistentModelIndex


def date_group(summary: ConversationSummary, today: datetime.date) -> str:
    """The heading a conversation is listed under."""
    if summary.pinned and summary.deleted_at is None:
        return "Pinned"
    if summary.deleted_at is not None:
        return "Trash"
    day = datetime.date.fromtimestamp(summary.updated_at)
    age = (today - day).days
    if age <= 0:
        return "Today"
    if age == 1:
        return "Yesterday"
    if age < 7:
        return "Previous 7 days"
    if age < 30:
        return "Previous 30 days"
    if day.year == today.year:
        return day.strftime("%B")
    return day.strftime("%B %Y")


class ConversationModel(QAbstractListModel):
    """The conversations fetched so far, under date headings; Qt's views ask for more
    as they scroll."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ConversationSummary] = []  # the conversations, in order
        self.items: list[ConversationSummary | str] = []  # what is shown: with headings
        self._fetch: FetchMore = lambda _offset, _limit, _answer: None
        self._more = False
        self._waiting = False  # a page was asked for and has not arrived
        self._generation = 0  # which list the rows belong to: a reset starts another
        self._today = datetime.date.today()

    def reset(self, rows: list[ConversationSummary], asked: int, fetch: FetchMore) -> None:
        """Show ``rows`` (the first ``asked`` were asked for: fewer means the list ends
        there); ``fetch`` asks for the pages after them."""
        self.beginResetModel()
        self._generation += 1
        self._fetch = fetch
        self._waiting = False
        self._today = datetime.date.today()
        self.items = []
        self.rows = list(rows)
        self.items = self._grouped(self.rows)
        self._more = len(self.rows) >= asked
        self.endResetModel()

    def _grouped(self, batch: list[ConversationSummary]) -> list[ConversationSummary | str]:
        """``batch`` as it follows the items shown: a heading where the group changes."""
        last = next((i for i in reversed(self.items) if isinstance(i, str)), None)
        items: list[ConversationSummary | str] = []
        for summary in batch:
            group = date_group(summary, self._today)
            if group != last:
                items.append(group)
                last = group
            items.append(summary)
        return items

    def item_row(self, conversation_row: int) -> int:
        """The list row of the ``conversation_row``-th conversation."""
        target = self.rows[conversation_row]
        return next(i for i, item in enumerate(self.items) if item is target)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        return 0 if parent.isValid() else len(self.items)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if index.isValid() and isinstance(self.items[index.row()], str):
            return Qt.ItemFlag.NoItemFlags  # a heading
        return super().flags(index)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        summary = self.items[index.row()]
        if isinstance(summary, str):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
                return summary
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                font.setPointSizeF(max(font.pointSizeF() * 0.9, 7.0))
                return font
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return summary.title
        if role == ID_ROLE:
            return summary.id
        if role == Qt.ItemDataRole.ToolTipRole:
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.updated_at))
            return f"{summary.title}\n{stamp} · {summary.message_count} messages"
        return None

    def canFetchMore(self, parent: AnyIndex) -> bool:
        return not parent.isValid() and self._more and not self._waiting

    def fetchMore(self, parent: AnyIndex) -> None:
        if parent.isValid() or not self._more or self._waiting:
            return
        self._waiting = True
        generation = self._generation
        self._fetch(len(self.rows), PAGE, lambda batch: self._arrived(generation, batch))

    def _arrived(self, generation: int, batch: list[ConversationSummary]) -> None:
        if generation != self._generation:
            return  # the list was replaced meanwhile
        self._waiting = False
        self._more = len(batch) == PAGE
        if batch:
            new_items = self._grouped(batch)
            before = len(self.items)
            self.beginInsertRows(QModelIndex(), before, before + len(new_items) - 1)
            self.items.extend(new_items)
            self.rows.extend(batch)
            self.endInsertRows()


class ConversationList(QWidget):
    conversation_selected = Signal(int)
    new_requested = Signal()
    rename_requested = Signal(int)
    delete_requested = Signal(int)  # to the trash (or, in the trash, for good)
    pin_requested = Signal(int)  # pin, or unpin
    restore_requested = Signal(int)  # out of the trash
    export_requested = Signal(int)
    empty_trash_requested = Signal()
    trash_toggled = Signal(bool)
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
        # Filter once typing pauses: each pause asks the database once, and a newer
        # filter's answer replaces an older one's (the window drops stale answers).
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(lambda: self.filter_changed.emit(self.filter.text()))
        self.filter.textChanged.connect(self._filter_timer.start)
        self.model = ConversationModel()
        self.list = QListView()
        self.list.setAccessibleName("Conversations")
        self.list.setUniformItemSizes(True)
        # Long titles are elided, never scrolled sideways.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
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
        pin = QAction("Pin", self.list)
        pin.setShortcut(QKeySequence("Ctrl+P"))
        pin.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        pin.triggered.connect(lambda: self._emit_current(self.pin_requested))
        restore = QAction("Restore", self.list)
        restore.setShortcut(QKeySequence("Ctrl+Shift+R"))
        restore.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        restore.triggered.connect(lambda: self._emit_current(self.restore_requested))
        export = QAction("Export…", self.list)
        export.triggered.connect(lambda: self._emit_current(self.export_requested))
        self.list.addActions([rename, delete, pin, restore])
        self._rename_action = rename
        self._delete_action = delete
        self._pin_action = pin
        self._restore_action = restore
        self._export_action = export
        self.trash_button = QPushButton("Trash")
        self.trash_button.setCheckable(True)
        self.trash_button.setAccessibleName("Show the trash")
        self.trash_button.setToolTip(
            "Deleted conversations: restore them, or delete them for good (they go after 30 days)"
        )
        self.trash_button.toggled.connect(self.on_trash_button_toggled)
        self.empty_trash_button = QPushButton("Empty trash…")
        self.empty_trash_button.setAccessibleName("Empty the trash")
        self.empty_trash_button.setVisible(False)
        self.empty_trash_button.clicked.connect(self.empty_trash_requested)
        bottom = QHBoxLayout()
        bottom.addWidget(self.trash_button)
        bottom.addWidget(self.empty_trash_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.new_button)
        layout.addWidget(self.filter)
        layout.addWidget(self.list)
        layout.addLayout(bottom)

    @property
    def showing_trash(self) -> bool:
        return self.trash_button.isChecked()

    @Slot(bool)
    def on_trash_button_toggled(self, checked: bool) -> None:
        self.empty_trash_button.setVisible(checked)
        self.new_button.setEnabled(not checked)
        self.trash_button.setText("Back to chats" if checked else "Trash")
        self.trash_toggled.emit(checked)

    def _emit_current(self, signal: Any) -> None:
        current = self.current_id()
        if current is not None:
            signal.emit(current)

    def rows_wanted(self) -> int:
        """How many rows a refresh should ask for: as deep as the user had scrolled."""
        return max(PAGE, len(self.model.rows))

    def show_rows(
        self, rows: list[ConversationSummary], asked: int, fetch: FetchMore, selected: int | None
    ) -> None:
        """Show ``rows`` (``asked`` were asked for), ``fetch`` reading the pages after them,
        with ``selected`` as the current row when it is among them."""
        self._resetting = True
        try:
            self.model.reset(rows, asked, fetch)
            row = next((i for i, s in enumerate(self.model.rows) if s.id == selected), -1)
            index = self.model.index(self.model.item_row(row)) if row >= 0 else QModelIndex()
            self.list.setCurrentIndex(index)
        finally:
            self._resetting = False

    def ids(self) -> list[int]:
        """The conversations fetched so far, in order."""
        return [summary.id for summary in self.model.rows]

    def title(self, row: int) -> str:
        return self.model.rows[row].title

    def select_row(self, row: int) -> None:
        """Select the ``row``-th conversation (headings are not counted)."""
        self.list.setCurrentIndex(self.model.index(self.model.item_row(row)))

    def select_next(self, step: int) -> None:
        """Select the next (1) or previous (-1) conversation."""
        rows = self.model.rows
        if not rows:
            return
        current = self.current_id()
        at = next((i for i, s in enumerate(rows) if s.id == current), -1 if step > 0 else 0)
        target = at + step
        if 0 <= target < len(rows):
            self.select_row(target)
        elif target >= len(rows) and self.model.canFetchMore(QModelIndex()):
            self.model.fetchMore(QModelIndex())  # the next page arrives later

    def groups(self) -> list[str]:
        """The headings shown, in order."""
        return [item for item in self.model.items if isinstance(item, str)]

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
        if self.showing_trash:
            menu.addAction(self._restore_action)
            self._delete_action.setText("Delete for good…")
            menu.addAction(self._delete_action)
        else:
            current = self.list.indexAt(position)
            pinned = any(s.pinned for s in self.model.rows if s.id == current.data(ID_ROLE))
            self._pin_action.setText("Unpin" if pinned else "Pin")
            self._delete_action.setText("Move to trash")
            menu.addActions([self._rename_action, self._pin_action, self._export_action])
            menu.addSeparator()
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
