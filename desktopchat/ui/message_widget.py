"""One message in the conversation: its header (who, its state, its versions ‹ n/m ›),
its Markdown body (rendered once per finished block while it streams), its actions
(continue, regenerate), its menu (copy, edit, delete, show the prompt) and, under a reply
that used documents, its Sources list (ui/sources.py)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal, SignalInstance, Slot
from PySide6.QtGui import QGuiApplication, QTextDocument
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import DocumentsUse, FinishReason, Message, MessageStatus, Role
from desktopchat.core.inference.service import pretty_json
from desktopchat.ui.markdown import COPY_SCHEME, MarkdownRenderer, stable_prefix
from desktopchat.ui.sources import SourcesList

ROLE_NAMES = {
    Role.USER: "You",
    Role.ASSISTANT: "Assistant",
    Role.SYSTEM: "System",
    Role.TOOL: "Tool result",
}
STATUS_NOTES = {
    # A partial message that is not streaming now was cut off by a crash or a kill.
    MessageStatus.PARTIAL: "interrupted",
    MessageStatus.STOPPED: "stopped",
    MessageStatus.ERROR: "failed",
}
RESUMABLE = (MessageStatus.PARTIAL, MessageStatus.STOPPED, MessageStatus.ERROR)


def plain_text(markdown: str) -> str:
    """Markdown as the plain text a reader sees."""
    document = QTextDocument()
    document.setMarkdown(markdown)
    return document.toPlainText()


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
    edit_requested = Signal(int)
    delete_requested = Signal(int)
    inspect_requested = Signal(int)
    version_requested = Signal(int, int)  # message id, step (-1: previous, +1: next)
    copied = Signal(str)  # what was copied, in words
    source_chosen = Signal(int, object)  # message id, SourcePassage

    def __init__(
        self,
        message: Message,
        renderer: MarkdownRenderer,
        *,
        live: bool = False,
        version: tuple[int, int] = (1, 1),
    ) -> None:
        super().__init__()
        self.message_id = message.id
        self.role = message.role
        self.finish_reason = message.finish_reason
        self.version = version
        self._renderer = renderer
        self._code_blocks: tuple[str, ...] = ()
        self._text = ""
        # While streaming, the finished blocks (_stable_text) are rendered once into body
        # and only the block being written is rendered again, into tail.
        self._stable_text = ""
        self._stable_blocks: tuple[str, ...] = ()
        self.setObjectName(f"message-{message.role.value}")  # styled by ChatView's sheet
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 8)
        self._layout = layout
        self.cut_note = QLabel()  # where the model's context begins, when history was cut
        self.cut_note.setObjectName("message-cut")
        self.cut_note.setWordWrap(True)
        self.cut_note.setVisible(False)
        self.header = QLabel()
        self.header.setObjectName("message-header")
        self.menu_button = QToolButton()
        self.menu_button.setText("⋯")
        self.menu_button.setAutoRaise(True)
        self.menu_button.setAccessibleName(f"Actions for this {ROLE_NAMES[self.role]} message")
        self.menu_button.setToolTip("Copy, edit, regenerate, delete, show the prompt")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu_button.setMenu(QMenu(self.menu_button))
        self.menu_button.menu().aboutToShow.connect(self.on_menu_about_to_show)
        header_row = QHBoxLayout()
        header_row.setContentsMargins(0, 0, 0, 0)
        header_row.addWidget(self.header, 1)
        self.versions: tuple[QToolButton, QLabel, QToolButton] | None = None
        if version[1] > 1:
            self.versions = self._version_widgets(header_row)
        header_row.addWidget(self.menu_button)
        self.body = TextLabel()
        self.tail = TextLabel()
        self.tail.setVisible(False)
        for label in (self.body, self.tail):
            label.linkActivated.connect(self.on_body_link_activated)
        # A thinking model's reasoning: "Thinking…" while it streams, then collapsed to
        # "Thought for 12 s" (expandable); shown as plain text, apart from the answer.
        self.thinking_toggle = QToolButton()
        self.thinking_toggle.setObjectName("message-thinking")
        self.thinking_toggle.setAutoRaise(True)
        self.thinking_toggle.setCheckable(True)
        self.thinking_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.thinking_toggle.setVisible(False)
        self.thinking_toggle.toggled.connect(self.on_thinking_toggled)
        self.thinking = QLabel()
        self.thinking.setObjectName("message-reasoning")
        self.thinking.setTextFormat(Qt.TextFormat.PlainText)
        self.thinking.setWordWrap(True)
        self.thinking.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.thinking.setVisible(False)
        # An assistant message's tool calls, and a tool result (collapsed), as plain text:
        # a tool's output is untrusted, never rendered as Markdown or HTML.
        self.calls = QLabel()
        self.calls.setObjectName("message-tool-calls")
        self.calls.setTextFormat(Qt.TextFormat.PlainText)
        self.calls.setWordWrap(True)
        self.calls.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.calls.setVisible(False)
        self._thinking_seconds: float | None = None
        layout.addWidget(self.cut_note)
        layout.addLayout(header_row)
        layout.addWidget(self.thinking_toggle)
        layout.addWidget(self.thinking)
        layout.addWidget(self.body)
        layout.addWidget(self.tail)
        layout.addWidget(self.calls)
        self._actions: tuple[QWidget, QPushButton, QPushButton] | None = None
        self.sources: SourcesList | None = None  # made for a reply that used documents
        if message.stats is not None:
            self._thinking_seconds = message.stats.reasoning_seconds
        self.set_reasoning(message.reasoning, live=False)
        self.set_tool_calls(message)
        self.set_content(message.content, message.status, live=live)
        if message.stats is not None and message.stats.documents is not None:
            self.set_sources(message.stats.documents)

    def set_reasoning(self, text: str, *, live: bool, seconds: float | None = None) -> None:
        """The reasoning: while ``live`` it shows as it streams ("Thinking…"); after, it
        is collapsed under "Thought for N s" until the user opens it."""
        if seconds is not None:
            self._thinking_seconds = seconds
        self.thinking.setText(text.strip())
        if not text.strip():
            self.thinking_toggle.setVisible(False)
            self.thinking.setVisible(False)
            return
        self.thinking_toggle.setVisible(True)
        if live:
            self.thinking_toggle.setText("▾ Thinking…")
            self.thinking.setVisible(True)
            return
        took = self._thinking_seconds
        label = f"Thought for {took:.0f} s" if took is not None else "Thought"
        opened = self.thinking_toggle.isChecked()
        self.thinking_toggle.setText(f"{'▾' if opened else '▸'} {label}")
        self.thinking_toggle.setAccessibleName(f"{label}: show the reasoning")
        self.thinking.setVisible(opened)

    @Slot(bool)
    def on_thinking_toggled(self, opened: bool) -> None:
        self.set_reasoning(self.thinking.text(), live=False)

    def set_tool_calls(self, message: Message) -> None:
        """What an answer called (tool and arguments), or a tool's result (collapsed
        under its header: the ⋯ menu's copy and the inspector show it whole)."""
        if message.role is Role.TOOL:
            self.calls.setText(message.content)
            self.calls.setVisible(False)
            self.thinking_toggle.setVisible(True)
            failed = message.status is MessageStatus.ERROR
            label = f"{message.tool_name} {'failed' if failed else 'returned'}"
            self.thinking_toggle.setText(f"▸ {label} ({len(message.content):,} characters)")
            self.thinking_toggle.toggled.disconnect(self.on_thinking_toggled)
            self.thinking_toggle.toggled.connect(self.on_result_toggled)
            return
        if message.tool_calls:
            lines = [f"→ {c.describe()}" for c in message.tool_calls]
            self.calls.setText("Called " + "\n".join(lines))
            self.calls.setVisible(True)

    @Slot(bool)
    def on_result_toggled(self, opened: bool) -> None:
        self.calls.setVisible(opened)
        text = self.thinking_toggle.text()
        self.thinking_toggle.setText(("▾" if opened else "▸") + text[1:])

    def set_sources(self, use: DocumentsUse | None) -> None:
        """Show what the attached documents gave this reply under it (None: nothing)."""
        if use is None:
            if self.sources is not None:
                self.sources.setVisible(False)
            return
        if self.sources is None:
            self.sources = SourcesList(use)
            self.sources.source_chosen.connect(
                lambda source: self.source_chosen.emit(self.message_id, source)
            )
            self._layout.insertWidget(self._layout.indexOf(self.tail) + 1, self.sources)
        else:
            self.sources.set_use(use)
        self.sources.setVisible(True)

    def _version_widgets(self, row: QHBoxLayout) -> tuple[QToolButton, QLabel, QToolButton]:
        """ "‹ 2/3 ›": the other versions of this message (edits, regenerated answers)."""
        number, count = self.version
        previous, label, following = QToolButton(), QLabel(f"{number}/{count}"), QToolButton()
        previous.setText("‹")
        following.setText("›")
        previous.setAccessibleName("Previous version of this message")
        following.setAccessibleName("Next version of this message")
        label.setAccessibleName(f"Version {number} of {count}")
        previous.setEnabled(number > 1)
        following.setEnabled(number < count)
        previous.clicked.connect(lambda: self.version_requested.emit(self.message_id, -1))
        following.clicked.connect(lambda: self.version_requested.emit(self.message_id, 1))
        for widget in (previous, label, following):
            row.addWidget(widget)
        return previous, label, following

    @Slot()
    def on_menu_about_to_show(self) -> None:
        """The message's actions, built when the menu opens (cheap for long chats)."""
        menu = self.menu_button.menu()
        menu.clear()
        entries: list[tuple[str, SignalInstance]] = []
        if self.role is Role.USER:
            entries.append(("Edit and resend", self.edit_requested))
        if self.role is Role.ASSISTANT and not self.live:
            entries.append(("Regenerate", self.regenerate_requested))
            if self.resumable:
                entries.append(("Continue", self.continue_requested))
        for text, signal in entries:
            action = menu.addAction(text)
            action.setEnabled(self.actions_enabled)
            action.triggered.connect(lambda _=False, s=signal: s.emit(self.message_id))
        menu.addAction("Copy as Markdown").triggered.connect(self.copy_markdown)
        menu.addAction("Copy as plain text").triggered.connect(self.copy_plain)
        if self.role is Role.ASSISTANT:
            inspect = menu.addAction("Show the prompt…")
            inspect.triggered.connect(lambda: self.inspect_requested.emit(self.message_id))
        menu.addSeparator()
        delete = menu.addAction("Delete…")
        delete.setEnabled(not self.live and self.actions_enabled)
        delete.triggered.connect(lambda: self.delete_requested.emit(self.message_id))

    actions_enabled = True  # set by the view: off while a reply is written

    @Slot()
    def copy_markdown(self) -> None:
        QGuiApplication.clipboard().setText(self._text)
        self.copied.emit("Message copied as Markdown")

    @Slot()
    def copy_plain(self) -> None:
        QGuiApplication.clipboard().setText(plain_text(self._text))
        self.copied.emit("Message copied as plain text")

    def set_cut_note(self, text: str) -> None:
        self.cut_note.setText(text)
        self.cut_note.setVisible(bool(text))

    def _action_widgets(self) -> tuple[QWidget, QPushButton, QPushButton]:
        """Continue/Regenerate, shown on an unfinished last reply (interrupted, stopped,
        failed). Made on first use: a long conversation needs them on one message only."""
        if self._actions is None:
            row = QWidget()
            continue_button = QPushButton("Continue")
            continue_button.setAccessibleName("Continue this reply")
            regenerate_button = QPushButton("Regenerate")
            regenerate_button.setAccessibleName("Write this reply again")
            continue_button.clicked.connect(self.on_continue_clicked)
            regenerate_button.clicked.connect(self.on_regenerate_clicked)
            actions = QHBoxLayout(row)
            actions.setContentsMargins(0, 0, 0, 0)
            actions.addWidget(continue_button)
            actions.addWidget(regenerate_button)
            actions.addStretch(1)
            row.setVisible(False)
            self._layout.addWidget(row)
            self._actions = (row, continue_button, regenerate_button)
        return self._actions

    def show_actions(self, visible: bool) -> None:
        if visible or self._actions is not None:
            self.actions_row.setVisible(visible)

    @property
    def actions_row(self) -> QWidget:
        return self._action_widgets()[0]

    @property
    def continue_button(self) -> QPushButton:
        return self._action_widgets()[1]

    @property
    def regenerate_button(self) -> QPushButton:
        return self._action_widgets()[2]

    @Slot()
    def on_continue_clicked(self) -> None:
        self.continue_requested.emit(self.message_id)

    @Slot()
    def on_regenerate_clicked(self) -> None:
        self.regenerate_requested.emit(self.message_id)

    @property
    def resumable(self) -> bool:
        """An unfinished reply (interrupted, stopped, failed, or cut by the token limit)."""
        unfinished = self.status in RESUMABLE or self.finish_reason == FinishReason.LENGTH.value
        return self.role is Role.ASSISTANT and unfinished and not self.live

    @property
    def text(self) -> str:
        return self._text

    def set_content(self, text: str, status: MessageStatus, *, live: bool = False) -> None:
        self._text = text
        if self.role is Role.TOOL:  # its text is in the collapsed block, never rendered
            self.status = status
            self.live = live
            self.header.setText(ROLE_NAMES[self.role])
            self.body.setVisible(False)
            self.body.setAccessibleDescription(text)
            return
        self.status = status
        self.live = live
        note = "streaming…" if live else STATUS_NOTES.get(status)
        role = ROLE_NAMES[self.role]
        self.header.setText(f"{role} — {note}" if note else role)
        if not text and live:
            self.body.setText("<i>…</i>")
            self._code_blocks = ()
            self._stable_text = ""
            return
        if live:
            self._show_streaming(text)
        else:
            pretty = pretty_json(text) if text.lstrip()[:1] in ("{", "[") else None
            shown = f"```json\n{pretty}\n```" if pretty is not None else text
            rendered = self._renderer.render(shown)
            self._code_blocks = rendered.code_blocks
            self.body.setText(rendered.html)
            self.body.setVisible(True)
            self.tail.setVisible(False)
            self.tail.clear()
            self._stable_text = ""
        self.body.setAccessibleDescription(text)

    def _show_streaming(self, text: str) -> None:
        start = len(self._stable_text) if text.startswith(self._stable_text) else 0
        end = stable_prefix(text, start)
        if end != len(self._stable_text) or start == 0:
            stable = self._renderer.render(text[:end])
            self._stable_text, self._stable_blocks = text[:end], stable.code_blocks
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
