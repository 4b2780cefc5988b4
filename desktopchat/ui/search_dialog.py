"""Search every conversation (SQLite FTS5): results with the matching words highlighted,
newest or best match first; choosing one opens the conversation at that message.

The search runs on the window's database thread once typing pauses; a newer query's
answer replaces an older one's, and an older answer arriving late is dropped. Results are
laid out a few at a time, within a few milliseconds a pass of the event loop (each is a
word-wrapped rich-text label: a hundred at once froze the window for a tenth of a second
while the user typed)."""

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
FILL_BUDGET = 0.006  # seconds of laying out results per pass of the event loop
Hits = Callable[[list[SearchHit]], None]
Search = Callable[[str, bool, Hits], None]  # query, newest first, where the hits go


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
        self._asked = 0  # the newest search asked for; older answers are dropped
        self._shown = 0  # the search whose answer is shown
        self._choose_first = False  # Enter was pressed: open the first hit once it is here
        self._unlaid: list[SearchHit] = []  # the shown answer's hits not laid out yet
        self._filling = (0, "")  # the search being laid out, and its text
        self._fill_timer = QTimer(self)
        self._fill_timer.setSingleShot(True)
        self._fill_timer.setInterval(0)
        self._fill_timer.timeout.connect(self.on_fill_timer_timeout)
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

    @property
    def searching(self) -> bool:
        """A search was asked for and its answer has not arrived."""
        return self._asked != self._shown

    @Slot()
    def run_search(self) -> None:
        self._timer.stop()
        text = self.query.text()
        self._asked += 1
        asked = self._asked
        if not text.strip():
            self._show(asked, text, [])
            return
        self.status.setText("Searching…")
        self._search(
            text, bool(self.order.currentData()), lambda hits: self._show(asked, text, hits)
        )

    def _show(self, asked: int, text: str, hits: list[SearchHit]) -> None:
        if asked != self._asked:
            return  # a newer search was asked for meanwhile
        self.hits = hits
        self.results.clear()
        self._unlaid = list(reversed(hits))
        self._filling = (asked, text)
        self.on_fill_timer_timeout()

    @Slot()
    def on_fill_timer_timeout(self) -> None:
        """Lay out the next results, within FILL_BUDGET; the rest at the next pass."""
        asked, text = self._filling
        if asked != self._asked:
            return  # superseded: the newer search lays out its own
        deadline = time.perf_counter() + FILL_BUDGET
        while self._unlaid and time.perf_counter() < deadline:
            self._add(self._unlaid.pop())
        if self.results.count() and self.results.currentRow() < 0:
            self.results.setCurrentRow(0)
        if self._choose_first and self.hits:
            self._choose_first = False
            self.choose(0)
        if self._unlaid:
            self._fill_timer.start()
            return
        self._shown = asked
        self._choose_first = False
        self.status.setText(f"{len(self.hits)} results" if text.strip() else "")

    def _add(self, hit: SearchHit) -> None:
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

    @Slot()
    def on_query_return_pressed(self) -> None:
        self._choose_first = True
        self.run_search()

    @Slot(QListWidgetItem)
    def on_results_item_activated(self, item: QListWidgetItem) -> None:
        self.choose(self.results.row(item))

    def choose(self, row: int) -> None:
        if 0 <= row < len(self.hits):
            self.hit_chosen.emit(self.hits[row])
            self.accept()
