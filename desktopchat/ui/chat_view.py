"""The conversation: one widget per message (ui/message_widget.py), streaming in place,
the newest built first and older ones as the user scrolls up.

Auto-scroll follows the reply while the view is at the bottom and stops as soon as the
user scrolls up; scrolling back to the bottom resumes it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.chat import DocumentsUse, Message, MessageStatus
from desktopchat.ui.markdown import MarkdownRenderer
from desktopchat.ui.message_widget import RESUMABLE, MessageWidget, TextLabel, plain_text
from desktopchat.ui.theme import Theme

__all__ = ["RESUMABLE", "ChatView", "MessageWidget", "TextLabel", "plain_text"]

Branches = dict[int, tuple[int, int]]  # message id -> (its version's number, versions)
STICK_THRESHOLD = 24  # pixels from the bottom that still count as "at the bottom"
FIRST_MESSAGES = 3  # built when a conversation opens; older ones as the user scrolls up
PAGE_SIZE = 3  # older messages are added to the view this many at a time
TRASH_PER_PASS = 2  # pages of a closed conversation deleted per pass of the event loop
BUILD_BUDGET = 0.006  # seconds of building older messages per pass of the event loop


def chat_style(theme: Theme) -> str:
    return (
        f"QFrame#message-user {{ background: {theme.user_bubble}; border-radius: 6px; }}"
        f"QFrame#message-assistant, QFrame#message-system {{ background: {theme.bubble};"
        " border-radius: 6px; }"
        f"QFrame#message-found {{ background: {theme.bubble}; border: 2px solid {theme.accent};"
        " border-radius: 6px; }"
        f"QLabel#message-header {{ color: {theme.muted}; font-weight: bold; }}"
        f"QLabel#message-cut {{ color: {theme.warning}; font-style: italic; }}"
        f"QLabel#chat-placeholder {{ color: {theme.muted}; }}"
        f"QFrame#message-sources {{ border-top: 1px solid {theme.muted}; }}"
    )


class Page(QWidget):
    """A page of older messages, laid out by hand: its height for a width is the sum of
    its messages' and is remembered, and its messages are placed again only when its
    width changes or one of them changes. (With a QLayout, Qt asks every label of every
    page again whenever the view's layout changes: a thousand messages each time.)"""

    def __init__(self, parent: QWidget, spacing: int) -> None:
        super().__init__(parent)
        self._spacing = spacing
        self._messages: list[QWidget] = []
        self._heights: dict[int, int] = {}
        self._placed_width = -1
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def prepend(self, message: QWidget) -> None:
        self._messages.insert(0, message)
        message.setParent(self)
        message.resize(self.width(), message.height())  # lay it out once, at this width
        message.installEventFilter(self)  # to hear when it needs a new height
        message.show()
        self._changed()

    def __len__(self) -> int:
        return len(self._messages)

    def heightForWidth(self, width: int) -> int:
        height = self._heights.get(width)
        if height is None:
            heights = [m.heightForWidth(width) for m in self._messages]
            height = sum(heights) + self._spacing * max(len(heights) - 1, 0)
            self._heights[width] = height
        return height

    def sizeHint(self) -> QSize:
        width = self.width() if self._placed_width >= 0 else 600
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(0, 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        if event.size().width() != self._placed_width:
            self._place()
        super().resizeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # a message's size changed
            self._changed()
        return False

    def _changed(self) -> None:
        self._heights.clear()
        self._placed_width = -1
        if self.isVisible():
            self._place()
        self.updateGeometry()

    def _place(self) -> None:
        width = self.width()
        y = 0
        for message in self._messages:
            height = message.heightForWidth(width)
            message.setGeometry(0, y, width, height)
            y += height + self._spacing
        self._placed_width = width


class ChatView(QScrollArea):
    """Builds widgets only for the newest messages and, as the user scrolls up, for older
    ones a few at a time: a 1,000-message conversation opens as fast as a short one, and
    scrolling never stops the window for long."""

    code_copied = Signal(str)
    continue_requested = Signal(int)
    regenerate_requested = Signal(int)
    edit_requested = Signal(int)
    delete_requested = Signal(int)
    inspect_requested = Signal(int)
    version_requested = Signal(int, int)
    copied = Signal(str)
    source_chosen = Signal(int, object)  # message id, SourcePassage (ui/sources.py)

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setAccessibleName("Conversation")
        self._renderer = MarkdownRenderer()
        self._container = QWidget()
        self._container.setObjectName("chat-container")
        self._container.setStyleSheet(chat_style(Theme.light()))
        self.branches: Branches = {}
        self._cut: tuple[int, str] | None = None  # message id, note
        self._layout = QVBoxLayout(self._container)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self._layout.setSpacing(8)
        self._layout.addStretch(1)
        self.setWidget(self._container)
        self._widgets: dict[int, MessageWidget] = {}
        self._shown: list[MessageWidget] = []  # display order
        self._older: list[Message] = []  # not built yet, oldest first
        # Older messages are built into pages of PAGE_SIZE, each put in the view when full:
        # the view's layout then has a few dozen items, not a thousand.
        self._page: Page | None = None
        self._pages: list[Page] = []
        self._trash: list[QWidget] = []  # pages of a closed conversation, deleted bit by bit
        self._bottom_distance: int | None = None  # kept while older messages go in on top
        self._build_timer = QTimer(self)
        self._build_timer.setSingleShot(True)
        self._build_timer.timeout.connect(self.on_build_timer_timeout)
        self._held = False  # see hold_building
        self.conversation_id: int | None = None
        self.actions_enabled = True
        self._with_actions: MessageWidget | None = None
        self.stick_to_bottom = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self.on_scrollbar_value_changed)
        bar.rangeChanged.connect(self.on_scrollbar_range_changed)
        self._placeholder = QLabel("Start a conversation: type a message below and press Enter.")
        self._placeholder.setObjectName("chat-placeholder")
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(
            True
        )  # a narrow view (large zoom) wraps it, no sideways scrolling
        self._layout.insertWidget(0, self._placeholder)

    def clear(self) -> None:
        for widget in self._shown:
            if widget.parent() is self._container:
                widget.deleteLater()
        for page in self._pages:
            page.setVisible(False)  # deleting a thousand widgets at once would freeze us
        self._trash.extend(self._pages)
        if self._page is not None:
            self._page.deleteLater()
        self._page = None
        self._pages = []
        self._widgets.clear()
        self._shown.clear()
        self._older = []
        self._build_timer.stop()
        if self._trash:
            self._build_timer.start(0)
        self._with_actions = None
        self._cut = None
        self._placeholder.setVisible(True)

    def warm_up(self) -> None:
        """Prepare the code highlighters ahead of the first conversation (slow: call it on
        the task pool)."""
        self._renderer.warm_up()

    def set_theme(self, theme: Theme) -> None:
        self._container.setStyleSheet(chat_style(theme))

    def show_conversation(
        self,
        conversation_id: int | None,
        messages: list[Message],
        branches: Branches | None = None,
    ) -> None:
        self.clear()
        self.branches = branches or {}
        self.conversation_id = conversation_id
        split = max(len(messages) - FIRST_MESSAGES, 0)
        self._older = messages[:split]
        for message in messages[split:]:
            self.append_message(message)
        self.stick_to_bottom = True
        self.scroll_to_bottom()
        if self._older:
            self._build_timer.start(0)  # a short view fills itself (it has no scrollbar)

    @property
    def unbuilt(self) -> int:
        """Older messages not made into widgets yet (they are, on scrolling up)."""
        return len(self._older)

    def build_older(self, budget: float = BUILD_BUDGET) -> None:
        """Build older messages, newest first, for about ``budget`` seconds, keeping what
        is on screen where it is."""
        deadline = time.perf_counter() + budget
        while self._older and time.perf_counter() < deadline:
            if self._page is None:
                # A hidden child of the container, so that its messages are styled
                # (polished) here, within the budget, and not all at once when it shows.
                self._page = Page(self._container, self._layout.spacing())
                self._page.hide()
                self._page.resize(self._inner_width(), 0)
            widget = self._make(self._older.pop())
            self._shown.insert(0, widget)
            self._page.prepend(widget)
            widget.ensurePolished()
            if len(self._page) >= PAGE_SIZE or not self._older:
                bar = self.verticalScrollBar()
                self._bottom_distance = bar.maximum() - bar.value()
                # Make room first: laid out in the old height, every page would be
                # squeezed a little and laid out again (a thousand messages each pass).
                grow = self._page.heightForWidth(self._inner_width()) + self._layout.spacing()
                self._container.setMinimumHeight(self._container.height() + grow)
                self._layout.insertWidget(1, self._page)  # after the (hidden) placeholder
                self._container.setMinimumHeight(0)
                self._page.show()  # now, not at the next pass: the layout must count it
                self._pages.insert(0, self._page)
                self._page = None
                break
        if self._older:
            self._build_timer.start(0)  # the next pass decides whether more is needed

    def _inner_width(self) -> int:
        """The width messages get in the view."""
        margins = self._layout.contentsMargins()
        return self._container.width() - margins.left() - margins.right()

    def append_message(self, message: Message, *, live: bool = False) -> MessageWidget:
        widget = self._make(message, live=live)
        self._shown.append(widget)
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._placeholder.setVisible(False)
        self.refresh_actions()
        return widget

    def _make(self, message: Message, *, live: bool = False) -> MessageWidget:
        version = self.branches.get(message.id, (1, 1))
        widget = MessageWidget(message, self._renderer, live=live, version=version)
        widget.actions_enabled = self.actions_enabled
        widget.code_copied.connect(self.code_copied)
        widget.continue_requested.connect(self.continue_requested)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.edit_requested.connect(self.edit_requested)
        widget.delete_requested.connect(self.delete_requested)
        widget.inspect_requested.connect(self.inspect_requested)
        widget.version_requested.connect(self.version_requested)
        widget.copied.connect(self.copied)
        widget.source_chosen.connect(self.source_chosen)
        if self._cut is not None and self._cut[0] == message.id:
            widget.set_cut_note(self._cut[1])
        self._widgets[message.id] = widget
        return widget

    def mark_cut(self, message_id: int | None, note: str) -> None:
        """Say, above ``message_id``, that the model's context starts there (the older
        messages were left out or summarized); None removes the mark."""
        if self._cut is not None and self._cut[0] in self._widgets:
            self._widgets[self._cut[0]].set_cut_note("")
        self._cut = (message_id, note) if message_id is not None else None
        if message_id is not None and message_id in self._widgets:
            self._widgets[message_id].set_cut_note(note)

    @property
    def cut_mark(self) -> tuple[int, str] | None:
        return self._cut

    def scroll_to_message(self, message_id: int) -> MessageWidget | None:
        """Build older messages down to ``message_id``, scroll to it and outline it."""
        while message_id not in self._widgets and self._older:
            self.build_older(budget=1.0)
        widget = self._widgets.get(message_id)
        if widget is None:
            return None
        self.stick_to_bottom = False
        self._container.adjustSize()
        self.ensureWidgetVisible(widget, 0, 40)
        widget.setObjectName("message-found")  # outlined, once polished again
        widget.style().unpolish(widget)
        widget.style().polish(widget)
        widget.setFocus()
        return widget

    def set_actions_enabled(self, enabled: bool) -> None:
        self.actions_enabled = enabled
        for widget in self._widgets.values():
            widget.actions_enabled = enabled
        self.refresh_actions()

    def refresh_actions(self) -> None:
        """Continue/Regenerate only on the last message, when it is an unfinished reply."""
        last = self._shown[-1] if self._shown else None
        if self._with_actions is not None and self._with_actions is not last:
            self._with_actions.show_actions(False)
        show = last is not None and last.resumable and self.actions_enabled
        if last is not None:
            last.show_actions(show)
        self._with_actions = last if show else None

    def message_widget(self, message_id: int) -> MessageWidget | None:
        return self._widgets.get(message_id)

    def messages(self) -> list[MessageWidget]:
        return list(self._shown)

    def update_message(
        self,
        message_id: int,
        text: str,
        status: MessageStatus,
        *,
        live: bool = False,
        finish_reason: str | None = None,
    ) -> None:
        widget = self._widgets.get(message_id)
        if widget is not None:
            if finish_reason is not None:
                widget.finish_reason = finish_reason
            widget.set_content(text, status, live=live)
            self.refresh_actions()

    def update_reasoning(
        self, message_id: int, text: str, *, live: bool, seconds: float | None = None
    ) -> None:
        widget = self._widgets.get(message_id)
        if widget is not None:
            widget.set_reasoning(text, live=live, seconds=seconds)

    def set_sources(self, message_id: int, use: DocumentsUse | None) -> None:
        """Show under a reply what the attached documents gave it (its Sources list)."""
        widget = self._widgets.get(message_id)
        if widget is not None:
            widget.set_sources(use)

    def scroll_to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    @Slot(int)
    def on_scrollbar_value_changed(self, value: int) -> None:
        bar = self.verticalScrollBar()
        self.stick_to_bottom = value >= bar.maximum() - STICK_THRESHOLD
        if self._older and self._near_top() and not self._build_timer.isActive():
            self._build_timer.start(0)

    def _near_top(self) -> bool:
        """Less than a screenful above what is shown: time to build older messages."""
        return self.verticalScrollBar().value() < self.viewport().height()

    def hold_building(self, held: bool) -> None:
        """While a reply's prompt is being read, older messages are built only for a user
        who has scrolled to the very top: llama.cpp needs every core then, and building
        them meanwhile delayed the first token by a fifth of a second on two cores."""
        self._held = held
        if not held and self._older:
            self._build_timer.start(0)

    @Slot()
    def on_build_timer_timeout(self) -> None:
        if self._trash:
            for page in self._trash[:TRASH_PER_PASS]:
                page.deleteLater()
            del self._trash[:TRASH_PER_PASS]
            self._build_timer.start(0)
            return
        if not self._older or not self._near_top():
            return  # enough above what is shown; scrolling up asks for more
        bar = self.verticalScrollBar()
        if self._held and not (bar.maximum() > 0 and bar.value() == 0):
            return  # resumed by hold_building(False), or by the user reaching the top
        self.build_older()

    @Slot(int, int)
    def on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        bar = self.verticalScrollBar()
        if self._bottom_distance is not None:  # older messages went in above
            bar.setValue(maximum - self._bottom_distance)
            self._bottom_distance = None
        elif self.stick_to_bottom:
            bar.setValue(maximum)
