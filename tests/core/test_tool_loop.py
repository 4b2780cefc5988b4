"""Tool calls and thinking on the real starter model, through the chat service: a
grammar-forced call, the user's approval (allow, deny, stop), the result going back and
the model answering; a template that opens <think> streaming into the reasoning."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktopchat.core.chat import GenerationParams, MessageStatus, Role
from desktopchat.core.inference.llama import LlamaEngine
from desktopchat.core.inference.service import (
    ChatService,
    ReplyResult,
    ReplyStarted,
    ToolRun,
    tool_output_limit,
)
from desktopchat.core.session import Core
from desktopchat.core.tools.builtin import BuiltinTools
from desktopchat.core.tools.mcp import McpClient
from desktopchat.core.tools.servers import McpServerConfig
from desktopchat.core.tools.toolbox import (
    DENIED_TEXT,
    STOPPED_TEXT,
    Approval,
    ApprovalRequest,
    Decision,
    Toolbox,
)
from desktopchat.core.tools.types import ToolPermission

pytestmark = pytest.mark.real_model

MCP_SERVER = Path(__file__).resolve().parent.parent / "mcp_server.py"
FORCED = GenerationParams(
    temperature=0.0, seed=1, max_tokens=96, tools=("calculator",), tool_choice="calculator"
)


class Recorder:
    """A listener that answers approvals as told and keeps what it saw."""

    def __init__(self, answer: Decision, cancel: threading.Event | None = None) -> None:
        self.answer = answer
        self.cancel = cancel
        self.requests: list[ApprovalRequest] = []
        self.results: list[ToolRun] = []
        self.started: list[ReplyStarted] = []
        self.pieces: list[str] = []
        self.thinking: list[str] = []

    def on_reply_started(self, started: ReplyStarted) -> None:
        self.started.append(started)

    def on_reply_piece(self, text: str) -> None:
        self.pieces.append(text)

    def on_reply_thinking(self, text: str) -> None:
        self.thinking.append(text)

    def on_prompt_progress(self, done: int, total: int) -> None:
        pass

    def approve_tool(self, request: ApprovalRequest) -> Approval:
        self.requests.append(request)
        if self.cancel is not None:
            self.cancel.set()  # the user pressed Stop while the dialog was open
        return Approval(self.answer)

    def on_tool_result(self, run: ToolRun) -> None:
        self.results.append(run)


def asking_toolbox(*providers: Any) -> Toolbox:
    return Toolbox(list(providers) or [BuiltinTools()], lambda _spec: ToolPermission.ASK)


def test_a_forced_call_is_approved_runs_and_the_model_answers(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    service = ChatService(core.conversations, loaded_engine, toolbox=asking_toolbox())
    conversation = core.conversations.create(params=FORCED)
    listener = Recorder(Decision.ALLOW_ONCE)
    result = service.reply(
        conversation.id, "What is 12 times 7?", FORCED, threading.Event(), listener
    )
    [request] = listener.requests
    assert request.spec.name == "calculator" and request.server == "built-in"
    assert isinstance(request.call.arguments.get("expression"), str)  # the grammar's shape
    [run] = result.tool_runs
    assert run.call.name == "calculator" and run.decision == "allow once"
    path = core.conversations.active_path(conversation.id)
    assert [m.role for m in path] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    call_message, tool_message, answer = path[1], path[2], path[3]
    assert call_message.tool_calls[0].name == "calculator"
    assert tool_message.tool_call_id == call_message.tool_calls[0].id
    assert tool_message.tool_name == "calculator" and tool_message.content == run.result
    assert answer.status is MessageStatus.COMPLETE and answer.id == result.assistant_message_id
    assert [s.step for s in listener.started] == [0, 1]
    # The answer's prompt holds the call and its result (the starter's template has no
    # tool syntax: they are written in as text).
    prompt = core.conversations.prompt_for(answer.id)
    assert prompt is not None and run.result in prompt.text and '"calculator"' in prompt.text


def test_a_denied_call_does_not_run_and_the_model_is_told(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    ran: list[str] = []

    class Spy(BuiltinTools):
        def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> Any:
            ran.append(name)
            return super().call(name, arguments, cancel)

    service = ChatService(core.conversations, loaded_engine, toolbox=asking_toolbox(Spy()))
    conversation = core.conversations.create(params=FORCED)
    listener = Recorder(Decision.DENY)
    result = service.reply(conversation.id, "What is 2+2?", FORCED, threading.Event(), listener)
    assert ran == [] and len(listener.requests) == 1
    [run] = result.tool_runs
    assert run.decision == "deny" and run.result == DENIED_TEXT and run.is_error
    path = core.conversations.active_path(conversation.id)
    assert path[2].role is Role.TOOL and path[2].content == DENIED_TEXT
    assert path[-1].role is Role.ASSISTANT and result.status is MessageStatus.COMPLETE


def test_stop_while_asked_ends_the_loop_and_runs_nothing(
    core: Core, loaded_engine: LlamaEngine
) -> None:
    cancel = threading.Event()
    service = ChatService(core.conversations, loaded_engine, toolbox=asking_toolbox())
    conversation = core.conversations.create(params=FORCED)
    listener = Recorder(Decision.ALLOW_ONCE, cancel=cancel)
    result = service.reply(conversation.id, "What is 3*3?", FORCED, cancel, listener)
    assert result.status is MessageStatus.STOPPED
    [run] = result.tool_runs
    assert run.result == STOPPED_TEXT and run.decision == "stopped"
    path = core.conversations.active_path(conversation.id)
    assert [m.role for m in path] == [Role.USER, Role.ASSISTANT, Role.TOOL]  # no answer


@pytest.fixture
def mcp_toolbox() -> Iterator[Toolbox]:
    """The tests' real stdio MCP server, every tool asking first."""
    config = McpServerConfig(
        name="testserver", transport="stdio", command=sys.executable, args=(str(MCP_SERVER),)
    )
    toolbox = Toolbox([McpClient(config)], lambda _spec: ToolPermission.ASK)
    yield toolbox
    toolbox.close()


