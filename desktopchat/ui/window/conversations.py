"""The conversation list's actions: its pages, the filter, opening a conversation,
rename, pin, the trash (move, restore, delete for good, empty), and the watch for what
other programs change.

Every query runs on the database thread; answers come back here. An answer for a
request that a newer one replaced (a refresh, an open) is dropped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot

from desktopchat.core.chat import Conversation, Message, MessageStatus, Role
from desktopchat.core.session import Core
from desktopchat.core.storage.changes import Watermark
from desktopchat.core.storage.repositories import ConversationSummary
from desktopchat.ui.chat_view import Branches
from desktopchat.ui.conversation_list import Rows

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow

EXTERNAL_CHANGES_MS = 1500  # how often to look for changes made by other programs

Opened = tuple[Conversation, list[Message], dict[int | None, list[int]]]


def versions(path: list[Message], tree: dict[int | None, list[int]]) -> Branches:
    """For each message of ``path``: its version's number among its siblings, of how many."""
    shown: Branches = {}
    for message in path:
        siblings = tree.get(message.parent_id, [message.id])
        if len(siblings) > 1:
            shown[message.id] = (siblings.index(message.id) + 1, len(siblings))
    return shown


def _opened(core: Core, conversation_id: int) -> Opened:
    repo = core.conversations
    return (
        repo.get(conversation_id),
        repo.active_path(conversation_id),
        repo.children(conversation_id),
    )


class ConversationActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.shown: list[Message] = []  # the open conversation's branch, as opened
        self.displayed_leaf: int | None = None
        self._refreshes = 0  # the newest refresh; older answers are dropped
        self._opening: int | None = None  # the newest open asked for
        self._opens = 0
        self._watermark: Watermark | None = None
        self._watched_since = 0.0
        self._watch_pending = False
        self._watch = QTimer(self)
        self._watch.setInterval(EXTERNAL_CHANGES_MS)
        self._watch.timeout.connect(self.on_watch_timeout)
        sidebar = window.sidebar
        sidebar.conversation_selected.connect(self.on_sidebar_conversation_selected)
        sidebar.new_requested.connect(self.on_sidebar_new_requested)
        sidebar.rename_requested.connect(self.rename)
        sidebar.delete_requested.connect(self.delete)
        sidebar.filter_changed.connect(self.on_sidebar_filter_changed)
        sidebar.pin_requested.connect(self.toggle_pin)
        sidebar.restore_requested.connect(self.restore)
        sidebar.empty_trash_requested.connect(self.empty_trash)
        sidebar.trash_toggled.connect(self.on_sidebar_trash_toggled)
        window.controller.title_changed.connect(self.on_controller_title_changed)

    # -- the list ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the list again (as deep as it was scrolled); the newest refresh wins."""
        window = self.window
        text = window.sidebar.filter.text()
        trash = window.sidebar.showing_trash
        asked = window.sidebar.rows_wanted()
        self._refreshes += 1
        refresh = self._refreshes

        def fetch(offset: int, limit: int, answer: Rows) -> None:
            window.database.run(
                lambda core: core.conversations.summaries(
                    text, limit=limit, offset=offset, trash=trash
                ),
                answer,
            )

        def show(rows: list[ConversationSummary]) -> None:
            if refresh == self._refreshes:
                window.sidebar.show_rows(rows, asked, fetch, window.current_conversation)

        fetch(0, asked, show)

    @Slot(str)
    def on_sidebar_filter_changed(self, _text: str) -> None:
        self.refresh()

    @Slot(int, str)
    def on_controller_title_changed(self, _conversation_id: int, title: str) -> None:
        self.refresh()
        self.window.show_status(f"Titled “{title}” (rename it any time)")

    # -- opening -------------------------------------------------------------------------

    def open(self, conversation_id: int | None) -> None:
        """Show a conversation (None: a new, empty chat) once its messages are read."""
        window = self.window
        window.settings_panel.flush()  # queued first: the old chat's settings are saved
        self._opens += 1
        opening = self._opens
        if conversation_id is None:
            window.current_conversation = None
            self.shown = []
            self.displayed_leaf = None
            window.chat_view.show_conversation(None, [])
            window.chat_settings.show_model_defaults()
            self.refresh()
            return

        def show(opened: Opened) -> None:
            if opening == self._opens:
                self._show(*opened)

        window.database.run(lambda core: _opened(core, conversation_id), show)

    def _show(
        self,
        conversation: Conversation,
        messages: list[Message],
        tree: dict[int | None, list[int]],
    ) -> None:
        window = self.window
        window.composing.cancel_edit()
        window.current_conversation = conversation.id
        self.shown = messages
        self.displayed_leaf = conversation.active_leaf_id
        window.chat_view.show_conversation(conversation.id, messages, versions(messages, tree))
        last_reply = next((m for m in reversed(messages) if m.role is Role.ASSISTANT), None)
        stats = last_reply.stats if last_reply is not None else None
        if stats is not None:
            window.messages.show_context(
                messages, stats.summarized_messages, stats.dropped_messages
            )
        window.context_meter.show_stats(stats)
        window.settings_panel.set_params(conversation.params)
        controller = window.controller
        if controller.generating_conversation == conversation.id:
            streaming = messages[-1] if messages else None
            if streaming is not None and streaming.status is MessageStatus.PARTIAL:
                window.chat_view.update_message(
                    streaming.id, controller.current_text(), MessageStatus.PARTIAL, live=True
                )
        window.show_notice("")

    @Slot(int)
    def on_sidebar_conversation_selected(self, conversation_id: int) -> None:
        if conversation_id != self.window.current_conversation:
            self.open(conversation_id)

    @Slot()
    def on_sidebar_new_requested(self) -> None:
        self.open(None)
        self.window.composer.setFocus()

    @Slot(bool)
    def on_sidebar_trash_toggled(self, _showing: bool) -> None:
        self.open(None)
        self.window.update_enabled()

    # -- rename, pin, trash ----------------------------------------------------------------

    @Slot(int)
    def rename(self, conversation_id: int) -> None:
        window = self.window

        def ask(conversation: Conversation) -> None:
            title = window.ask_text("Rename conversation", "Title:", conversation.title)
            if title is None or not title.strip():
                return
            window.database.run(
                lambda core: core.conversations.rename(conversation_id, title),
                lambda _: self.refresh(),
            )

        window.database.run(lambda core: core.conversations.get(conversation_id), ask)

    @Slot(int)
    def toggle_pin(self, conversation_id: int) -> None:
        def toggle(core: Core) -> None:
            repo = core.conversations
            repo.set_pinned(conversation_id, not repo.get(conversation_id).pinned)

        self.window.database.run(toggle, lambda _: self.refresh())

    @Slot(int)
    def delete(self, conversation_id: int) -> None:
        """To the trash, with Undo; in the trash, for good (after asking)."""
        window = self.window
        if window.controller.generating_conversation == conversation_id:
            window.show_error("Stop the reply before deleting this conversation.")
            return
        for_good = window.sidebar.showing_trash

        def ask(conversation: Conversation) -> None:
            if for_good and not window.confirm(
                "Delete for good",
                f"Delete “{conversation.title}” and all its messages for good? "
                "This cannot be undone.",
            ):
                return

            def remove(core: Core) -> None:
                if for_good:
                    core.conversations.delete(conversation_id)
                else:
                    core.conversations.move_to_trash(conversation_id)

            window.database.run(remove, lambda _: removed(conversation))

        def removed(conversation: Conversation) -> None:
            if window.current_conversation == conversation_id:
                self.open(None)
            else:
                self.refresh()
            if not for_good:
                window.offer_action(
                    f"Moved “{conversation.title}” to the trash.",
                    ("Undo", lambda: self.restore(conversation_id)),
                )

        window.database.run(lambda core: core.conversations.get(conversation_id), ask)

    @Slot(int)
    def restore(self, conversation_id: int) -> None:
        window = self.window
        window.clear_action()

        def restored(_: None) -> None:
            if window.sidebar.showing_trash:
                self.refresh()
            else:
                window.current_conversation = conversation_id  # selected in the new list
                self.refresh()
                self.open(conversation_id)

        window.database.run(
            lambda core: core.conversations.restore_from_trash(conversation_id), restored
        )

    @Slot()
    def empty_trash(self) -> None:
        window = self.window
        if not window.confirm(
            "Empty trash", "Delete every conversation in the trash for good? This cannot be undone."
        ):
            return

        def emptied(count: int) -> None:
            window.show_status(f"Deleted {count} conversations for good.")
            if window.current_conversation is not None and window.sidebar.showing_trash:
                self.open(None)
            else:
                self.refresh()

        window.database.run(lambda core: core.conversations.empty_trash(), emptied)

    # -- the watch -----------------------------------------------------------------------

    def start_watching(self) -> None:
        """Look every 1.5 s for commits by other programs (the CLI, a script). This
        process's own commits (the inference thread saving a reply) are not changes."""
        self._watched_since = time.time()
        self.window.database.run(
            lambda core: core.db.outside_changes(None), self._on_first_watermark
        )
        self._watch.start()

    def _on_first_watermark(self, answer: tuple[Watermark, bool]) -> None:
        self._watermark = answer[0]

    def stop_watching(self) -> None:
        self._watch.stop()

    @Slot()
    def on_watch_timeout(self) -> None:
        window = self.window
        if self._watch_pending:
            return  # the last look has not been answered yet (a lock, a long query)
        previous = self._watermark
        since = self._watched_since
        now = time.time()

        def look(core: Core) -> tuple[Watermark, list[int] | None]:
            watermark, changed = core.db.outside_changes(previous)
            return watermark, core.conversations.changed_since(since) if changed else None

        self._watch_pending = True
        window.database.run(look, lambda answer: self._on_looked(answer, now), self._unwatched)

    def _unwatched(self, _message: str) -> None:
        self._watch_pending = False  # locked or busy: look again next time, quietly

    def _on_looked(self, answer: tuple[Watermark, list[int] | None], now: float) -> None:
        self._watch_pending = False
        watermark, changed = answer
        self._watermark = watermark
        # The next look asks what changed after this one was asked: this process's own
        # changes until now are not reported later with another program's.
        self._watched_since = now
        if not changed:
            return  # another program changed something else (a preset, a model record)
        window = self.window
        self.refresh()
        current = window.current_conversation
        if current is None or current not in changed:
            return
        if window.controller.generating_conversation == current:
            return

        def check(leaf: int | None) -> None:
            if leaf != self.displayed_leaf:
                self.open(current)

        window.database.run(
            lambda core: core.conversations.get(current).active_leaf_id,
            check,
            lambda _message: self.open(None),  # deleted elsewhere
        )
