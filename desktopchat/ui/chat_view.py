"""The conversation: one widget per message, Markdown rendered, streaming in place.

Auto-scroll follows the reply while the view is at the bottom and stops as soon as the
user scrolls up; scrolling back to the bottom resumes it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import Message, MessageStatus, Role
from desktopchat.ui.markdown import COPY_SCHEME, MarkdownRenderer, stable_prefix

ROLE_NAMES = {Role.USER: "You", Role.ASSISTANT: "Assistant", Role.SYSTEM: "System"}
STATUS_NOTES = {
    # A partial message that is not streaming now was cut off by a crash or a kill.
    MessageStatus.PARTIAL: "interrupted",
    MessageStatus.STOPPED: "stopped",
    MessageStatus.ERROR: "failed",
}
RESUMABLE = (MessageStatus.PARTIAL, MessageStatus.STOPPED, MessageStatus.ERROR)
STICK_THRESHOLD = 24  # pixels from the bottom that still count as "at the bottom"


class TextLabel(QLabel):
    """A word-wrapped rich-text label that remembers its height for a width. QLabel
    lays its whole text out again for every heightForWidth call, and a layout pass asks
    every message: without this, one streamed token re-lays out the conversation."""

    def __init__(self) -> None:
        super().__init__()
        self._heights: dict[int, int] = {}
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        self.setOpenExternalLinks(False)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:
        if text != self.text():
            self._heights.clear()
            super().setText(text)

    def heightForWidth(self, width: int) -> int:
        height = self._heights.get(width)
        if height is None:
            height = self._heights[width] = super().heightForWidth(width)
        return height

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._heights.clear()
        super().changeEvent(event)


class MessageWidget(QFrame):
    code_copied = Signal(str)
    continue_requested = Signal(int)
    regenerate_requested = Signal(int)

    def __init__(self, message: Message, renderer: MarkdownRenderer, *, live: bool = False) -> None:
        super().__init__()
        self.message_id = message.id
        self.role = message.role
        self._renderer = renderer
        self._code_blocks: tuple[str, ...] = ()
        self._text = ""
        # While streaming, the finished blocks (up to _stable_end) are rendered once into
        # body and only the block being written is rendered again, into tail.
        self._stable_end = 0
        self._stable_text = ""
        self._stable_blocks: tuple[str, ...] = ()
        self.setObjectName(f"message-{message.role.value}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        background = "#eef4ff" if message.role is Role.USER else "#ffffff"
        self.setStyleSheet(
            f"QFrame#{self.objectName()} {{ background: {background}; border-radius: 6px; }}"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        self.header = QLabel()
        self.header.setStyleSheet("color: #57606a; font-weight: bold;")
        self.body = TextLabel()
        self.tail = TextLabel()
        self.tail.setVisible(False)
        for label in (self.body, self.tail):
            label.linkActivated.connect(self.on_body_link_activated)
        layout.addWidget(self.header)
        layout.addWidget(self.body)
        layout.addWidget(self.tail)
        # Shown on an unfinished last reply (interrupted, stopped, failed).
        self.continue_button = QPushButton("Continue")
        self.continue_button.setAccessibleName("Continue this reply")
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setAccessibleName("Write this reply again")
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self.message_id))
        self.regenerate_button.clicked.connect(
            lambda: self.regenerate_requested.emit(self.message_id)
        )
        self.actions_row = QWidget()
        actions = QHBoxLayout(self.actions_row)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addWidget(self.continue_button)
        actions.addWidget(self.regenerate_button)
        actions.addStretch(1)
        self.actions_row.setVisible(False)
        layout.addWidget(self.actions_row)
        self.set_content(message.content, message.status, live=live)

    @property
    def resumable(self) -> bool:
        return self.role is Role.ASSISTANT and self.status in RESUMABLE and not self.live

    @property
    def text(self) -> str:
        return self._text

    def set_content(self, text: str, status: MessageStatus, *, live: bool = False) -> None:
        self._text = text
        self.status = status
        self.live = live
        note = "streaming…" if live else STATUS_NOTES.get(status)
        role = ROLE_NAMES[self.role]
        self.header.setText(f"{role} — {note}" if note else role)
        if not text and live:
            self.body.setText("<i>…</i>")
            self._code_blocks = ()
            self._stable_end, self._stable_text = 0, ""
            return
        if live:
            self._show_streaming(text)
        else:
            rendered = self._renderer.render(text)
            self._code_blocks = rendered.code_blocks
            self.body.setText(rendered.html)
            self.body.setVisible(True)
            self.tail.setVisible(False)
            self.tail.clear()
            self._stable_end, self._stable_text = 0, ""
        self.body.setAccessibleDescription(text)

    def _show_streaming(self, text: str) -> None:
        start = self._stable_end if text.startswith(self._stable_text) else 0
        end = stable_prefix(text, start)
        if end != self._stable_end or start == 0:
            stable = self._renderer.render(text[:end])
            self._stable_end, self._stable_blocks = end, stable.code_blocks
            self._stable_text = text[:end]
            self.body.setText(stable.html if end else "")
            self.body.setVisible(end > 0)
        tail = self._renderer.render(text[end:], first_code_block=len(self._stable_blocks))
        self.tail.setText(tail.html)
        self.tail.setVisible(True)
        self._code_blocks = self._stable_blocks + tail.code_blocks

    @property
    def code_blocks(self) -> tuple[str, ...]:
        return self._code_blocks

    @Slot(str)
    def on_body_link_activated(self, link: str) -> None:
        if link.startswith(COPY_SCHEME):
            index = int(link.removeprefix(COPY_SCHEME))
            if 0 <= index < len(self._code_blocks):
                QGuiApplication.clipboard().setText(self._code_blocks[index])
                self.code_copied.emit(self._code_blocks[index])


class ChatView(QScrollArea):
    code_copied = Signal(str)
    continue_requested = Signal(int)
    regenerate_requested = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setAccessibleName("Conversation")
        self._renderer = MarkdownRenderer()
        self._container = QWidget()
        self._layout = QVBoxLayout(self._container)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(8)
        self._layout.addStretch(1)
        self.setWidget(self._container)
        self._widgets: dict[int, MessageWidget] = {}
        self.conversation_id: int | None = None
        self.actions_enabled = True
        self._with_actions: MessageWidget | None = None
        self.stick_to_bottom = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self.on_scrollbar_value_changed)
        bar.rangeChanged.connect(self.on_scrollbar_range_changed)
        self._placeholder = QLabel("Start a conversation: type a message below and press Enter.")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setStyleSheet("color: #8c959f;")
        self._layout.insertWidget(0, self._placeholder)

    def clear(self) -> None:
        for widget in self._widgets.values():
            widget.deleteLater()
        self._widgets.clear()
        self._with_actions = None
        self._placeholder.setVisible(True)

    def show_conversation(self, conversation_id: int | None, messages: list[Message]) -> None:
        self.clear()
        self.conversation_id = conversation_id
        for message in messages:
            self.append_message(message)
        self.stick_to_bottom = True
        self.scroll_to_bottom()

    def append_message(self, message: Message, *, live: bool = False) -> MessageWidget:
        widget = MessageWidget(message, self._renderer, live=live)
        widget.code_copied.connect(self.code_copied)
        widget.continue_requested.connect(self.continue_requested)
        widget.regenerate_requested.connect(self.regenerate_requested)
        self._widgets[message.id] = widget
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._placeholder.setVisible(False)
        self.refresh_actions()
        return widget

    def set_actions_enabled(self, enabled: bool) -> None:
        self.actions_enabled = enabled
        self.refresh_actions()

    def refresh_actions(self) -> None:
        """Continue/Regenerate only on the last message, when it is an unfinished reply."""
        last = next(reversed(self._widgets.values()), None)
        if self._with_actions is not None and self._with_actions is not last:
            self._with_actions.actions_row.setVisible(False)
        self._with_actions = last
        if last is not None:
            last.actions_row.setVisible(last.resumable and self.actions_enabled)

    def message_widget(self, message_id: int) -> MessageWidget | None:
        return self._widgets.get(message_id)

    def messages(self) -> list[MessageWidget]:
        return list(self._widgets.values())

    def update_message(
        self, message_id: int, text: str, status: MessageStatus, *, live: bool = False
    ) -> None:
        widget = self._widgets.get(message_id)
        if widget is not None:
            widget.set_content(text, status, live=live)
            self.refresh_actions()

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    @Slot(int)
    def on_scrollbar_value_changed(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self.stick_to_bottom = value >= bar.maximum() - STICK_THRESHOLD

    @Slot(int, int)
    def on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self.stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)
