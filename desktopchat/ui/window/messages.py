"""Actions on the messages shown: edit (a new version), switch versions (branches),
delete a branch with Undo, regenerate and continue a reply, copy, and the mark where the
model's context starts.

Reads and writes go through the database thread; the view is updated when they answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from desktopchat.core.chat import Message, Role
from desktopchat.core.inference.prompt import turns
from desktopchat.core.inference.service import ResumeMode
from desktopchat.core.session import Core
from desktopchat.core.storage.repositories import DeletedBranch

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow


class MessageActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        view = window.chat_view
        view.continue_requested.connect(self.on_chat_view_continue_requested)
        view.regenerate_requested.connect(self.on_chat_view_regenerate_requested)
        view.edit_requested.connect(self.on_chat_view_edit_requested)
        view.delete_requested.connect(self.on_chat_view_delete_requested)
        view.inspect_requested.connect(window.show_inspector)
        view.version_requested.connect(self.on_chat_view_version_requested)
        view.copied.connect(lambda what: window.show_status(what, 2500))
        view.code_copied.connect(self.on_chat_code_copied)

    # -- the last reply ------------------------------------------------------------------

    def last_reply(self) -> int | None:
        """The id of the last assistant message shown, if any."""
        widgets = self.window.chat_view.messages()
        return next((w.message_id for w in reversed(widgets) if w.role is Role.ASSISTANT), None)

    @Slot()
    def regenerate_last(self) -> None:
        last = self.last_reply()
        if last is not None:
            self.window.replies.resume(last, ResumeMode.REGENERATE)

    @Slot()
    def continue_last(self) -> None:
        last = self.last_reply()
        if last is not None:
            self.window.replies.resume(last, ResumeMode.CONTINUE)

    @Slot()
    def inspect_last(self) -> None:
        last = self.last_reply()
        if last is not None:
            self.window.show_inspector(last)

    @Slot(int)
    def on_chat_view_continue_requested(self, message_id: int) -> None:
        self.window.replies.resume(message_id, ResumeMode.CONTINUE)

    @Slot(int)
    def on_chat_view_regenerate_requested(self, message_id: int) -> None:
        self.window.replies.resume(message_id, ResumeMode.REGENERATE)

    @Slot(str)
    def on_chat_code_copied(self, _code: str) -> None:
        self.window.show_status("Code copied to the clipboard", 2500)

    # -- edit, versions, delete ----------------------------------------------------------

    @Slot(int)
    def on_chat_view_edit_requested(self, message_id: int) -> None:
        window = self.window

        def edit(message: Message) -> None:
            if not window.controller.busy:
                window.composing.start_edit(message_id, message.content)

        window.database.run(lambda core: core.conversations.get_message(message_id), edit)

    @Slot(int, int)
    def on_chat_view_version_requested(self, message_id: int, step: int) -> None:
        """Show the previous or next version of a message, with the branch below it."""
        window = self.window
        conversation_id = window.current_conversation
        if conversation_id is None or window.controller.generating_conversation is not None:
            return

        def switch(core: Core) -> bool:
            repo = core.conversations
            message = repo.get_message(message_id)
            siblings = repo.children(conversation_id).get(message.parent_id, [])
            index = siblings.index(message_id) + step
            if not 0 <= index < len(siblings):
                return False
            repo.switch_branch(conversation_id, siblings[index])
            return True

        def switched(moved: bool) -> None:
            if moved:
                window.open_conversation(conversation_id)

        window.database.run(switch, switched)

    @Slot(int)
    def on_chat_view_delete_requested(self, message_id: int) -> None:
        window = self.window
        conversation_id = window.current_conversation
        if conversation_id is None or window.controller.generating_conversation is not None:
            window.show_error("Stop the reply before deleting messages.")
            return

        def deleted(branch: DeletedBranch) -> None:
            window.open_conversation(conversation_id)
            count = len(branch.messages)
            window.offer_action(
                f"Deleted {count} message{'s' if count != 1 else ''}.",
                ("Undo", lambda: self.undo_delete(branch)),
            )

        window.database.run(lambda core: core.conversations.delete_branch(message_id), deleted)

    def undo_delete(self, deleted: DeletedBranch) -> None:
        window = self.window
        window.clear_action()

        def restored(_: None) -> None:
            if window.current_conversation == deleted.conversation_id:
                window.open_conversation(deleted.conversation_id)

        window.database.run(lambda core: core.conversations.undo_delete(deleted), restored)

    # -- the context mark ----------------------------------------------------------------

    def show_context(self, path: list[Message], summarized: int, dropped: int) -> None:
        """Mark, in the view, where the model's context starts for the latest reply."""
        kept = turns(path)
        first = summarized + dropped
        view = self.window.chat_view
        if first <= 0 or first >= len(kept):
            view.mark_cut(None, "")
            return
        if summarized and not dropped:
            note = (
                f"▲ The {summarized} messages above are sent to the model as a summary: "
                "the whole conversation no longer fits its context."
            )
        elif summarized:
            note = (
                f"▲ Of the {first} messages above, the model gets the first {summarized} as "
                f"a summary and not the other {dropped}: the context is full."
            )
        else:
            note = (
                f"▲ The {dropped} messages above are no longer in the model's context "
                "(it cannot see them)."
            )
        view.mark_cut(kept[first].id, note)