def reply_with(
    core: Core, engine: LlamaEngine, toolbox: Toolbox, params: GenerationParams, text: str
) -> tuple[Recorder, ReplyResult, int]:
    service = ChatService(core.conversations, engine, toolbox=toolbox)
    conversation = core.conversations.create(params=params)
    listener = Recorder(Decision.ALLOW_ONCE)
    result = service.reply(conversation.id, text, params, threading.Event(), listener)
    return listener, result, conversation.id


def test_a_real_stdio_mcp_server_is_called_after_approval(
    core: Core, loaded_engine: LlamaEngine, mcp_toolbox: Toolbox
) -> None:
    params = GenerationParams(
        temperature=0.0,
        seed=3,
        max_tokens=48,
        tools=("testserver:add",),
        tool_choice="testserver:add",
        max_tool_steps=1,
    )
    listener, result, _ = reply_with(core, loaded_engine, mcp_toolbox, params, "Add 2 and 40.")
    [request] = listener.requests
    assert request.server == "testserver" and request.spec.name == "testserver__add"
    arguments = request.call.arguments
    assert isinstance(arguments["a"], int) and isinstance(arguments["b"], int)
    [run] = result.tool_runs
    assert not run.is_error and run.result.strip() == str(arguments["a"] + arguments["b"])
    assert result.status is MessageStatus.COMPLETE


def test_a_hostile_tool_output_is_text_and_runs_nothing(
    core: Core, loaded_engine: LlamaEngine, mcp_toolbox: Toolbox
) -> None:
    params = GenerationParams(
        temperature=0.0,
        seed=3,
        max_tokens=32,
        tools=("testserver:hostile", "testserver:add"),
        tool_choice="testserver:hostile",
        max_tool_steps=1,
    )
    listener, result, conversation_id = reply_with(
        core, loaded_engine, mcp_toolbox, params, "Run the hostile tool."
    )
    # One approval (for hostile): the fake <tool_call> in its output ran nothing.
    assert [r.spec.name for r in listener.requests] == ["testserver__hostile"]
    [run] = result.tool_runs
    # Bounded to its share of the 2,048-token context, with a note saying so.
    assert len(run.result) <= tool_output_limit(2048) + 100
    assert "more characters left out" in run.result
    assert "\x00" not in run.result and "\x1b" not in run.result
    assert "\u202e" not in run.result
    path = core.conversations.active_path(conversation_id)
    assert path[-1].role is Role.ASSISTANT and not path[-1].tool_calls
    prompt = core.conversations.prompt_for(path[-1].id)
    assert prompt is not None and run.result[:200] in prompt.text  # sent as text as it is


THINKING_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


