"""One reply, end to end: plan the prompt, store the user's message, stream, persist.

Shared by the CLI and the GUI's inference worker, so both behave the same. Runs on the
thread that owns the engine, with that thread's own database connection.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from desktopchat.core.chat import (
    DocumentsMode,
    DocumentsUse,
    FinishReason,
    GenerationParams,
    GenerationStats,
    Message,
    MessageStatus,
    Overflow,
    PromptRecord,
    Role,
    ToolCall,
)
from desktopchat.core.documents.api import DocumentLibrary
from desktopchat.core.documents.types import DocumentError
from desktopchat.core.errors import (
    ContextOverflowError,
    DesktopChatError,
    EmptyPromptError,
    GenerationError,
    HistoryFullError,
    NoModelLoadedError,
    NotFoundError,
)
from desktopchat.core.inference.documents_prompt import (
    HEADER_TOKENS,
    documents_budget,
    documents_message,
    passages_budget,
    passages_cap,
    sources_from,
)
from desktopchat.core.inference.engine import (
    Done,
    Engine,
    LoadedModel,
    Piece,
    PromptProgress,
    SamplingConfig,
)
from desktopchat.core.inference.output import (
    Event,
    OutputFormat,
    OutputParser,
    ReasoningFormat,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    ToolFormat,
    UnparsedCall,
    detect_format,
    forced_call_schema,
    opens_thinking,
)
from desktopchat.core.inference.prompt import (
    ChatMessage,
    ChatTemplate,
    PromptPlan,
    TemplateOptions,
    example_messages,
    history_from,
    plan_prompt,
    reply_reserve,
    system_messages,
    template_description,
    turns,
)
from desktopchat.core.storage.repositories import ConversationRepository
from desktopchat.core.tools.toolbox import (
    DENIED_TEXT,
    STOPPED_TEXT,
    Approval,
    ApprovalRequest,
    Decision,
    Toolbox,
    entry_of,
)
from desktopchat.core.tools.types import (
    MAX_TOOL_OUTPUT_CHARS,
    ToolOutcome,
    ToolPermission,
    ToolSpec,
    server_label,
    untrusted_text,
)

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0  # seconds between saves of a streaming reply
# Stands for the next user message when rendering what its prompt will start with.
_NEXT_MESSAGE = "DesktopChatNextMessage"
SUMMARY_HEADER = "Summary of the earlier conversation:"
SUMMARY_TOKENS = 200  # the longest summary of old turns the model may write
SUMMARY_INSTRUCTION = (
    "Summarize the conversation below in a few sentences for your own memory: keep names, "
    "facts, decisions and open questions. Reply with the summary only."
)
TITLE_INSTRUCTION = (
    "Write a short title (at most six words) for the conversation below. "
    "Reply with the title only, no quotes."
)
TITLE_TOKENS = 16
TITLE_SOURCE_CHARS = 1200  # of each message, for the title prompt
# What ends a thinking model's reasoning when its thinking budget is spent (written into
# its output, as Qwen's own budget does): the model then answers.
_TIME_TO_ANSWER = "\n\nI have thought enough; I must answer now."
THINKING_CLOSERS = {
    ReasoningFormat.THINK_TAGS: f"{_TIME_TO_ANSWER}\n</think>\n\n",
    ReasoningFormat.THINK_BRACKETS: f"{_TIME_TO_ANSWER}[/THINK]",
    ReasoningFormat.HARMONY: "<|end|><|start|>assistant<|channel|>final<|message|>",
    ReasoningFormat.GRANITE: f"{_TIME_TO_ANSWER}\nHere is my response:\n",
}
UNPARSED_NOTE = "_A tool call in this reply could not be read ({note}); it was not run._"
TOOL_STEPS_NOTE = (
    "The model called tools {steps} times, the most this chat allows (Chat settings → "
    "Tool steps): it was asked to answer with what it has."
)


def _quiet_sampling(max_tokens: int, stop: tuple[str, ...]) -> SamplingConfig:
    """Greedy settings for the app's own requests (summaries, titles)."""
    return SamplingConfig(0.0, 40, 0.95, 0.05, 1.1, max_tokens, 0, stop)


def pretty_json(text: str) -> str | None:
    """``text`` pretty-printed when it is JSON, else None."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return json.dumps(value, indent=2, ensure_ascii=False)


@dataclass(frozen=True)
class PlannedPrompt:
    """A prompt after the chat's overflow policy: how much of the path it leaves out."""

    plan: PromptPlan
    dropped: int  # the oldest messages of the path, after any summarized ones, left out
    summarized: int  # the oldest messages of the path, replaced by ``summary``
    summary: str = ""
    documents: DocumentsUse | None = None  # what the attached documents gave (whole texts)


@dataclass(frozen=True)
class ReplyStarted:
    user_message: Message
    assistant_message: Message
    prompt_tokens: int
    dropped_messages: int
    context_size: int
    template: str
    resumed: bool = False  # continuing or regenerating an existing reply
    summarized_messages: int = 0
    system_tokens: int = 0  # of prompt_tokens: the system prompt, examples and summary
    system_folded: bool = False  # the template refused a system role: sent as the user's
    documents_tokens: int = 0  # of prompt_tokens: the attached documents' passages
    # What the attached documents gave this reply (sources with their whole text and
    # scores); None: the chat has no documents attached.
    documents: DocumentsUse | None = None
    # Said to the user before the reply (e.g. the documents are still being indexed).
    notices: tuple[str, ...] = ()
    # A reply that called tools goes on in a new message after their results: its step
    # (0: the first message of the reply), and the tools offered, by name.
    step: int = 0
    tools: tuple[str, ...] = ()
    output_format: str = ""  # how reasoning and tool calls are read, in words


