"""The preview of a source: the file's text around the passage, the passage highlighted
and scrolled into view, where it is (page, heading, lines), and *Open file* (the system's
viewer). The text is fetched by the caller on the task pool (``library.preview``); until
it arrives the dialog says it is loading. How a file is opened is given (tests record it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import SourcePassage
from desktopchat.core.documents.api import Preview

Opener = Callable[[Path], object]
HIGHLIGHT = "#fff3b0"


def open_in_system_viewer(path: Path) -> bool:
    """Hand the file to the desktop's viewer for its type."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class DocumentPreview(QDialog):
    def __init__(
        self,
        source: SourcePassage,
        opener: Opener = open_in_system_viewer,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.source = source
        self.opener = opener
        self.preview: Preview | None = None
        self.setWindowTitle(f"Source: {Path(source.path).name}")
        self.resize(760, 560)
        self.where = QLabel(f"<b>{_escape(Path(source.path).name)}</b>")
        self.where.setWordWrap(True)
        self.where.setAccessibleName("Where the passage is")
        self.path_label = QLabel(source.path)
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setStyleSheet("color: #57606a;")
        self.text = QPlainTextEdit("Loading the passage…")
        self.text.setReadOnly(True)
        self.text.setAccessibleName("The file's text, the passage highlighted")
        self.open_button = QPushButton("Open file")
        self.open_button.setAccessibleName(f"Open {Path(source.path).name} in its viewer")
        self.open_button.clicked.connect(self.open_file)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addWidget(self.path_label)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)

    def show_preview(self, preview: Preview) -> None:
        """The text arrived: show it, highlight the passage and scroll to it."""
        self.preview = preview
        anchor = preview.anchor_text or self.source.anchor
        name = _escape(preview.path.name)
        self.where.setText(f"<b>{name}</b> · {_escape(anchor)}" if anchor else f"<b>{name}</b>")
        self.path_label.setText(str(preview.path))
        self.text.setPlainText(preview.text)
        start = max(0, min(preview.start, len(preview.text)))
        end = max(start, min(preview.end, len(preview.text)))
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        mark = QTextEdit.ExtraSelection()
        mark.cursor = cursor
        look = QTextCharFormat()
        look.setBackground(QColor(HIGHLIGHT))
        look.setForeground(QColor("#1f2328"))
        mark.format = look
        self.text.setExtraSelections([mark])
        # The passage's end first, then its start: the start ends up in view, and as much
        # of the passage below it as fits.
        self.text.moveCursor(QTextCursor.MoveOperation.End)
        at_end = QTextCursor(self.text.document())
        at_end.setPosition(end)
        self.text.setTextCursor(at_end)
        self.text.ensureCursorVisible()
        at_start = QTextCursor(self.text.document())
        at_start.setPosition(start)
        self.text.setTextCursor(at_start)
        self.text.ensureCursorVisible()

    def show_problem(self, message: str) -> None:
        """The library cannot show it (the file changed since the reply): show the
        passage's text as the reply got it, and why."""
        self.where.setText(
            f"<b>{_escape(Path(self.source.path).name)}</b> · {_escape(self.source.anchor)}"
        )
        text = self.source.text
        self.show_preview(
            Preview(
                Path(self.source.path),
                f"{message}\n\n{text}",
                len(message) + 2,
                len(message) + 2 + len(text),
                self.source.anchor,
            )
        )

    def highlighted_text(self) -> str:
        """The highlighted passage's text, as shown."""
        marks = self.text.extraSelections()
        if not marks:
            return ""
        cursor: QTextCursor = marks[0].cursor
        return cursor.selectedText().replace("\u2029", "\n")

    def passage_visible(self) -> bool:
        """The highlighted passage's start is inside the text's viewport."""
        marks = self.text.extraSelections()
        if not marks:
            return False
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(marks[0].cursor.selectionStart())
        rect = self.text.cursorRect(cursor)
        return self.text.viewport().rect().intersects(rect)

    def open_file(self) -> None:
        path = self.preview.path if self.preview is not None else Path(self.source.path)
        self.opener(path)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
