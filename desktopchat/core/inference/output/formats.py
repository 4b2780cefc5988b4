"""Which output syntax a model writes, told from its chat template (and its name).

The rules follow llama.cpp's ``common_chat_templates_apply_jinja`` (common/chat.cpp): a
template that renders a format's own markup for tool calls is expected to produce it, so
the first distinctive marker found names the format. Pure Python, no Jinja rendering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ReasoningFormat(StrEnum):
    NONE = "none"
    THINK_TAGS = "think_tags"  # <think>…</think> (Qwen3, QwQ, DeepSeek-R1 and its distills)
    THINK_BRACKETS = "think_brackets"  # [THINK]…[/THINK] (Magistral)
    HARMONY = "harmony"  # gpt-oss's analysis channel
    GRANITE = "granite"  # "Here is my thought process:" … "Here is my response:", or <think>


class ToolFormat(StrEnum):
    NONE = "none"
    HERMES = "hermes"  # <tool_call>{json}</tool_call> (Qwen 2.5/3, Hermes 2/3 Pro)
    LLAMA3 = "llama3"  # a bare {"name", "parameters"} reply, or <|python_tag|>
    MISTRAL = "mistral"  # [TOOL_CALLS][{…}] or [TOOL_CALLS]name[ARGS]{…}
    HARMONY = "harmony"  # gpt-oss: commentary to=functions.NAME
    COMMAND_R = "command_r"  # Action: ```json […]``` or <|START_ACTION|>[…]<|END_ACTION|>
    GRANITE = "granite"  # <|tool_call|>[{…}]
    DEEPSEEK = "deepseek"  # <｜tool▁calls▁begin｜>…
    FUNCTIONARY_V3_1 = "functionary_v3_1"  # <function=NAME>{json}</function>
    FUNCTIONARY_V3_2 = "functionary_v3_2"  # >>>NAME\n{json}, >>>all\ntext
    GENERIC_JSON = "generic_json"  # {"tool_call": {…}} / {"tool_calls": […]} / {"response": …}


@dataclass(frozen=True)
class OutputFormat:
    reasoning: ReasoningFormat
    tools: ToolFormat
    description: str  # in words, for the prompt inspector
    # End-of-turn markers that are this template's syntax and are stripped from the text
    # wherever they leak into it (on top of the ones the tool format itself implies).
    end_markers: tuple[str, ...] = ()


# End-of-turn and end-of-sequence markers a template may write literally.
KNOWN_END_MARKERS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "</s>",
    "<｜end▁of▁sentence｜>",
    "<|END_OF_TURN_TOKEN|>",
    "<|end_of_text|>",
    "<end_of_turn>",
    "<|endoftext|>",
)

_TOOL_WORDS: dict[ToolFormat, str] = {
    ToolFormat.NONE: "no tool calls",
    ToolFormat.HERMES: "Qwen/Hermes <tool_call> tags",
    ToolFormat.LLAMA3: "Llama 3 JSON calls and <|python_tag|>",
    ToolFormat.MISTRAL: "Mistral [TOOL_CALLS]",
    ToolFormat.HARMONY: "gpt-oss harmony channels (commentary to=functions.NAME)",
    ToolFormat.COMMAND_R: "Command R actions",
    ToolFormat.GRANITE: "Granite <|tool_call|> lists",
    ToolFormat.DEEPSEEK: "DeepSeek <｜tool▁calls▁begin｜> blocks",
    ToolFormat.FUNCTIONARY_V3_1: "Functionary v3.1 <function=NAME> tags",
    ToolFormat.FUNCTIONARY_V3_2: "Functionary v3.2 >>>NAME sections",
    ToolFormat.GENERIC_JSON: 'generic JSON ({"tool_call": …} or {"response": …})',
}

_REASONING_WORDS: dict[ReasoningFormat, str] = {
    ReasoningFormat.NONE: "no reasoning block",
    ReasoningFormat.THINK_TAGS: "<think> reasoning",
    ReasoningFormat.THINK_BRACKETS: "[THINK] reasoning",
    ReasoningFormat.HARMONY: "analysis-channel reasoning",
    ReasoningFormat.GRANITE: "Granite thought process (or <think>) reasoning",
}


def describe(reasoning: ReasoningFormat, tools: ToolFormat) -> str:
    return f"{_TOOL_WORDS[tools]}, {_REASONING_WORDS[reasoning]}"


def make_format(
    reasoning: ReasoningFormat, tools: ToolFormat, end_markers: tuple[str, ...] = ()
) -> OutputFormat:
    return OutputFormat(reasoning, tools, describe(reasoning, tools), end_markers)


_THINKING_NAME = re.compile(r"(?i)(?:\bR1\b|[-_ ]R1(?:[-_ .]|$)|QwQ|thinking|reason(?:ing|er))")
_TOOLS_VARIABLE = re.compile(r"\btools\b")


def _tool_format(src: str) -> ToolFormat:
    if "<｜tool▁calls▁begin｜>" in src or "<｜tool▁calls｜>" in src:
        return ToolFormat.DEEPSEEK
    if "<|START_ACTION|>" in src:
        return ToolFormat.COMMAND_R
    if "<|tool_call|>" in src:
        return ToolFormat.GRANITE
    if "<tool_call>" in src:
        return ToolFormat.HERMES
    if "<|channel|>" in src:
        return ToolFormat.HARMONY
    if ">>>all" in src:
        return ToolFormat.FUNCTIONARY_V3_2
    if "<|start_header_id|>" in src and "<function=" in src:
        return ToolFormat.FUNCTIONARY_V3_1
    if "<|start_header_id|>" in src and ("ipython" in src or "<|python_tag|>" in src):
        return ToolFormat.LLAMA3
    if "[TOOL_CALLS]" in src:
        return ToolFormat.MISTRAL
    if "Action:" in src and "tool_name" in src:
        return ToolFormat.COMMAND_R
    if _TOOLS_VARIABLE.search(src):
        return ToolFormat.GENERIC_JSON
    return ToolFormat.NONE


def _reasoning_format(src: str, tools: ToolFormat, model_name: str) -> ReasoningFormat:
    if tools is ToolFormat.HARMONY:
        return ReasoningFormat.HARMONY
    if tools is ToolFormat.GRANITE and (
        "elif thinking" in src or "thought process" in src or "<think>" in src
    ):
        return ReasoningFormat.GRANITE
    if "[THINK]" in src:
        return ReasoningFormat.THINK_BRACKETS
    if "<think>" in src or "</think>" in src:
        return ReasoningFormat.THINK_TAGS
    if "Here is my thought process:" in src:
        return ReasoningFormat.GRANITE
    if tools is ToolFormat.COMMAND_R:
        return ReasoningFormat.NONE  # R7B's <|START_THINKING|> comes with its tool format
    if model_name and _THINKING_NAME.search(model_name):
        if re.search(r"(?i)magistral", model_name):
            return ReasoningFormat.THINK_BRACKETS
        return ReasoningFormat.THINK_TAGS
    return ReasoningFormat.NONE


def detect_format(template: str, model_name: str = "", architecture: str = "") -> OutputFormat:
    """The output syntax a model with this chat template (and name) writes."""
    src = template or ""
    tools = _tool_format(src)
    if tools is ToolFormat.NONE and architecture.lower().startswith("gpt-oss"):
        tools = ToolFormat.HARMONY
    reasoning = _reasoning_format(src, tools, model_name)
    end_markers = tuple(m for m in KNOWN_END_MARKERS if m in src)
    return make_format(reasoning, tools, end_markers)


_OPENERS_AT_PROMPT_END: dict[ReasoningFormat, tuple[str, ...]] = {
    ReasoningFormat.NONE: (),
    ReasoningFormat.THINK_TAGS: ("<think>",),
    ReasoningFormat.THINK_BRACKETS: ("[THINK]",),
    ReasoningFormat.HARMONY: (),
    ReasoningFormat.GRANITE: ("<think>", "Here is my thought process:"),
}


def opens_thinking(prompt_text: str, fmt: OutputFormat) -> bool:
    """True when the rendered prompt ends inside an open reasoning block (DeepSeek-R1's and
    QwQ's generation prompts end with "<think>\\n"), so the output starts in thinking."""
    tail = prompt_text.rstrip()
    openers = _OPENERS_AT_PROMPT_END[fmt.reasoning]
    if fmt.tools is ToolFormat.COMMAND_R:
        openers = (*openers, "<|START_THINKING|>")
    return any(tail.endswith(opener) for opener in openers)


def forced_call_schema(tools: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The JSON Schema of a forced call, {"name": NAME, "arguments": {…}}: one object per
    tool, under anyOf when there are several. Every OutputParser(forced=True) reads it."""
    if not tools:
        raise ValueError("a forced call needs at least one tool")
    options: list[dict[str, Any]] = []
    for name, parameters in tools:
        arguments = dict(parameters) if parameters else {"type": "object"}
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": arguments},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
    if len(options) == 1:
        return options[0]
    return {"anyOf": options}
