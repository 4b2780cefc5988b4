"""What a tool is, what calling it gives, and how a source of tools is asked.

A ToolProvider is a source of tools: the built-in tools, or one MCP server. The chat service
lists their tools for the model (``ToolSpec``), and after the user's approval calls one
(``ToolProvider.call``) on its own thread; the outcome's text goes back to the model as a
``Role.TOOL`` message. Tool output is untrusted text: ``untrusted_text`` bounds and cleans it
before anyone stores, shows or sends it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from desktopchat.core.chat import clean_text

BUILTIN_SOURCE = "builtin"
# An MCP server's tool is named ``server__tool`` for the model (names stay [A-Za-z0-9_-]).
SERVER_SEPARATOR = "__"
MAX_TOOL_OUTPUT_CHARS = 32_000  # what a tool's result may put into the context


def server_label(source: str) -> str:
    """Where a tool comes from, as the user reads it: "built-in" or the MCP server's name."""
    return "built-in" if source == BUILTIN_SOURCE else source


class ToolPermission(StrEnum):
    """Whether a tool's call runs: after asking the user, at once, or never."""

    ASK = "ask"
    ALLOW = "allow"
    OFF = "off"


@dataclass(frozen=True)
class ToolSpec:
    """One tool as the model sees it (OpenAI's function shape) and where it comes from."""

    name: str  # as the model sees it: "calculator", "files__read_file"
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    source: str = BUILTIN_SOURCE  # BUILTIN_SOURCE, or the MCP server's name
    title: str = ""  # what the user reads ("Calculator"); the name when empty

    @property
    def label(self) -> str:
        return self.title or self.name

    def to_openai(self) -> dict[str, Any]:
        """The ``tools`` entry that chat templates and OpenAI clients expect."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True)
class ToolOutcome:
    """What a call gave: its text (already bounded by untrusted_text), and whether the
    tool reported an error (the model is told; the loop goes on)."""

    text: str
    is_error: bool = False
    truncated: bool = False  # the tool returned more than MAX_TOOL_OUTPUT_CHARS


class ToolProvider(Protocol):
    """A source of tools (the built-ins, one MCP server)."""

    @property
    def source(self) -> str: ...

    def list_tools(self) -> list[ToolSpec]:
        """Its tools now (an MCP server is asked; may raise ToolError)."""
        ...

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        """Run one tool (``name`` as in its ToolSpec). Returns when done, failed or when
        ``cancel`` is set (then as soon as it can, with an error outcome). Raises ToolError
        for a failure the user must read (the server is gone); a tool's own error is an
        outcome with ``is_error``."""
        ...


# C0 and C1 controls other than tab and newline, DEL, and bidirectional overrides: a tool's
# output is shown and sent as plain text, and these would hide or reorder what it says.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def untrusted_text(text: str, limit: int = MAX_TOOL_OUTPUT_CHARS) -> tuple[str, bool]:
    """A tool's output made safe to store, show and send: valid text, no control
    characters (``\\r\\n`` becomes ``\\n``), at most ``limit`` characters (then cut, with a
    note saying how much was left out). Returns the text and whether it was cut."""
    text = clean_text(text).replace("\r\n", "\n")
    text = _CONTROLS.sub(lambda m: "\n" if m.group() == "\r" else "\ufffd", text)
    if len(text) <= limit:
        return text, False
    left_out = len(text) - limit
    return f"{text[:limit]}\n[… {left_out:,} more characters left out]", True
