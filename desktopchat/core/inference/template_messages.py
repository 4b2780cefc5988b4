"""Messages as chat templates get them, and tools for templates that know none.

Real templates read ``tools``, an assistant message's ``tool_calls`` and ``tool`` messages
in Hugging Face's shape (``message_dict``). A template that ignores some of them (probed by
``ChatTemplate.capabilities``) still gets the tools, calls and results, written in as text
the way llama.cpp's generic handler does (``adapt_tools``): the tools and the JSON reply
that calls them in the system message, a call as that JSON in the assistant's turn, a
result as a user turn. The output parser's generic format reads such a reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from desktopchat.core.chat import Role, ToolCall

PROBE_TOOL = "desktopchat_probe_tool"
PROBE_RESULT = "desktopchat-probe-result"

GENERIC_TOOLS_INSTRUCTION = (
    "You can call these tools (JSON Schema of their arguments):\n{tools}\n\n"
    "To call tools, reply with only this JSON object and nothing else:\n"
    '{{"tool_calls": [{{"name": "<tool name>", "arguments": {{<arguments>}}}}]}}\n'
    "You will then get each tool's result. Otherwise answer normally."
)
TOOL_RESULT_HEADER = "Result of the tool call {id} ({name}):"


@dataclass(frozen=True)
class ChatMessage:
    """One message as the template gets it. An assistant message may carry its reasoning
    (sent only to templates that ask for it) and the tool calls it made; a tool message
    is the result of the call ``tool_call_id``, from the tool ``name``."""

    role: Role
    content: str
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class TemplateOptions:
    """What a template may be given beside the messages: the tools offered (OpenAI's
    ``tools`` entries), and the thinking switches real templates read (Qwen3's
    ``enable_thinking``, Granite's and DeepSeek's ``thinking``, gpt-oss's
    ``reasoning_effort``). None: the template's own default."""

    tools: tuple[Mapping[str, Any], ...] = ()
    enable_thinking: bool | None = None
    reasoning_effort: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateCapabilities:
    tools: bool  # it prints the tools offered
    tool_calls: bool  # it prints an assistant message's tool calls
    tool_role: bool  # it prints a tool message
    null_content: bool = False  # it shows tool calls only when their content is null


class _Arguments(dict[str, Any]):
    """A tool call's arguments: a mapping for templates that walk it or apply ``tojson``,
    and its JSON text for those that print it as OpenAI's string."""

    def __str__(self) -> str:
        return json.dumps(self, ensure_ascii=False)


def message_dict(
    message: ChatMessage, with_reasoning: bool, null_content: bool = False
) -> dict[str, Any]:
    """A message in the shape Hugging Face's and llama.cpp's templates expect."""
    item: dict[str, Any] = {"role": message.role.value, "content": message.content}
    if message.role is Role.ASSISTANT:
        if message.reasoning and with_reasoning:
            item["reasoning_content"] = message.reasoning
            item["thinking"] = message.reasoning
        if message.tool_calls:
            if not message.content and null_content:
                item["content"] = None  # as OpenAI sends it: some templates test for it
            item["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _Arguments(call.arguments)},
                    # Some templates (Qwen 2.5's, Hermes') read these without "function".
                    "name": call.name,
                    "arguments": _Arguments(call.arguments),
                }
                for call in message.tool_calls
            ]
    elif message.role is Role.TOOL:
        item["tool_call_id"] = message.tool_call_id
        item["name"] = message.name
    return item


def generic_call_text(calls: Sequence[ToolCall]) -> str:
    """Tool calls as the generic JSON reply (what a template without tool calls shows)."""
    return json.dumps(
        {"tool_calls": [{"name": c.name, "arguments": c.arguments} for c in calls]},
        ensure_ascii=False,
    )


def adapt_tools(
    messages: Sequence[ChatMessage], options: TemplateOptions, caps: TemplateCapabilities
) -> tuple[list[ChatMessage], TemplateOptions]:
    """``messages`` and ``options`` with what the template cannot show written in as text:
    the tools in the system message, calls in the assistant's content, results as user
    turns (consecutive results in one)."""
    out: list[ChatMessage] = []
    if options.tools and not caps.tools:
        listed = json.dumps(
            [t.get("function", t) for t in options.tools], ensure_ascii=False, indent=1
        )
        text = GENERIC_TOOLS_INSTRUCTION.format(tools=listed)
        if messages and messages[0].role is Role.SYSTEM:
            first = messages[0]
            messages = [replace(first, content=f"{first.content}\n\n{text}"), *messages[1:]]
        else:
            messages = [ChatMessage(Role.SYSTEM, text), *messages]
        options = replace(options, tools=())
    for original in messages:
        message = original
        if message.tool_calls and not caps.tool_calls:
            calls = generic_call_text(message.tool_calls)
            content = f"{message.content}\n\n{calls}" if message.content.strip() else calls
            message = replace(message, content=content, tool_calls=())
        if message.role is Role.TOOL and not caps.tool_role:
            header = TOOL_RESULT_HEADER.format(id=message.tool_call_id, name=message.name)
            text = f"{header}\n{message.content}"
            if out and out[-1].role is Role.USER and out[-1].tool_call_id == "results":
                previous = out.pop()
                text = f"{previous.content}\n\n{text}"
            message = ChatMessage(Role.USER, text, tool_call_id="results")
        out.append(message)
    # The marker only joined consecutive results; the template sees plain user turns.
    return [replace(m, tool_call_id="") if m.tool_call_id == "results" else m for m in out], options