@dataclass(frozen=True)
class ToolRun:
    """One tool call of a reply, what the user decided, and what it gave."""

    call: ToolCall  # with the arguments that ran (the user may have edited them)
    tool: str  # the tool's label
    server: str  # "built-in" or the MCP server's name
    decision: str  # Decision's value, or "allowed" (the tool is always allowed)
    result: str
    is_error: bool
    message_id: int  # the Role.TOOL message
    seconds: float = 0.0


@dataclass(frozen=True)
class ReplyResult:
    conversation_id: int
    user_message_id: int
    assistant_message_id: int
    text: str
    finish_reason: FinishReason
    status: MessageStatus
    stats: GenerationStats
    reasoning: str = ""
    tool_runs: tuple[ToolRun, ...] = ()  # every tool call of the reply, in order


class ResumeMode(StrEnum):
    CONTINUE = "continue"
    REGENERATE = "regenerate"


class ReplyListener(Protocol):
    def on_reply_started(self, started: ReplyStarted) -> None: ...

    def on_reply_piece(self, text: str) -> None: ...

    def on_prompt_progress(self, done: int, total: int) -> None: ...

    # Optional: ``on_status(text)``, what happens before the reply starts (summarizing);
    # ``on_reply_thinking(text)``, a thinking model's reasoning as it streams;
    # ``approve_tool(request: ApprovalRequest) -> Approval``, asked before a tool runs
    # (blocking this thread; without it such calls are denied); ``on_tool_running(request)``
    # and ``on_tool_result(run: ToolRun)``.


class NullListener:
    def on_reply_started(self, started: ReplyStarted) -> None:
        pass

    def on_reply_piece(self, text: str) -> None:
        pass

    def on_prompt_progress(self, done: int, total: int) -> None:
        pass

    def on_status(self, text: str) -> None:
        pass


