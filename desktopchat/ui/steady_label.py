"""A word-wrapped status line that keeps its height while its text changes.

A QLabel with word wrap is as tall as its text: a progress line that wraps onto two lines
for one report and fits on one for the next makes the whole window lay itself out again,
and every widget below or beside it (a table of files) repaint in full, several times a
second. ``SteadyLabel`` grows when a text needs more lines and never shrinks for a shorter
one; only a new width (the user resized the window) sizes it to its text again.
"""

from __future__ import annotations

from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget


class SteadyLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)

    def setText(self, text: str) -> None:
        if text == self.text():
            return
        super().setText(text)
        self._hold()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.setMinimumHeight(0)  # a new width: as tall as the text needs there, again
            self._hold()

    def _hold(self) -> None:
        width = self.width()
        if width <= 0 or not self.isVisible():
            return  # not laid out yet: the first layout sizes it to its text
        needed = self.heightForWidth(width)
        if needed > self.minimumHeight():
            self.setMinimumHeight(needed)
