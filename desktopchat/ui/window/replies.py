"""Sending and the reply's events: a message sent (a new chat created first), a reply
continued or regenerated, Stop, and what the controller reports while the reply streams
and when it ends (the view, the notice, the status bar, the context meter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from desktopchat.core.chat import Conversation, GenerationParams, Message, MessageStatus, Overflow
from desktopchat.core.inference.service import ReplyResult, ReplyStarted, ResumeMode
from desktopchat.core.models.library import InstalledModel
from desktopchat.core.tools.toolbox import Approval
from desktopchat.ui.controllers import ModelState
from desktopchat.ui.tool_approval import ApprovalDialog
from desktopchat.ui.workers import PendingApproval, ReplyFailure

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow


class Replies(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._sending_edit = False
        self._creating = False  # a new chat's row is being written: a second Enter waits
        window.composing.send_requested.connect(self.send)
        window.composing.stop_requested.connect(self.stop)
        c = window.controller
        c.reply_started.connect(self.on_controller_reply_started)
        c.reply_text_changed.connect(self.on_controller_reply_text_changed)
        c.reply_thinking_changed.connect(self.on_controller_reply_thinking_changed)
        c.approval_needed.connect(self.on_controller_approval_needed)
        self.approval: ApprovalDialog | None = None  # the open one (tests answer it)
        c.prompt_progress.connect(self.on_controller_prompt_progress)
        c.reply_finished.connect(self.on_controller_reply_finished)
        c.reply_failed.connect(self.on_controller_reply_failed)
        c.busy_changed.connect(self.on_controller_busy_changed)
        c.status.connect(lambda text: window.show_status(text, 15_000))

    # -- sending -------------------------------------------------------------------------

    @Slot()
    def send(self) -> None:
        window = self.window
        if not window.send_button.isEnabled() or self._creating:
            return
        text = window.composing.message_text()
        if not text.strip():
            window.show_error("The message is empty. Type something to send.")
            return
        ready = self._reply_settings()
        if ready is None:
            return
        model, params = ready
        window.composer.setReadOnly(True)  # until the reply starts (or fails)
        conversation_id = window.current_conversation
        if conversation_id is not None:
            path = str(model.path)
            window.database.run(
                lambda core: core.conversations.set_model(conversation_id, path), lambda _: None
            )
            self._send(conversation_id, text, model, params)
            return
        self._creating = True

        def created(conversation: Conversation) -> None:
            self._creating = False
            window.current_conversation = conversation.id
            window.chat_view.conversation_id = conversation.id
            window.refresh_conversations()
            self._send(conversation.id, text, model, params)

        def failed(message: str) -> None:
            self._creating = False
            window.composer.setReadOnly(False)
            window.show_error(message)

        window.database.run(
            lambda core: core.conversations.create(params=params, model_path=str(model.path)),
            created,
            failed,
        )

    def _send(
        self, conversation_id: int, text: str, model: InstalledModel, params: GenerationParams
    ) -> None:
        window = self.window
        self._reload_if_needed(model, params)
        window.show_notice("")
        window.clear_action()
        editing = window.composing.editing
        self._sending_edit = editing is not None
        window.controller.send(conversation_id, text, params, edit_of=editing)
        window.composing.editing = None
        window.edit_bar.setVisible(False)
        window.update_enabled()

    def _reply_settings(self) -> tuple[InstalledModel, GenerationParams] | None:
        """The model and the chat's checked settings for a reply, or None (and why)."""
        window = self.window
        model = window.model_controls.loaded()
        if model is None or window.controller.loaded is None:
            window.show_error("Load a model first.")
            return None
        window.settings_panel.flush()
        try:
            return model, window.settings_panel.params().validated()
        except ValueError as exc:
            window.show_error(f"Check the chat settings: {exc}.")
            return None

    def _reload_if_needed(self, model: InstalledModel, params: GenerationParams) -> None:
        if self.window.controller.needs_reload(str(model.path), params):
            self.window.controller.load_model(str(model.path), params)

    def resume(self, message_id: int, mode: ResumeMode) -> None:
        window = self.window
        conversation_id = window.current_conversation
        if conversation_id is None or window.controller.busy:
            return
        ready = self._reply_settings()
        if ready is None:
            return
        model, params = ready
        self._reload_if_needed(model, params)
        window.show_notice("")
        window.controller.resume(conversation_id, message_id, mode, params)
        window.update_enabled()

    @Slot()
    def stop(self) -> None:
        window = self.window
        if window.controller.generating_conversation is not None:
            window.controller.stop()
        elif window.composing.editing is not None:
            window.composing.cancel_edit()
            window.composer.clear()

    # -- the reply's events --------------------------------------------------------------

    @Slot(object)
    def on_controller_reply_started(self, started: ReplyStarted) -> None:
        window = self.window
        window.composer.setReadOnly(False)
        view = window.chat_view
        conversation_id = started.user_message.conversation_id
        shown = view.conversation_id == conversation_id
        if self._sending_edit:  # a new version of a message: the branch shown changes
            self._sending_edit = False
            window.composer.clear()
            if shown:
                window.open_conversation(conversation_id)
        elif started.resumed:  # the composer keeps any draft: it was not what was sent
            if shown:  # the reply, or its new sibling, now ends the displayed branch
                window.open_conversation(conversation_id)
        else:
            window.composing.sent()
            if shown:
                view.append_message(started.user_message)
                view.append_message(started.assistant_message, live=True)
                view.stick_to_bottom = True
                view.scroll_to_bottom()
        window.show_notice(" ".join(started_notes(started)))
        if shown:

            def mark(path: list[Message]) -> None:
                window.messages.show_context(
                    path, started.summarized_messages, started.dropped_messages
                )

            leaf = started.assistant_message.id
            window.database.run(lambda core: core.conversations.path_to(leaf), mark)
        window.context_meter.set_usage(
            started.system_tokens, started.prompt_tokens, 0, started.context_size
        )
        window.context_label.setText(
            f"Context {started.prompt_tokens:,} / {started.context_size:,}"
        )
        window.refresh_conversations()

    @Slot(int, int)
    def on_controller_prompt_progress(self, done: int, total: int) -> None:
        bar = self.window.load_bar
        bar.setVisible(done < total)
        bar.setValue(int(100 * done / max(total, 1)))
        bar.setFormat("Prompt %p%")
        bar.setToolTip(f"Reading the prompt: {done:,} of {total:,} tokens")

    @Slot(int, int, str)
    def on_controller_reply_text_changed(
        self, conversation_id: int, message_id: int, text: str
    ) -> None:
        view = self.window.chat_view
        view.hold_building(False)  # the prompt is read
        if view.conversation_id == conversation_id:
            view.update_message(message_id, text, MessageStatus.PARTIAL, live=True)

    @Slot(int, int, str, bool)
    def on_controller_reply_thinking_changed(
        self, conversation_id: int, message_id: int, text: str, live: bool
    ) -> None:
        view = self.window.chat_view
        view.hold_building(False)
        if view.conversation_id == conversation_id:
            view.update_reasoning(message_id, text, live=live)

    @Slot(object)
    def on_controller_approval_needed(self, pending: PendingApproval) -> None:
        """The dialog, window-modal; its answer goes to the inference thread waiting."""

        def answer(approval: Approval) -> None:
            pending.answer_with(approval)
            self.approval = None

        dialog = ApprovalDialog(pending.request, answer, self.window)
        dialog.setModal(True)
        self.approval = dialog
        dialog.open()

    def _close_approval(self) -> None:
        """A reply that ended (Stop, a failure) asks nothing any more."""
        if self.approval is not None:
            self.approval.reject()  # answers Deny to a wait that is already over
            self.approval = None

    @Slot(object)
    def on_controller_reply_finished(self, result: ReplyResult) -> None:
        self._close_approval()
        window = self.window
        if window.chat_view.conversation_id == result.conversation_id:
            window.chat_view.update_message(
                result.assistant_message_id,
                result.text,
                result.status,
                finish_reason=result.finish_reason.value,
            )
            window.chat_view.update_reasoning(  # collapsed, with how long it took
                result.assistant_message_id,
                result.reasoning,
                live=False,
                seconds=result.stats.reasoning_seconds,
            )
            window.conversations.displayed_leaf = result.assistant_message_id
        stats = result.stats
        window.context_meter.show_stats(stats)
        if result.status is MessageStatus.ERROR:  # JSON mode: cut before the JSON was whole
            window.show_error(
                "The reply stopped at the max-new-tokens limit before its JSON was complete. "
                "Raise max new tokens in the chat settings and regenerate it."
            )
        elif result.finish_reason.value == "length":  # added to what the start said
            earlier = window.notice.text() if window.notice.isVisible() else ""
            note = "The reply reached the max-new-tokens limit: Continue goes on."
            window.show_notice(f"{earlier} {note}".strip())
        window.announce(f"Reply {result.status.value}: {result.text[:300]}")
        ttft = stats.time_to_first_token
        window.ttft_label.setText(f"First token {ttft * 1000:.0f} ms" if ttft is not None else "")
        speed = stats.tokens_per_second
        shown = f"{speed:.1f} tokens/s" if speed is not None else ""
        if stats.reasoning_tokens:  # counted apart: how much of the reply was thinking
            shown += f" · {stats.reasoning_tokens:,} thinking"
        if result.tool_runs:
            shown += (
                f" · {len(result.tool_runs)} tool call{'s' if len(result.tool_runs) > 1 else ''}"
            )
        window.speed_label.setText(shown.strip(" ·"))
        window.context_label.setText(f"Context {stats.context_used:,} / {stats.context_size:,}")
        window.refresh_conversations()
        window.update_enabled()
        if result.status is MessageStatus.COMPLETE and window.composer.isEnabled():
            window.composer.setFocus()

    @Slot(object)
    def on_controller_reply_failed(self, failure: ReplyFailure) -> None:
        self._close_approval()
        window = self.window
        window.composer.setReadOnly(False)
        self._sending_edit = False
        window.show_error(failure.message)
        if failure.kind == "HistoryFullError":
            window.offer_action(
                "This chat's policy is to stop and ask when the history is too long.",
                (
                    "Leave out the oldest turns",
                    lambda: window.chat_settings.resend_with(Overflow.DROP),
                ),
                ("Summarize them", lambda: window.chat_settings.resend_with(Overflow.SUMMARIZE)),
            )
        if failure.started and window.current_conversation == failure.conversation_id:
            window.open_conversation(failure.conversation_id)
            # Opening clears the notice once the messages arrive: say it again after.
            window.database.run(lambda _core: None, lambda _: window.show_error(failure.message))
        window.update_enabled()

    @Slot(bool)
    def on_controller_busy_changed(self, _busy: bool) -> None:
        # From a reply's start (sent or resumed) until its first text or its end, older
        # messages wait: llama.cpp is reading the prompt and needs the CPU.
        window = self.window
        window.chat_view.hold_building(window.controller.generating_conversation is not None)
        window.load_bar.setVisible(window.controller.state is ModelState.LOADING)
        window.update_enabled()


def started_notes(started: ReplyStarted) -> list[str]:
    """What the notice line says as a reply starts: history left out or summarized, a
    fallback prompt format, a system prompt folded into the first turn, and what the
    attached documents said (files still being indexed, a collection that is gone)."""
    notes = []
    if started.dropped_messages:
        notes.append(
            f"The {started.dropped_messages} oldest messages no longer fit the "
            f"{started.context_size:,}-token context and were left out of the prompt."
        )
    if started.summarized_messages:
        notes.append(
            f"The {started.summarized_messages} oldest messages are sent as a summary "
            "the model wrote (they no longer fit the context)."
        )
    if "fallback" in started.template:
        notes.append(f"Prompt format: {started.template}.")
    if started.system_folded:
        notes.append(
            "This model's chat template has no system role, so the system prompt was "
            "put at the start of the first message (as llama.cpp and Ollama do)."
        )
    notes.extend(started.notices)
    return notes