class ChatService:
    def __init__(
        self,
        conversations: ConversationRepository,
        engine: Engine,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        documents: DocumentLibrary | None = None,
        toolbox: Toolbox | None = None,
    ) -> None:
        """``documents``: the library that answers chats with collections or files attached
        (``GenerationParams.documents``, ``document_files``); None: they are not searched.
        ``toolbox``: the tools chats may offer (``GenerationParams.tools``); None: none."""
        self._conversations = conversations
        self._engine = engine
        self._documents = documents
        self._toolbox = toolbox
        self._offered_tools: dict[tuple[str, ...], tuple[list[ToolSpec], list[str]]] = {}
        self._formats: dict[int, OutputFormat] = {}
        self._closes_thinking: dict[tuple[int, bool | None], bool] = {}
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

    def output_format(self, model: LoadedModel) -> OutputFormat:
        """How the model writes reasoning and tool calls, from its template and name."""
        key = id(model)
        fmt = self._formats.get(key)
        if fmt is None:
            fmt = detect_format(model.chat_template or "", model.name, model.architecture)
            self._formats = {key: fmt}
        return fmt

    def offered_tools(self, params: GenerationParams) -> tuple[list[ToolSpec], list[str]]:
        """The tools the chat offers the model (none with tool choice "none", in JSON mode
        or without a toolbox), and notes about those it cannot."""
        if not params.tools or params.tool_choice == "none" or params.json_mode:
            return [], []
        if self._toolbox is None:
            return [], ["Tools are not available here: the reply is without them."]
        found = self._offered_tools.get(params.tools)
        if found is None:
            found = self._toolbox.offered(params.tools)
            self._offered_tools[params.tools] = found
        return found

    def _options(self, params: GenerationParams, with_tools: bool) -> TemplateOptions:
        specs = self.offered_tools(params)[0] if with_tools else []
        thinking = params.thinking
        effort = thinking if thinking in ("low", "medium", "high") else ""
        if thinking == "off" and self._engine.loaded is not None:
            # gpt-oss always reasons: "off" is as little as it can, its low effort.
            source = self.template_for(self._engine.loaded).source
            if "reasoning_effort" in source:
                effort = "low"
        return TemplateOptions(
            tools=tuple(s.to_openai() for s in specs),
            enable_thinking=None if not thinking else thinking != "off",
            reasoning_effort=effort,
        )

    def _thinking_prefill(self, params: GenerationParams, options: TemplateOptions) -> str:
        """With thinking off for a <think> model whose template has no switch for it (the
        DeepSeek-R1 distills): an empty thinking block, so that the model answers at once."""
        if params.thinking != "off":
            return ""
        model = self._require_model()
        template = self.template_for(model)
        if self.output_format(model).reasoning is not ReasoningFormat.THINK_TAGS:
            return ""
        if "enable_thinking" in template.source:
            return ""  # the template closes it itself
        key = (id(template), options.enable_thinking)
        opened = self._closes_thinking.get(key)
        if opened is None:
            try:
                probe = template.render([ChatMessage(Role.USER, "Hi")], options=options)
            except DesktopChatError:
                probe = ""
            opened = opens_thinking(probe, self.output_format(model))
            self._closes_thinking[key] = opened
        return "\n</think>\n\n" if opened else "<think>\n\n</think>\n\n"

    def plan(self, conversation_id: int, user_text: str, params: GenerationParams) -> PromptPlan:
        """The prompt a new user message would produce (raises if it cannot fit)."""
        path = self._conversations.active_path(conversation_id)
        return self._prepare(path, user_text, params, threading.Event(), NullListener()).plan

    def _render(
        self,
        history: list[ChatMessage],
        params: GenerationParams,
        summary: str = "",
        prefill: str = "",
        with_tools: bool = True,
    ) -> PromptPlan:
        """Plan for ``history`` after the system prompt (with ``summary``) and examples,
        with the chat's tools (unless not ``with_tools``) and thinking setting."""
        model = self._require_model()
        system = params.system_prompt
        if summary:
            system = f"{system}\n\n{SUMMARY_HEADER}\n{summary}".strip()
        options = self._options(params, with_tools)
        return plan_prompt(
            self.template_for(model),
            lambda text: self._tokenize(model, text),
            system,
            history,
            n_ctx=model.n_ctx,
            max_tokens=params.max_tokens,
            prefill=self._thinking_prefill(params, options) + prefill,
            examples=example_messages(params.examples),
            options=options,
        )

    def _prepare(
        self,
        path: list[Message],
        user_text: str,
        params: GenerationParams,
        cancel: threading.Event,
        listener: ReplyListener,
        prefill: str = "",
        with_tools: bool = True,
    ) -> PlannedPrompt:
        """The prompt for the history in ``path`` followed by ``user_text`` (when not
        empty), after the chat's overflow policy: stop and say so, drop the oldest turns,
        or summarize them with the model (summaries are stored and reused). With document
        collections attached, the last user message goes in with the passages retrieved
        for it (``_with_documents``)."""
        kept = turns(path)
        history = history_from(kept)
        if user_text:
            history.append(ChatMessage(Role.USER, user_text))
        policy = Overflow(params.overflow)
        start, summary = 0, ""
        if policy is Overflow.SUMMARIZE and path:
            stored = self._conversations.summary_on(path[0].conversation_id, path)
            if stored is not None:
                start = 1 + next(i for i, m in enumerate(kept) if m.id == stored.last_message_id)
                summary = stored.content
        plan = self._render(history[start:], params, summary, prefill, with_tools)
        documents: DocumentsUse | None = None
        attached = params.documents or params.document_files
        if attached and history and history[-1].role is Role.USER:
            history, plan, documents = self._with_documents(
                history, start, plan, params, summary, prefill
            )
        if not plan.dropped_messages:
            return PlannedPrompt(plan, 0, start, summary, documents)
        if policy is Overflow.STOP:
            n_ctx = self._require_model().n_ctx
            raise HistoryFullError(
                f"This conversation no longer fits the {n_ctx:,}-token context: the "
                f"{plan.dropped_messages} oldest messages would have to be left out. Choose "
                "what to do: leave them out, summarize them, raise the context length, or "
                "start a new chat. Nothing was sent."
            )
        if policy is Overflow.DROP:
            return PlannedPrompt(plan, plan.dropped_messages, 0, "", documents)
        cut = start + plan.dropped_messages
        status = getattr(listener, "on_status", None)
        if status is not None:
            status(f"Summarizing the {cut} oldest messages to fit the context…")
        summary = self._summarize(summary, history[start:cut], cancel)
        self._conversations.save_summary(kept[0].conversation_id, kept[cut - 1].id, cut, summary)
        plan = self._render(history[cut:], params, summary, prefill, with_tools)
        if documents is not None:
            plan = replace(plan, documents_tokens=documents.used_tokens)
        return PlannedPrompt(plan, plan.dropped_messages, cut, summary, documents)

    def _with_documents(
        self,
        history: list[ChatMessage],
        start: int,
        plan: PromptPlan,
        params: GenerationParams,
        summary: str,
        prefill: str,
    ) -> tuple[list[ChatMessage], PromptPlan, DocumentsUse]:
        """The history with its last user message replaced by the passages the attached
        collections and files give for it (numbered, to be cited as [n]), the plan for it,
        and what was retrieved. The documents' budget is ``documents_budget``'s share of the
        context (passages: ``passages_cap`` of it); retrieval that fails leaves the message
        as it was, with a notice."""
        model = self._require_model()
        question = history[-1].content
        fixed = self._render(history[-1:], params, summary, prefill)
        budget = documents_budget(
            n_ctx=model.n_ctx,
            reserve=reply_reserve(params.max_tokens, model.n_ctx),
            fixed_tokens=fixed.n_tokens,
            prompt_tokens=plan.n_tokens,
            overflow=params.overflow,
        )
        documents, searched = self._retrieve(
            retrieval_query(question, history[:-1]),
            params.documents,
            params.document_files,
            budget,
            passages_cap(budget, model.n_ctx),
        )
        if not searched:  # nothing attached could be searched: the plain question
            return history, plan, documents
        sources = list(documents.sources)
        while True:
            content = documents_message(question, sources, documents.mode)
            changed = [*history[:-1], ChatMessage(Role.USER, content)]
            try:
                with_documents = self._render(changed[start:], params, summary, prefill)
            except ContextOverflowError:
                if not sources:
                    raise
                sources.pop()  # the headers took more than was kept for them
                continue
            break
        # The documents' share of the prompt: their block less the question it wraps (the
        # difference of the two plans when both kept the same history: no tokenizing again).
        if with_documents.dropped_messages == plan.dropped_messages:
            used = max(0, with_documents.n_tokens - plan.n_tokens)
        else:
            used = max(0, self._count(content) - self._count(question))
        documents = replace(documents, sources=tuple(sources), used_tokens=used)
        return changed, replace(with_documents, documents_tokens=used), documents

    def _retrieve(
        self,
        question: str,
        collection_ids: tuple[int, ...],
        file_ids: tuple[int, ...],
        budget: int,
        cap: int,
    ) -> tuple[DocumentsUse, bool]:
        """What the attached collections and files give ``question`` within ``budget``
        tokens of the chat model (passages within ``cap``), timed (the query's embedding
        and the search), and whether they could be searched at all."""
        library = self._documents
        if library is None:
            note = (
                "Documents are attached to this chat, but they cannot be searched here: "
                "the answer is without them."
            )
            return DocumentsUse(
                DocumentsMode.NONE.value, collection_ids, budget, notes=(note,), file_ids=file_ids
            ), False
        model = self._require_model()
        counted: dict[str, int] = {}

        def count_tokens(text: str) -> int:
            tokens = counted.get(text)
            if tokens is None:
                tokens = self._count(text) + HEADER_TOKENS
                counted[text] = tokens
            return tokens

        began = time.perf_counter()
        notes: list[str] = []
        ids, files = collection_ids, file_ids
        try:
            if collection_ids:
                known = {c.id for c in library.collections()}
                ids = tuple(i for i in collection_ids if i in known)
                if len(ids) < len(collection_ids):
                    gone = len(collection_ids) - len(ids)
                    notes.append(
                        "One attached document collection no longer exists."
                        if gone == 1
                        else f"{gone} attached document collections no longer exist."
                    )
            if file_ids:
                there = {f.id for f in library.files_by_id(file_ids)}
                files = tuple(i for i in file_ids if i in there)
                if len(files) < len(file_ids):
                    gone = len(file_ids) - len(files)
                    notes.append(
                        "One attached file is no longer in your documents."
                        if gone == 1
                        else f"{gone} attached files are no longer in your documents."
                    )
            if not ids and not files:
                return DocumentsUse(DocumentsMode.NONE.value, (), budget, notes=tuple(notes)), False
            retrieved = library.retrieve(
                question,
                ids,
                passages_budget(budget),
                count_tokens,
                file_ids=files,
                passages_budget=passages_budget(cap),
            )
        except (DesktopChatError, DocumentError, OSError, ValueError) as exc:
            log.warning("retrieval failed: %s", exc)
            reason = exc.reason if isinstance(exc, DocumentError) else str(exc)
            note = (
                f"The attached documents could not be searched ({reason}); the answer is "
                "without them."
            )
            return DocumentsUse(
                DocumentsMode.NONE.value, ids, budget, notes=(note,), file_ids=files
            ), False
        seconds = time.perf_counter() - began
        log.info(
            "retrieved %d passages (%s) for %s in %.1f ms",
            len(retrieved.passages),
            "whole" if retrieved.whole else "best",
            model.name,
            seconds * 1000,
        )
        told = list(retrieved.notes)
        if retrieved.still_indexing:
            # The library says how many ("2 of 3 attached files are still being indexed").
            counted_note = next((n for n in told if "still being indexed" in n), None)
            if counted_note is not None:
                told.remove(counted_note)
            first = counted_note or "The attached documents are still being indexed"
            notes.append(f"{first.rstrip('.')}: this answer uses what is indexed so far.")
        notes += [n for n in told if n not in notes]
        if not retrieved.passages:
            mode = DocumentsMode.NONE
        elif retrieved.whole:
            mode = DocumentsMode.WHOLE
        else:
            mode = DocumentsMode.PASSAGES
        use = DocumentsUse(
            mode.value,
            ids,
            budget if retrieved.whole else cap,
            retrieved.used_tokens,
            sources_from(retrieved, {t: n - HEADER_TOKENS for t, n in counted.items()}),
            still_indexing=retrieved.still_indexing,
            notes=tuple(notes),
            retrieval_seconds=seconds,
            file_ids=files,
        )
        return use, True

    def _summarize(
        self, previous: str, messages: list[ChatMessage], cancel: threading.Event
    ) -> str:
        """The model's summary of ``messages`` (and of the summary before them)."""
        model = self._require_model()
        template = self.template_for(model)
        lines = [f"{'User' if m.role is Role.USER else 'Assistant'}: {m.content}" for m in messages]
        budget = model.n_ctx - SUMMARY_TOKENS - 16

        def prompt() -> list[int]:
            body = "\n\n".join(lines)
            if previous:
                body = f"{SUMMARY_HEADER}\n{previous}\n\n{body}"
            text = template.render([ChatMessage(Role.USER, f"{SUMMARY_INSTRUCTION}\n\n{body}")])
            return self._tokenize(model, text)

        tokens = prompt()
        while len(tokens) > budget:  # too long to summarize at once: shorten the longest
            longest = max(range(len(lines)), key=lambda i: len(lines[i]))
            if len(lines[longest]) < 80:
                break
            lines[longest] = lines[longest][: len(lines[longest]) // 2] + " …"
            tokens = prompt()
        text = self._generate_text(tokens, SUMMARY_TOKENS, cancel)
        if cancel.is_set():
            raise GenerationError("Stopped while summarizing the oldest messages.")
        return text or "\n".join(line[:200] for line in lines)

    def _generate_text(self, tokens: list[int], max_tokens: int, cancel: threading.Event) -> str:
        model = self._require_model()
        sampling = _quiet_sampling(max_tokens, self.template_for(model).stop)
        events = self._engine.generate(tokens, sampling, cancel)
        return "".join(e.text for e in events if isinstance(e, Piece)).strip()

    def suggest_title(self, conversation_id: int, cancel: threading.Event) -> str | None:
        """After a conversation's first exchange: a short title written by the model,
        unless the user named the conversation. Stops as soon as ``cancel`` is set (a
        new reply was asked for: titles never delay replies). Returns the new title."""
        model = self._engine.loaded
        if model is None or self._conversations.get(conversation_id).title_source != "message":
            return None
        path = self._conversations.active_path(conversation_id)
        kept = turns(path)
        if len(kept) != 2 or kept[1].status is not MessageStatus.COMPLETE:
            return None
        user, answer = (m.content[:TITLE_SOURCE_CHARS] for m in kept)
        request = f"{TITLE_INSTRUCTION}\n\nUser: {user}\nAssistant: {answer}"
        text = self.template_for(model).render([ChatMessage(Role.USER, request)])
        title = self._generate_text(self._tokenize(model, text), TITLE_TOKENS, cancel)
        if cancel.is_set():
            return None
        title = clean_title_text(title)
        if title and self._conversations.set_auto_title(conversation_id, title):
            return self._conversations.get(conversation_id).title
        return None

    def _count(self, text: str) -> int:
        """Tokens of ``text`` in the chat model's tokenizer (no BOS: a part of a prompt)."""
        return len(self._engine.tokenize(text, add_bos=False))

    def _tokenize(self, model: LoadedModel, text: str) -> list[int]:
        add_bos = model.add_bos and not (model.bos_text and text.startswith(model.bos_text))
        return self._engine.tokenize(text, add_bos=add_bos)

    def prepare_next_turn(
        self,
        conversation_id: int,
        params: GenerationParams,
        cancel: threading.Event | None = None,
    ) -> int:
        """While the user reads a reply: evaluate what the next message's prompt starts
        with (the history, then the template's opening of a user turn), so that its first
        token comes sooner. Returns the tokens evaluated (0 when there was nothing cheap
        to do). Costs about one tokenization of the history and a few decoded tokens;
        with ``cancel`` (set: a reply is asked for, and this stops between batches) also
        the last exchange again when the context holds it with its question's passages,
        which the next prompt leaves out."""
        model = self._engine.loaded
        if model is None:
            return 0
        history = history_from(self._conversations.active_path(conversation_id))
        history.append(ChatMessage(Role.USER, _NEXT_MESSAGE))
        preamble = [*system_messages(params.system_prompt), *example_messages(params.examples)]
        options = self._options(params, with_tools=True)  # as the next prompt will have them
        text = self.template_for(model).render([*preamble, *history], options=options)
        cut = text.rfind(_NEXT_MESSAGE)
        if cut <= 0:
            return 0
        # When older turns no longer fit, the context starts elsewhere and the engine
        # declines (it only ever extends the context by a little). Nor is a history
        # evaluated again whose next prompt would have to leave older turns out.
        tokens = self._tokenize(model, text[:cut])
        if len(tokens) + reply_reserve(params.max_tokens, model.n_ctx) >= model.n_ctx:
            cancel = None
        return self._engine.prefill(tokens, cancel)

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
        *,
        edit_of: int | None = None,
    ) -> ReplyResult:
        """Send ``user_text`` after the conversation's active branch, or, with
        ``edit_of``, as a new version of that user message (a sibling: the old version
        and its replies stay in the tree)."""
        listener = listener or NullListener()
        if not user_text.strip():
            raise EmptyPromptError("The message is empty. Type something to send.")
        params = params.validated()
        self._offered_tools.clear()  # each reply asks the servers for their tools again
        model = self._require_model()
        if edit_of is None:
            path = self._conversations.active_path(conversation_id)
        else:
            edited = self._conversations.get_message(edit_of)
            if edited.conversation_id != conversation_id or edited.role is not Role.USER:
                raise NotFoundError("That message is no longer in this conversation.")
            path = self._conversations.path_to(edited.parent_id)
        with self._reply_streaming():
            # Before anything is stored: an overflow stops here with nothing lost.
            planned = self._prepare(path, user_text, params, cancel, listener)
            parent_id = path[-1].id if path else None
            user = self._conversations.add_message(
                conversation_id, Role.USER, user_text, parent_id=parent_id
            )
            assistant = self._new_reply(conversation_id, user, model)
            return self._start(
                user, assistant, planned, params, model, cancel, listener, resumed=False
            )

    @contextmanager
    def _reply_streaming(self) -> Iterator[None]:
        """While a reply is prepared and streams, document indexing yields the cores to it
        (the question's embedding and the prompt's evaluation come first)."""
        library = self._documents
        if library is None:
            yield
            return
        _tell_streaming(library, True)
        try:
            yield
        finally:
            _tell_streaming(library, False)

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
        self._offered_tools.clear()
        model = self._require_model()
        path = self._conversations.path_to(message_id)
        reply = path[-1] if path else None
        if reply is None or reply.conversation_id != conversation_id:
            raise NotFoundError("That reply is no longer in this conversation.")
        user = path[-2] if len(path) > 1 else None
        asked = user is not None and user.role in (Role.USER, Role.TOOL)
        if reply.role is not Role.ASSISTANT or user is None or not asked:
            raise GenerationError("Only an answer to a message can be continued or regenerated.")
        with self._reply_streaming():
            return self._resume(user, reply, path[:-1], mode, params, model, cancel, listener)

    def _resume(
        self,
        user: Message,
        reply: Message,
        history: list[Message],
        mode: ResumeMode,
        params: GenerationParams,
        model: LoadedModel,
        cancel: threading.Event,
        listener: ReplyListener,
    ) -> ReplyResult:
        conversation_id = reply.conversation_id
        if mode is ResumeMode.CONTINUE:
            if params.json_mode:
                raise GenerationError(
                    "A JSON reply cannot be continued: raise max new tokens and regenerate it."
                )
            planned = self._prepare(history, "", params, cancel, listener, prefill=reply.content)
            self._conversations.update_message(reply.id, reply.content, MessageStatus.PARTIAL)
            self._conversations.set_active_leaf(conversation_id, reply.id)
            assistant = reply
        else:
            planned = self._prepare(history, "", params, cancel, listener)
            assistant = self._new_reply(conversation_id, user, model)
        return self._start(user, assistant, planned, params, model, cancel, listener, resumed=True)

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
        planned: PlannedPrompt,
        params: GenerationParams,
        model: LoadedModel,
        cancel: threading.Event,
        listener: ReplyListener,
        *,
        resumed: bool,
    ) -> ReplyResult:
        """Stream the reply; while it calls tools, run them (after the user's approval) and
        stream the next message after their results, at most ``max_tool_steps`` times."""
        template = self.template_for(model)
        specs, tool_notes = self.offered_tools(params)
        runs: list[ToolRun] = []
        step = 0
        while True:
            with_tools = bool(specs) and step < params.max_tool_steps
            forced = with_tools and step == 0 and params.tool_choice not in ("auto", "none")
            offered = specs if with_tools else []
            if forced and params.tool_choice != "required":
                offered = [s for s in specs if entry_of(s) == params.tool_choice] or specs
            fmt = self._step_format(model, template, offered)
            plan = planned.plan
            self._save_prompt(assistant, planned, params, model)
            notices = list(planned.documents.notes) if planned.documents else []
            if step == 0:
                notices += tool_notes
            elif not with_tools:
                notices.append(TOOL_STEPS_NOTE.format(steps=step))
            listener.on_reply_started(
                ReplyStarted(
                    user,
                    assistant,
                    plan.n_tokens,
                    planned.dropped,
                    model.n_ctx,
                    template_description(template, plan),
                    resumed=resumed or step > 0,
                    summarized_messages=planned.summarized,
                    system_tokens=plan.preamble_tokens,
                    system_folded=plan.system_folded,
                    documents_tokens=plan.documents_tokens,
                    documents=planned.documents,
                    notices=tuple(notices),
                    step=step,
                    tools=tuple(s.label for s in offered),
                    output_format=fmt.description,
                )
            )
            result, calls = self._stream(
                assistant, planned, params, model, template, fmt, offered, forced, cancel, listener
            )
            result = replace(result, user_message_id=user.id, tool_runs=tuple(runs))
            if not calls or result.status is not MessageStatus.COMPLETE or cancel.is_set():
                return result
            step += 1
            limit = tool_output_limit(model.n_ctx)
            last = self._run_tools(
                assistant, result, calls, offered, step, cancel, listener, runs, limit
            )
            result = replace(result, tool_runs=tuple(runs))
            if cancel.is_set():
                self._conversations.update_message(assistant.id, result.text, MessageStatus.STOPPED)
                return replace(
                    result, status=MessageStatus.STOPPED, finish_reason=FinishReason.CANCELLED
                )
            path = self._conversations.path_to(last.id)
            try:
                planned = self._prepare(
                    path, "", params, cancel, listener, with_tools=step < params.max_tool_steps
                )
            except ContextOverflowError:
                raise GenerationError(
                    f"The tools' results no longer fit the {model.n_ctx:,}-token context, so "
                    "the model cannot answer after them. They are kept in the chat: raise the "
                    "context length and regenerate, or ask for less."
                ) from None
            user, assistant = last, self._new_reply(assistant.conversation_id, last, model)

    def _step_format(
        self, model: LoadedModel, template: ChatTemplate, offered: list[ToolSpec]
    ) -> OutputFormat:
        """How this step's output is read: the model's format; with tools offered to a
        template that cannot show them, the generic JSON it is asked for instead."""
        fmt = self.output_format(model)
        if not offered:
            return replace(fmt, tools=ToolFormat.NONE)
        if fmt.tools is ToolFormat.NONE or not template.capabilities.tools:
            return replace(fmt, tools=ToolFormat.GENERIC_JSON)
        return fmt

    def _save_prompt(
        self,
        assistant: Message,
        planned: PlannedPrompt,
        params: GenerationParams,
        model: LoadedModel,
    ) -> None:
        plan = planned.plan
        self._conversations.save_prompt(
            PromptRecord(
                assistant.id,
                plan.text,
                plan.n_tokens,
                model.name,
                params,
                planned.dropped,
                planned.summarized,
                planned.summary,
                planned.documents,
            )
        )

    def _run_tools(
        self,
        assistant: Message,
        result: ReplyResult,
        calls: list[ToolCall],
        offered: list[ToolSpec],
        step: int,
        cancel: threading.Event,
        listener: ReplyListener,
        runs: list[ToolRun],
        limit: int,
    ) -> Message:
        """Each call, after the user's approval (or at once for a tool always allowed):
        its result is stored as a Role.TOOL message, the next one's parent. Calls after a
        Stop are answered as stopped, so that every call has its result. Returns the last
        result's message."""
        toolbox = self._toolbox
        assert toolbox is not None
        by_name = {s.name: s for s in offered}
        approve = getattr(listener, "approve_tool", None)
        ran: list[ToolCall] = []
        parent = assistant
        for call in calls:
            spec = by_name[call.name]
            arguments = call.arguments
            decision = "allowed"
            began = time.perf_counter()
            if cancel.is_set():
                outcome = ToolOutcome(STOPPED_TEXT, is_error=True)
                decision = "stopped"
            else:
                permission = toolbox.permission(spec)
                approval = Approval(Decision.ALLOW_ONCE)
                if permission is ToolPermission.OFF:
                    approval = Approval(Decision.DENY)
                elif permission is ToolPermission.ASK:
                    request = ApprovalRequest(call, spec, step)
                    answer = approve(request) if approve is not None else None
                    approval = answer if isinstance(answer, Approval) else Approval(Decision.DENY)
                    decision = approval.decision.value
                    if approval.decision is Decision.ALLOW_ALWAYS:
                        toolbox.always_allow(spec)
                if approval.arguments is not None:
                    arguments = approval.arguments
                if cancel.is_set():
                    outcome, decision = ToolOutcome(STOPPED_TEXT, is_error=True), "stopped"
                elif approval.allowed:
                    running = getattr(listener, "on_tool_running", None)
                    if running is not None:
                        running(
                            ApprovalRequest(ToolCall(call.id, call.name, arguments), spec, step)
                        )
                    began = time.perf_counter()
                    outcome = toolbox.run(spec, arguments, cancel)
                else:
                    outcome = ToolOutcome(DENIED_TEXT, is_error=True)
            seconds = time.perf_counter() - began
            text, _cut = untrusted_text(outcome.text, limit)
            done = ToolCall(call.id, call.name, arguments)
            ran.append(done)
            parent = self._conversations.add_message(
                assistant.conversation_id,
                Role.TOOL,
                text,
                parent_id=parent.id,
                tool_call_id=call.id,
                tool_name=call.name,
                status=MessageStatus.ERROR if outcome.is_error else MessageStatus.COMPLETE,
            )
            run = ToolRun(
                done,
                spec.label,
                server_label(spec.source),
                decision,
                text,
                outcome.is_error,
                parent.id,
                seconds,
            )
            runs.append(run)
            finished = getattr(listener, "on_tool_result", None)
            if finished is not None:
                finished(run)
        if ran != calls:  # the user edited arguments: the history shows what ran
            self._conversations.update_message(
                assistant.id, result.text, result.status, tool_calls=tuple(ran)
            )
        return parent

    def _stream(
        self,
        assistant: Message,
        planned: PlannedPrompt,
        params: GenerationParams,
        model: LoadedModel,
        template: ChatTemplate,
        fmt: OutputFormat,
        offered: list[ToolSpec],
        forced: bool,
        cancel: threading.Event,
        listener: ReplyListener,
    ) -> tuple[ReplyResult, list[ToolCall]]:
        """One message of the reply: its answer, reasoning and tool calls read from the
        output as it streams (the answer to ``on_reply_piece``, the reasoning to
        ``on_reply_thinking``), saved every ``flush_interval``."""
        conversation_id = assistant.conversation_id
        plan = planned.plan
        seed = params.seed if params.seed >= 0 else random.randrange(2**31 - 1)
        sampling = SamplingConfig.from_params(params, seed, template.stop)
        plain = fmt.reasoning is ReasoningFormat.NONE and fmt.tools is ToolFormat.NONE
        sampling = replace(sampling, special=not plain)
        if forced:  # a grammar from the tools' schemas: the reply is a valid call
            schema = forced_call_schema([(s.name, s.parameters) for s in offered])
            sampling = replace(sampling, json_mode=True, json_schema=json.dumps(schema))
        parser = OutputParser(
            fmt,
            starts_in_thinking=not forced and opens_thinking(plan.text, fmt),
            tool_names=[s.name for s in offered],
            forced=forced,
        )
        parts: list[str] = [assistant.content]  # a continued reply starts from its old text
        thoughts: list[str] = [assistant.reasoning]
        calls: list[ToolCall] = []
        raw: list[str] = []  # the model's output as it wrote it (a thinking budget resumes it)
        started = time.perf_counter()
        first: float | None = None
        thinking_began: float | None = None
        thinking_ended: float | None = None
        reasoning_tokens = 0
        completion_tokens = 0
        evaluated: int | None = None
        last_flush = self._clock()
        done = Done(FinishReason.ERROR, 0)
        think = getattr(listener, "on_reply_thinking", None)

        def stats() -> GenerationStats:
            elapsed = time.perf_counter() - started
            decode = elapsed - (first or 0.0)
            thought = None
            if thinking_began is not None:
                thought = (thinking_ended or time.perf_counter()) - thinking_began
            return GenerationStats(
                prompt_tokens=plan.n_tokens,
                prompt_evaluated=evaluated,
                completion_tokens=completion_tokens,
                time_to_first_token=first,
                tokens_per_second=(
                    (completion_tokens - 1) / decode
                    if first is not None and completion_tokens > 1 and decode > 0
                    else None
                ),
                context_size=model.n_ctx,
                dropped_messages=planned.dropped,
                summarized_messages=planned.summarized,
                system_tokens=plan.preamble_tokens,
                template=template_description(template, plan),
                seed=sampling.seed,
                documents_tokens=plan.documents_tokens,
                documents=planned.documents.excerpted() if planned.documents else None,
                reasoning_tokens=reasoning_tokens,
                reasoning_seconds=thought,
                tool_calls=len(calls),
            )

        phase = "start"  # then "thinking" or "answer": where the output is
        chunk_chars = [0, 0]  # this generation's thinking and other characters

        def take(events: Sequence[Event]) -> None:
            """The parser's events to the message and the listener."""
            nonlocal thinking_began, thinking_ended, phase
            for item in events:
                if isinstance(item, ThinkingDelta):
                    chunk_chars[0] += len(item.text)
                    if phase == "start":
                        phase = "thinking"
                    if thinking_began is None:
                        thinking_began = time.perf_counter()
                    thoughts.append(item.text)
                    if think is not None:
                        think(item.text)
                    continue
                phase = "answer"
                if thinking_began is not None and thinking_ended is None:
                    thinking_ended = time.perf_counter()
                if isinstance(item, TextDelta):
                    chunk_chars[1] += len(item.text)
                    parts.append(item.text)
                    listener.on_reply_piece(item.text)
                elif isinstance(item, ToolCallEvent):
                    chunk_chars[1] += len(item.call.arguments_json())
                    calls.append(item.call)
                elif isinstance(item, UnparsedCall):
                    chunk_chars[1] += len(item.text)
                    shown = f"\n\n{item.text}\n\n{UNPARSED_NOTE.format(note=item.note)}"
                    parts.append(shown)
                    listener.on_reply_piece(shown)

        # The thinking budget, in the engine's own tokens: while the model may still be
        # thinking, it generates at most what is left of the budget; spent while thinking,
        # the end of the thinking is written in and the model answers after it. Exact
        # whatever the machine's speed (no stop that lands a few tokens late).
        tokens = plan.tokens
        closer = THINKING_CLOSERS.get(fmt.reasoning, "")
        budget_left = params.thinking_budget if closer and not forced else 0
        left = params.max_tokens
        try:
            while True:
                budgeted = budget_left > 0 and phase != "answer" and not params.json_mode
                chunk = min(left, budget_left) if budgeted else left
                chunk_chars[:] = [0, 0]
                step = replace(sampling, max_tokens=chunk)
                for event in self._engine.generate(tokens, step, cancel):
                    if isinstance(event, Done):
                        done = event
                        break
                    if isinstance(event, PromptProgress):
                        listener.on_prompt_progress(event.done, event.total)
                        continue
                    if first is None:
                        first = time.perf_counter() - started
                    raw.append(event.text)
                    take(parser.feed(event.text))
                    now = self._clock()
                    if now - last_flush >= self._flush_interval:
                        self._conversations.update_message(
                            assistant.id,
                            "".join(parts),
                            MessageStatus.PARTIAL,
                            reasoning="".join(thoughts),
                        )
                        last_flush = now
                used = done.completion_tokens
                completion_tokens += used
                left -= used
                thought, other = chunk_chars
                if thought:  # of this generation's tokens, its share of thinking
                    reasoning_tokens += round(used * thought / (thought + other))
                if evaluated is None:
                    evaluated = done.prompt_evaluated
                if not budgeted or done.reason is not FinishReason.LENGTH or left <= 0:
                    break
                budget_left = budget_left - used if phase != "answer" else 0
                if phase != "answer" and budget_left <= 0:
                    raw.append(closer)  # spent: the model is told to answer
                    take(parser.feed(closer))
                    budget_left = 0
                tokens = plan.tokens + self._engine.tokenize("".join(raw), add_bos=False)
                if len(tokens) >= model.n_ctx:
                    done = Done(FinishReason.CONTEXT, 0)
                    break
            take(parser.finish())
        except DesktopChatError as exc:
            self._save_failed(assistant.id, parts, stats(), "".join(thoughts))
            raise GenerationError(f"The reply failed: {exc}") from None
        except Exception:
            self._save_failed(assistant.id, parts, stats(), "".join(thoughts))
            raise
        text = "".join(parts)
        reasoning = "".join(thoughts)
        status = (
            MessageStatus.STOPPED
            if done.reason is FinishReason.CANCELLED
            else MessageStatus.COMPLETE
        )
        if params.json_mode and status is MessageStatus.COMPLETE:
            # The grammar allows only JSON; it ends complete unless the token limit cut it.
            pretty = pretty_json(text)
            if pretty is None:
                status = MessageStatus.ERROR
            else:
                text = pretty
        if status is not MessageStatus.COMPLETE:
            calls = []  # a cut call is never run (its text stays in the reply)
        final = stats()
        self._conversations.update_message(
            assistant.id,
            text,
            status,
            finish_reason=done.reason.value,
            stats=final,
            reasoning=reasoning,
            tool_calls=tuple(calls),
        )
        result = ReplyResult(
            conversation_id, 0, assistant.id, text, done.reason, status, final, reasoning
        )
        return result, calls

    def _save_failed(
        self, message_id: int, parts: list[str], stats: GenerationStats, reasoning: str
    ) -> None:
        try:
            self._conversations.update_message(
                message_id,
                "".join(parts),
                MessageStatus.ERROR,
                finish_reason=FinishReason.ERROR.value,
                stats=stats,
                reasoning=reasoning,
            )
        except DesktopChatError:
            log.exception("could not save the failed reply %d", message_id)


