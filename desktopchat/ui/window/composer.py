"""The message being written: the ``Composer`` box, a large paste kept as an attachment,
files dropped (or pasted) on it handed over to be attached to the chat as documents, the
token count, the edit bar (a new version of an earlier message), Send and Stop.

It owns the text and its state; what sending does is the replies part's business.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.models.library import human_size
from desktopchat.ui.context_meter import ContextMeter
from desktopchat.ui.controllers import ChatController, ModelState

PASTE_INLINE_LIMIT = 50_000  # characters; a bigger paste is attached, not laid out in the box
TOKEN_COUNT_DELAY_MS = 400  # count tokens once typing pauses
READY_TEXT = "Type a message — Enter sends, Shift+Enter for a new line"


class Composer(QPlainTextEdit):
    """Enter sends; Shift+Enter starts a new line. A huge paste (laying out megabytes of
    text would freeze the window for seconds) is handed over as an attachment instead."""

    submitted = Signal()
    # object, not str: a str argument is copied into a QString and back (10 MB: 22 ms)
    large_paste = Signal(object)
    # Files from the file manager, dropped or pasted: list[Path], to attach to the chat.
    files_dropped = Signal(object)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return bool(local_files(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        files = local_files(source)
        if files:
            self.files_dropped.emit(files)
            return
        if source.hasText():
            text = source.text()
            if len(text) > PASTE_INLINE_LIMIT:
                self.large_paste.emit(text)
                return
        super().insertFromMimeData(source)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not (
            event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        ):
            self.submitted.emit()
            return
        super().keyPressEvent(event)


def local_files(source: QMimeData) -> list[Path]:
    """The local files (and folders) a drop or paste carries; [] for text and web links."""
    if not source.hasUrls():
        return []
    urls = source.urls()
    if not urls or not all(url.isLocalFile() for url in urls):
        return []
    return [Path(url.toLocalFile()) for url in urls]


class ComposerPanel(QWidget):
    """The box and what belongs to it, below the conversation."""

    send_requested = Signal()
    stop_requested = Signal()

    def __init__(self, controller: ChatController) -> None:
        super().__init__()
        self.controller = controller
        self.editing: int | None = None  # the user message being edited, if any
        self.attachment = ""
        self._count_id = 0
        self.edit_bar = QWidget()
        edit_label = QLabel(
            "Editing a message: Send makes it a new version (the old one and its replies "
            "stay, with ‹ › to switch). Esc cancels."
        )
        edit_label.setWordWrap(True)
        self.edit_cancel = QPushButton("Cancel edit")
        self.edit_cancel.setAccessibleName("Cancel editing")
        edit_layout = QHBoxLayout(self.edit_bar)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        edit_layout.addWidget(edit_label, 1)
        edit_layout.addWidget(self.edit_cancel)
        self.edit_bar.setVisible(False)
        self.editor = Composer()
        self.editor.setAccessibleName("Message")
        self.editor.setPlaceholderText(READY_TEXT)
        self.editor.setMaximumHeight(96)
        self.attachment_label = QLabel()
        self.attachment_label.setAccessibleName("Attached text")
        self.attachment_label.setWordWrap(True)
        self.attachment_remove = QPushButton("Remove")
        self.attachment_remove.setAccessibleName("Remove attached text")
        self.attachment_bar = QWidget()
        attachment_layout = QHBoxLayout(self.attachment_bar)
        attachment_layout.setContentsMargins(0, 0, 0, 0)
        attachment_layout.addWidget(self.attachment_label, 1)
        attachment_layout.addWidget(self.attachment_remove)
        self.attachment_bar.setVisible(False)
        self.context_meter = ContextMeter()
        self.token_label = QLabel()
        self.token_label.setAccessibleName("Token count")
        self.token_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.token_label.setWordWrap(True)
        self._count_timer = QTimer(self)
        self._count_timer.setSingleShot(True)
        self._count_timer.setInterval(TOKEN_COUNT_DELAY_MS)
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send message")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop the reply")
        self.stop_button.setVisible(False)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        compose = QHBoxLayout()
        compose.addWidget(self.editor, 1)
        compose.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit_bar)
        layout.addWidget(self.attachment_bar)
        layout.addLayout(compose)
        layout.addWidget(self.context_meter)
        layout.addWidget(self.token_label)
        self.editor.submitted.connect(self.send_requested)
        self.send_button.clicked.connect(self.send_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.editor.large_paste.connect(self.on_editor_large_paste)
        self.editor.textChanged.connect(self._count_timer.start)
        self._count_timer.timeout.connect(self.request_token_count)
        self.attachment_remove.clicked.connect(self.on_attachment_remove_clicked)
        self.edit_cancel.clicked.connect(self.cancel_edit)
        controller.tokens_counted.connect(self.on_controller_tokens_counted)

    # -- the text ------------------------------------------------------------------------

    def message_text(self) -> str:
        typed = self.editor.toPlainText()
        if not self.attachment:
            return typed
        return f"{typed}\n\n{self.attachment}" if typed.strip() else self.attachment

    def focus(self) -> None:
        self.editor.setFocus()
        cursor = self.editor.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        self.editor.setTextCursor(cursor)

    def set_enabled(self, *, ready: bool, can_send: bool, generating: bool) -> None:
        self.editor.setEnabled(can_send)
        self.send_button.setEnabled(can_send)
        self.send_button.setVisible(not generating)
        self.stop_button.setVisible(generating)
        self.editor.setPlaceholderText(READY_TEXT if ready else "Load a model to start chatting")

    def sent(self) -> None:
        """The reply started: what was sent leaves the box."""
        self.editor.clear()
        self.on_attachment_remove_clicked()

    # -- editing an earlier message ------------------------------------------------------

    def start_edit(self, message_id: int, text: str) -> None:
        self.editing = message_id
        self.editor.setPlainText(text)
        self.edit_bar.setVisible(True)
        self.focus()

    @Slot()
    def cancel_edit(self) -> None:
        if self.editing is not None:
            self.editing = None
            self.edit_bar.setVisible(False)

    # -- the attachment ------------------------------------------------------------------

    @Slot(object)
    def on_editor_large_paste(self, text: str) -> None:
        self.attachment = text
        self.attachment_bar.setVisible(True)
        self._describe_attachment()
        self.request_token_count()

    def _describe_attachment(self, counted: str = "counting tokens…") -> None:
        size = human_size(len(self.attachment.encode("utf-8", "replace")))
        self.attachment_label.setText(
            f"Pasted text attached: {len(self.attachment):,} characters ({size}), {counted}. "
            "It is sent with your message."
        )

    @Slot()
    def on_attachment_remove_clicked(self) -> None:
        self.attachment = ""
        self.attachment_bar.setVisible(False)
        self.request_token_count()

    # -- the token count -----------------------------------------------------------------

    @Slot()
    def request_token_count(self) -> None:
        self._count_timer.stop()
        text = self.message_text()
        if self.controller.state is not ModelState.READY or not text:
            self._count_id = 0
            self.token_label.setText("")
            return
        self._count_id = self.controller.count_tokens(text)

    @Slot(int, int, bool)
    def on_controller_tokens_counted(self, request_id: int, count: int, exact: bool) -> None:
        if request_id != self._count_id:
            return
        loaded = self.controller.loaded
        if count < 0 or loaded is None:
            self.token_label.setText("")
            return
        counted = f"{count:,} tokens" if exact else f"more than {count:,} tokens"
        if self.attachment:
            self._describe_attachment(counted)
        if count > loaded.n_ctx:
            self.token_label.setStyleSheet("color: #b42318;")
            self.token_label.setText(
                f"{counted}: longer than the whole {loaded.n_ctx:,}-token context. "
                "Shorten it, or raise the context length in the chat settings."
            )
        else:
            self.token_label.setStyleSheet("color: #57606a;")
            self.token_label.setText(f"{counted} · context {loaded.n_ctx:,}")
