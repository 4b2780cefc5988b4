"""One reply, end to end: plan the prompt, store the user's message, stream, persist.

Shared by the CLI and the GUI's inference worker, so both behave the same. Runs on the
thread that owns the engine, with that thread's own database connection.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from desktopchat.core.chat import (
    FinishReason,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    Role,
)
from desktopchat.core.errors import (
    DesktopChatError,
    EmptyPromptError,
    GenerationError,
    NoModelLoadedError,
    NotFoundError,
)
from desktopchat.core.inference.engine import (
    Done,
    Engine,
    LoadedModel,
    PromptProgress,
    SamplingConfig,
)
from desktopchat.core.inference.prompt import (
    ChatMessage,
    ChatTemplate,
    PromptPlan,
    history_from,
    plan_prompt,
    system_messages,
)
from desktopchat.core.storage.repositories import ConversationRepository

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0  # seconds between saves of a streaming reply
# Stands for the next user message when rendering what its prompt will start with.
_NEXT_MESSAGE = "DesktopChatNextMessage"


@dataclass(frozen=True)
class ReplyStarted:
    user_message: Message
    assistant_message: Message
    prompt_tokens: int
    dropped_messages: int
    context_size: int
    template: str
    resumed: bool = False  # continuing or regenerating an existing reply


@dataclass(frozen=True)
class ReplyResult:
    conversation_id: int
    user_message_id: int
    assistant_message_id: int
    text: str
    finish_reason: FinishReason
    status: MessageStatus
    stats: GenerationStats


class ResumeMode(StrEnum):
    CONTINUE = "continue"
    REGENERATE = "regenerate"


class ReplyListener(Protocol):
    def on_reply_started(self, started: ReplyStarted) -> None: ...

    def on_reply_piece(self, text: str) -> None: ...

    def on_prompt_progress(self, done: int, total: int) -> None: ...


class NullListener:
    def on_reply_started(self, started: ReplyStarted) -> None:
        pass

    def on_reply_piece(self, text: str) -> None:
        pass

    def on_prompt_progress(self, done: int, total: int) -> None:
        pass


class ChatService:
    def __init__(
        self,
        conversations: ConversationRepository,
        engine: Engine,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._conversations = conversations
        self._engine = engine
        self._flush_interval = flush_interval
        self._clock = clock
        self._template: tuple[LoadedModel, ChatTemplate] | None = None

    def template_for(self, model: LoadedModel) -> ChatTemplate:
        if self._template is None or self._template[0] is not model:
            template = ChatTemplate(
                model.chat_template, bos_text=model.bos_text, eos_text=model.eos_text
            )
            self._template = (model, template)
        return self._template[1]

    def plan(self, conversation_id: int, user_text: str, params: GenerationParams) -> PromptPlan:
        """The prompt a new user message would produce (raises if it cannot fit)."""
        path = self._conversations.active_path(conversation_id)
        return self._plan(path, user_text, params)

    def _plan(
        self, path: list[Message], user_text: str, params: GenerationParams, prefill: str = ""
    ) -> PromptPlan:
        """Plan for the history in ``path`` followed by ``user_text`` (when not empty)."""
        model = self._require_model()
        template = self.template_for(model)
        history = history_from(path)
        if user_text:
            history.append(ChatMessage(Role.USER, user_text))

        return plan_prompt(
            template,
            lambda text: self._tokenize(model, text),
            params.system_prompt,
            history,
            n_ctx=model.n_ctx,
            max_tokens=params.max_tokens,
            prefill=prefill,
        )

    def _tokenize(self, model: LoadedModel, text: str) -> list[int]:
        add_bos = model.add_bos and not (model.bos_text and text.startswith(model.bos_text))
        return self._engine.tokenize(text, add_bos=add_bos)

    def prepare_next_turn(self, conversation_id: int, params: GenerationParams) -> int:
        """While the user reads a reply: evaluate what the next message's prompt starts
        with (the history, then the template's opening of a user turn), so that its first
        token comes sooner. Returns the tokens evaluated (0 when there was nothing cheap
        to do). Costs about one tokenization of the history and a few decoded tokens."""
        model = self._engine.loaded
        if model is None:
            return 0
        history = history_from(self._conversations.active_path(conversation_id))
        history.append(ChatMessage(Role.USER, _NEXT_MESSAGE))
        text = self.template_for(model).render([*system_messages(params.system_prompt), *history])
        cut = text.rfind(_NEXT_MESSAGE)
        if cut <= 0:
            return 0
        # When older turns no longer fit, the context starts elsewhere and the engine
        # declines (it only ever extends the context by a little).
        return self._engine.prefill(self._tokenize(model, text[:cut]))

    def _require_model(self) -> LoadedModel:
        model = self._engine.loaded
        if model is None:
            raise NoModelLoadedError()
        return model

    def reply(
        self,
        conversation_id: int,
        user_text: str,
        params: GenerationParams,
        cancel: threading.Event,
        listener: ReplyListener | None = None,
    ) -> ReplyResult:
        listener = listener or NullListener()
        if not user_text.strip():
            raise EmptyPromptError("The message is empty. Type something to send.")
        params = params.validated()
        model = self._require_model()
        path = self._conversations.active_path(conversation_id)
        plan = self._plan(path, user_text, params)  # before anything is stored
        parent_id = path[-1].id if path else None
        user = self._conversations.add_message(
            conversation_id, Role.USER, user_text, parent_id=parent_id
        )
        assistant = self._new_reply(conversation_id, user, model)
        return self._start(user, assistant, plan, params, model, cancel, listener, resumed=False)

    def resume(
        self,
        conversation_id: int,
        message_id: int,
        mode: ResumeMode,
        params: GenerationParams,
        cancel: threading.Event,
        listener: ReplyListener | None = None,
    ) -> ReplyResult:
        """Continue an interrupted, stopped or failed reply where it ended, or write a new
        one beside it (the old one stays as a sibling in the message tree)."""
        listener = listener or NullListener()
        params = params.validated()
        model = self._require_model()
        path = self._conversations.path_to(message_id)
        reply = path[-1] if path else None
        if reply is None or reply.conversation_id != conversation_id:
            raise NotFoundError("That reply is no longer in this conversation.")
        user = path[-2] if len(path) > 1 else None
        if reply.role is not Role.ASSISTANT or user is None or user.role is not Role.USER:
            raise GenerationError("Only an answer to a message can be continued or regenerated.")
        history = path[:-1]
        if mode is ResumeMode.CONTINUE:
            plan = self._plan(history, "", params, prefill=reply.content)
            self._conversations.update_message(reply.id, reply.content, MessageStatus.PARTIAL)
            self._conversations.set_active_leaf(conversation_id, reply.id)
            assistant = reply
        else:
            plan = self._plan(history, "", params)
            assistant = self._new_reply(conversation_id, user, model)
        return self._start(user, assistant, plan, params, model, cancel, listener, resumed=True)

    def _new_reply(self, conversation_id: int, user: Message, model: LoadedModel) -> Message:
        """An empty, streaming reply to ``user`` (the conversation's new active leaf)."""
        return self._conversations.add_message(
            conversation_id,
            Role.ASSISTANT,
            "",
            parent_id=user.id,
            status=MessageStatus.PARTIAL,
            model=model.name,
        )

    def _start(
        self,
        user: Message,
        assistant: Message,
        plan: PromptPlan,
        params: GenerationParams,
        model: LoadedModel,
        cancel: threading.Event,
        listener: ReplyListener,
        *,
        resumed: bool,
    ) -> ReplyResult:
        template = self.template_for(model)
        listener.on_reply_started(
            ReplyStarted(
                user,
                assistant,
                plan.n_tokens,
                plan.dropped_messages,
                model.n_ctx,
                template.description,
                resumed=resumed,
            )
        )
        return self._stream(
            assistant.conversation_id,
            user,
            assistant,
            plan,
            params,
            model,
            template,
            cancel,
            listener,
        )

    def _stream(
        self,
        conversation_id: int,
        user: Message,
        assistant: Message,
        plan: PromptPlan,
        params: GenerationParams,
        model: LoadedModel,
        template: ChatTemplate,
        cancel: threading.Event,
        listener: ReplyListener,
    ) -> ReplyResult:
        seed = params.seed if params.seed >= 0 else random.randrange(2**31 - 1)
        sampling = SamplingConfig.from_params(params, seed, template.stop)
        parts: list[str] = [assistant.content]  # a continued reply starts from its old text
        started = time.perf_counter()
        first: float | None = None
        last_flush = self._clock()
        done = Done(FinishReason.ERROR, 0)

        def stats() -> GenerationStats:
            elapsed = time.perf_counter() - started
            decode = elapsed - (first or 0.0)
            return GenerationStats(
                prompt_tokens=plan.n_tokens,
                prompt_evaluated=done.prompt_evaluated,
                completion_tokens=done.completion_tokens,
                time_to_first_token=first,
                tokens_per_second=(
                    (done.completion_tokens - 1) / decode
                    if first is not None and done.completion_tokens > 1 and decode > 0
                    else None
                ),
                context_size=model.n_ctx,
                dropped_messages=plan.dropped_messages,
                template=template.description,
                seed=sampling.seed,
            )

        try:
            for event in self._engine.generate(plan.tokens, sampling, cancel):
                if isinstance(event, Done):
                    done = event
                    break
                if isinstance(event, PromptProgress):
                    listener.on_prompt_progress(event.done, event.total)
                    continue
                if first is None:
                    first = time.perf_counter() - started
                parts.append(event.text)
                listener.on_reply_piece(event.text)
                now = self._clock()
                if now - last_flush >= self._flush_interval:
                    self._conversations.update_message(
                        assistant.id, "".join(parts), MessageStatus.PARTIAL
                    )
                    last_flush = now
        except DesktopChatError as exc:
            self._save_failed(assistant.id, parts, stats())
            raise GenerationError(f"The reply failed: {exc}") from None
        except Exception:
            self._save_failed(assistant.id, parts, stats())
            raise
        text = "".join(parts)
        status = (
            MessageStatus.STOPPED
            if done.reason is FinishReason.CANCELLED
            else MessageStatus.COMPLETE
        )
        final = stats()
        self._conversations.update_message(
            assistant.id, text, status, finish_reason=done.reason.value, stats=final
        )
        return ReplyResult(conversation_id, user.id, assistant.id, text, done.reason, status, final)

    def _save_failed(self, message_id: int, parts: list[str], stats: GenerationStats) -> None:
        try:
            self._conversations.update_message(
                message_id,
                "".join(parts),
                MessageStatus.ERROR,
                finish_reason=FinishReason.ERROR.value,
                stats=stats,
            )
        except DesktopChatError:
            log.exception("could not save the failed reply %d", message_id)