def tool_output_limit(n_ctx: int) -> int:
    """The characters of one tool result that go into the context: about a quarter of it
    (three characters a token), at most MAX_TOOL_OUTPUT_CHARS."""
    return max(500, min(MAX_TOOL_OUTPUT_CHARS, n_ctx * 3 // 4))


def _tell_streaming(library: DocumentLibrary, streaming: bool) -> None:
    """Indexing yields the cores to a streaming reply; a library that cannot be told (its
    database is unusable) never stops the reply."""
    try:
        library.set_reply_streaming(streaming)
    except DesktopChatError as exc:
        log.warning("could not tell the documents library about the reply: %s", exc)


FOLLOW_UP_WORDS = 6  # a shorter question is searched together with the one before it
FOLLOW_UP_CHARS = 60
FOLLOW_UP_CONTEXT_CHARS = 500  # of the previous question


def retrieval_query(question: str, earlier: list[ChatMessage]) -> str:
    """What the documents are searched for: the question, and for a short follow-up
    ("and the second one?") the user's previous question too, which names the subject."""
    if len(question.split()) >= FOLLOW_UP_WORDS or len(question) >= FOLLOW_UP_CHARS:
        return question
    previous = next((m.content for m in reversed(earlier) if m.role is Role.USER), "")
    return f"{previous[:FOLLOW_UP_CONTEXT_CHARS]}\n{question}" if previous else question


def clean_title_text(text: str) -> str:
    """The model's title as one short line, without quotes, a "Title:" label or a period."""
    lines = (ln.strip() for ln in text.splitlines())
    line = next((ln for ln in lines if ln and not ln.startswith("```")), "")
    line = line.replace("`", "").strip().strip("*#").strip()
    if line.lower().startswith("title:"):
        line = line[6:].strip()
    quotes = "\"'“”‘’ "
    return line.strip(quotes).rstrip(".").strip(quotes)