def test_a_template_that_opens_think_streams_into_the_reasoning(
    core: Core, starter_model: Path, tmp_path: Path
) -> None:
    from desktopchat.core.inference.engine import LoadConfig
    from tests.gguf_files import copy_gguf

    thinking = copy_gguf(
        starter_model,
        tmp_path / "thinker-R1.gguf",
        {"tokenizer.chat_template": THINKING_TEMPLATE},
    )
    engine = LlamaEngine()
    engine.load(LoadConfig(thinking, n_ctx=1024, n_threads=2), lambda _f, _s: None)
    try:
        service = ChatService(core.conversations, engine)
        params = GenerationParams(temperature=0.0, seed=2, max_tokens=40, thinking_budget=4)
        conversation = core.conversations.create(params=params)
        listener = Recorder(Decision.DENY)
        result = service.reply(
            conversation.id, "Why is the sky blue?", params, threading.Event(), listener
        )
    finally:
        engine.unload()
    assert listener.thinking, "nothing streamed as thinking"
    reasoning = "".join(listener.thinking)
    assert result.reasoning == reasoning
    # The budget (4 tokens) ended the thinking: the model was told to answer, and did.
    assert "I must answer now." in reasoning
    assert result.text.strip() and "<think>" not in result.text and "</think>" not in result.text
    stored = core.conversations.get_message(result.assistant_message_id)
    assert stored.reasoning == reasoning and stored.content == result.text
    assert stored.stats is not None and stored.stats.reasoning_tokens >= 4
    assert stored.stats.reasoning_seconds is not None


def test_stop_ends_a_running_tool(
    core: Core, loaded_engine: LlamaEngine, mcp_toolbox: Toolbox
) -> None:
    params = GenerationParams(
        temperature=0.0,
        seed=3,
        max_tokens=32,
        tools=("testserver:slow",),
        tool_choice="testserver:slow",
    )
    cancel = threading.Event()

    class StopsWhileRunning(Recorder):
        def approve_tool(self, request: ApprovalRequest) -> Approval:
            self.requests.append(request)
            return Approval(Decision.ALLOW_ONCE, {"seconds": 600})  # edited by the user

        def on_tool_running(self, request: ApprovalRequest) -> None:
            threading.Timer(0.5, cancel.set).start()  # Stop, once it runs

    service = ChatService(core.conversations, loaded_engine, toolbox=mcp_toolbox)
    conversation = core.conversations.create(params=params)
    listener = StopsWhileRunning(Decision.ALLOW_ONCE)
    result = service.reply(conversation.id, "Wait a while.", params, cancel, listener)
    assert result.status is MessageStatus.STOPPED
    [run] = result.tool_runs
    assert run.call.arguments == {"seconds": 600} and run.is_error
    assert "slept" not in run.result  # it did not run to its end
    path = core.conversations.active_path(conversation.id)
    assert [m.role for m in path] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert path[1].tool_calls[0].arguments == {"seconds": 600}  # what ran, as the history


TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "templates"


@pytest.mark.parametrize(
    ("template", "thinking", "ends_with", "holds"),
    [
        ("qwen3.jinja", "off", "<think>\n\n</think>\n\n", ""),  # its enable_thinking
        ("qwen3.jinja", "on", "<|im_start|>assistant\n", ""),
        ("deepseek-r1-distill.jinja", "off", "<think>\n\n</think>\n\n", ""),  # no switch
        ("gpt-oss.jinja", "off", "<|start|>assistant", "Reasoning: low"),  # its least
        ("gpt-oss.jinja", "high", "<|start|>assistant", "Reasoning: high"),
    ],
)
def test_the_thinking_setting_reaches_a_real_models_template(
    core: Core,
    starter_model: Path,
    tmp_path: Path,
    template: str,
    thinking: str,
    ends_with: str,
    holds: str,
) -> None:
    from desktopchat.core.inference.engine import LoadConfig
    from tests.gguf_files import copy_gguf

    source = (TEMPLATES / template).read_text(encoding="utf-8")
    model = copy_gguf(starter_model, tmp_path / "model.gguf", {"tokenizer.chat_template": source})
    engine = LlamaEngine()
    engine.load(LoadConfig(model, n_ctx=1024, n_threads=2), lambda _f, _s: None)
    try:
        params = GenerationParams(thinking=thinking)
        conversation = core.conversations.create(params=params)
        plan = ChatService(core.conversations, engine).plan(conversation.id, "Hi", params)
    finally:
        engine.unload()
    assert plan.text.endswith(ends_with) and holds in plan.text
