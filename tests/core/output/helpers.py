"""Feeding a parser in pieces, and the expected events written shortly."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktopchat.core.chat import ToolCall
from desktopchat.core.inference.output import (
    Event,
    OutputFormat,
    OutputParser,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    UnparsedCall,
    detect_format,
)
from desktopchat.core.inference.output.parser import merge_events

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "data" / "templates"


def template_format(name: str, model_name: str = "") -> OutputFormat:
    return detect_format((TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8"), model_name)


def T(text: str) -> TextDelta:
    return TextDelta(text)


def K(text: str) -> ThinkingDelta:
    return ThinkingDelta(text)


def C(name: str, arguments: dict[str, Any], call_id: str = "call_1") -> ToolCallEvent:
    return ToolCallEvent(ToolCall(call_id, name, arguments))


def U(text: str, note: str) -> UnparsedCall:
    return UnparsedCall(text, note)


@dataclass(frozen=True)
class Case:
    id: str
    fmt: OutputFormat
    text: str
    expected: tuple[Event, ...]
    starts_in_thinking: bool = False
    tool_names: tuple[str, ...] = ()
    forced: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def parser(self) -> OutputParser:
        return OutputParser(
            self.fmt,
            starts_in_thinking=self.starts_in_thinking,
            tool_names=self.tool_names,
            forced=self.forced,
        )


def merge(events: Iterable[Event]) -> list[Event]:
    return merge_events(events)


def run(parser: OutputParser, pieces: Sequence[str]) -> list[Event]:
    events: list[Event] = []
    for piece in pieces:
        got = parser.feed(piece)
        assert all(not isinstance(e, TextDelta | ThinkingDelta) or e.text for e in got)
        events.extend(got)
    events.extend(parser.finish())
    return merge(events)


def split_at(text: str, cuts: Iterable[int]) -> list[str]:
    points = sorted({min(max(cut, 0), len(text)) for cut in cuts})
    pieces, last = [], 0
    for point in points:
        pieces.append(text[last:point])
        last = point
    pieces.append(text[last:])
    return pieces
