"""Reading a model's output as it streams: the answer, the reasoning, and tool calls, for
every common model family's syntax (see formats.detect_format)."""

from desktopchat.core.inference.output.formats import (
    OutputFormat,
    ReasoningFormat,
    ToolFormat,
    detect_format,
    forced_call_schema,
    make_format,
    opens_thinking,
)
from desktopchat.core.inference.output.parser import (
    Event,
    OutputParser,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    UnparsedCall,
)

__all__ = [
    "Event",
    "OutputFormat",
    "OutputParser",
    "ReasoningFormat",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallEvent",
    "ToolFormat",
    "UnparsedCall",
    "detect_format",
    "forced_call_schema",
    "make_format",
    "opens_thinking",
]
