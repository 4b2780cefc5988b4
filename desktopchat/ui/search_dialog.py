"""Search every conversation (SQLite FTS5): results with the matching words highlighted,
newest or best match first; choosing one opens the conversation at that message."""

from __future__ import annotations

import html
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.storage.repositories import SNIPPET_MARKS, SearchHit

SEARCH_DELAY_MS = 150  # search once typing pauses
Search = Callable[[str, bool], list[SearchHit]]  # query, newest first


def snippet_html(snippet: str) -> str:
    start, end = SNIPPET_MARKS
    return html.escape(snippet).replace(start, "<b><u>").replace(end, "</u></b>")


def snippet_plain(snippet: str) -> str:
    start, end = SNIPPET_MARKS
    return snippet.replace(start, "").replace(end, "")


class SearchDialog(QDialog):
    hit_chosen = Signal(object)  # SearchHit

    def __init__(self, search: Search, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Search conversations")
        self.resize(640, 480)
        self._search = search
        self.hits: list[SearchHit] = []
        self.query = QLineEdit()
        self.query.setAccessibleName("Search text")
        self.query.setPlaceholderText("Words to find in every conversation")
        self.query.setClearButtonEnabled(True)
        self.order = QComboBox()
        self.order.setAccessibleName("Order of results")
        self.order.addItem("Newest first", True)
        self.order.addItem("Best match first", False)
        self.results = QListWidget()
        self.results.setAccessibleName("Search results")
        self.results.setWordWrap(True)
        self.status = QLabel()
        self.status.setAccessibleName("Search status")
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.order)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.run_search)
        self.query.textChanged.connect(self._timer.start)
        self.query.returnPressed.connect(self.on_query_return_pressed)
        self.order.currentIndexChanged.connect(self.run_search)
        self.results.itemActivated.connect(self.on_results_item_activated)

    @Slot()
    def run_search(self) -> None:
        self._timer.stop()
        text = self.query.text()
        started = time.perf_counter()
        self.hits = self._search(text, bool(self.order.currentData())) if text.strip() else []
        elapsed = (time.perf_counter() - started) * 1000
        self.results.clear()
        for hit in self.hits:
            stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.created_at))
            label = QLabel(
                f"<b>{html.escape(hit.title)}</b> <small>· {hit.role.value} · {stamp}</small>"
                f"<br>{snippet_html(hit.snippet)}"
            )
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            item = QListWidgetItem()
            item.setData(
                Qt.ItemDataRole.AccessibleTextRole,
                f"{hit.title}, {hit.role.value}: {snippet_plain(hit.snippet)}",
            )
            item.setSizeHint(label.sizeHint())
            self.results.addItem(item)
            self.results.setItemWidget(item, label)
        if text.strip():
            self.status.setText(f"{len(self.hits)} results in {elapsed:.0f} ms")
        else:
            self.status.setText("")
        if self.hits:
            self.results.setCurrentRow(0)

    @Slot()
    def on_query_return_pressed(self) -> None:
        self.run_search()
        if self.hits:
            self.choose(self.results.currentRow())

    @Slot(QListWidgetItem)
    def on_results_item_activated(self, item: QListWidgetItem) -> None:
        self.choose(self.results.row(item))

    def choose(self, row: int) -> None:
        if 0 <= row < len(self.hits):
            self.hit_chosen.emit(self.hits[row])
            self.accept()
