"""A streaming reader of a model's output: answer text, reasoning, and tool calls.

Fed the generated text in pieces of any size, it tells the answer (TextDelta) from the
reasoning (ThinkingDelta) and reads tool calls (ToolCallEvent, or UnparsedCall when a call
cannot be read). Its events do not depend on how the text was split: every decision is
made on the text itself, and text that might be the start of a marker is held back only
until it is clear whether it is one.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from desktopchat.core.chat import ToolCall
from desktopchat.core.inference.output import calls as c
from desktopchat.core.inference.output.formats import OutputFormat, ReasoningFormat, ToolFormat


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True)
class ToolCallEvent:
    call: ToolCall


@dataclass(frozen=True)
class UnparsedCall:
    """A call the model wrote that cannot be run: its text as written, and why."""

    text: str
    note: str


Event = TextDelta | ThinkingDelta | ToolCallEvent | UnparsedCall


class _Mode(Enum):
    TEXT = auto()
    THINK = auto()
    CALL = auto()
    HARMONY_HEADER = auto()
    FUNCTIONARY_HEADER = auto()
    MAYBE_JSON = auto()
    FORCED = auto()


# What a marker does once it is read.
@dataclass(frozen=True)
class _Drop:
    pass


@dataclass(frozen=True)
class _Think:
    closers: tuple[tuple[str, bool], ...]  # (marker, consumed) — unconsumed ones stay text


@dataclass(frozen=True)
class _Call:
    scanner: c.Scanner


@dataclass(frozen=True)
class _HarmonyHeader:
    pass


@dataclass(frozen=True)
class _FunctionaryHeader:
    pass


@dataclass(frozen=True)
class _Json:  # the reply starts with "{": maybe a bare JSON call (not consumed)
    pass


_Action = _Drop | _Think | _Call | _HarmonyHeader | _FunctionaryHeader | _Json

_END_MARKERS: dict[ToolFormat, tuple[str, ...]] = {
    ToolFormat.NONE: (),
    ToolFormat.HERMES: ("<|im_end|>",),
    ToolFormat.LLAMA3: ("<|eot_id|>", "<|eom_id|>"),
    ToolFormat.MISTRAL: ("</s>",),
    ToolFormat.HARMONY: ("<|end|>", "<|return|>", "<|call|>"),
    ToolFormat.COMMAND_R: ("<|END_OF_TURN_TOKEN|>",),
    ToolFormat.GRANITE: ("<|end_of_text|>",),
    ToolFormat.DEEPSEEK: ("<｜end▁of▁sentence｜>",),
    ToolFormat.FUNCTIONARY_V3_1: ("<|eot_id|>", "<|eom_id|>"),
    ToolFormat.FUNCTIONARY_V3_2: ("<|eot_id|>", "<|eom_id|>"),
    ToolFormat.GENERIC_JSON: (),
}

_THINK_TAGS = _Think((("</think>", True),))
_THINK_BRACKETS = _Think((("[/THINK]", True),))
_THINK_GRANITE = _Think((("</think>", True), ("Here is my response:", True)))
_THINK_COMMAND_R = _Think((("<|END_THINKING|>", True),))
_THINK_HARMONY = _Think(
    (("<|end|>", True), ("<|return|>", True), ("<|start|>", False), ("<|channel|>", False))
)

_NAME = re.compile(r"[A-Za-z0-9_.\-]*")
_FIRST_KEY = re.compile(r'\{\s*"((?:[^"\\]|\\.)*)"')
_HEADER_LIMIT = 1000  # a harmony header or a >>>NAME line longer than this is text


class OutputParser:
    """Feed it the output as it streams; it returns events for what is certain so far."""

    def __init__(
        self,
        fmt: OutputFormat,
        *,
        starts_in_thinking: bool = False,
        tool_names: Collection[str] = (),
        forced: bool = False,
    ) -> None:
        self._fmt = fmt
        self._tool_names = frozenset(tool_names)
        self._buf = ""
        self._opener = ""  # the marker that opened the current call or header
        self._scanner: c.Scanner | None = None
        self._think = _THINK_TAGS
        self._next_id = 0
        self._answer_started = False  # non-blank answer text (or a call) has been given
        self._lstrip_text = True  # drop blank text at the start, after reasoning or a call
        self._lstrip_think = True
        self._skip_think_opener: tuple[str, ...] = ()
        self._events: list[Event] = []

        strip = set(_END_MARKERS[fmt.tools]) | set(fmt.end_markers)
        anywhere: dict[str, _Action] = {}
        start: dict[str, _Action] = {}
        reasoning, tools = fmt.reasoning, fmt.tools

        if reasoning is ReasoningFormat.THINK_TAGS:
            start["<think>"] = _THINK_TAGS
            anywhere["</think>"] = _Drop()
        elif reasoning is ReasoningFormat.THINK_BRACKETS:
            start["[THINK]"] = _THINK_BRACKETS
            anywhere["[/THINK]"] = _Drop()
        elif reasoning is ReasoningFormat.GRANITE:
            start["<think>"] = _THINK_GRANITE
            start["Here is my thought process:"] = _THINK_GRANITE
            start["Here is my response:"] = _Drop()
            anywhere["</think>"] = _Drop()
            anywhere["<response>"] = _Drop()
            anywhere["</response>"] = _Drop()

        if tools is ToolFormat.HERMES:
            anywhere["<tool_call>"] = _Call(c.closed_by(("</tool_call>",), c.hermes_body))
            anywhere["<function="] = _Call(c.closed_by(("</function>",), c.function_tag_body))
        elif tools is ToolFormat.LLAMA3:
            anywhere["<|python_tag|>"] = _Call(
                c.closed_by(("<|eom_id|>", "<|eot_id|>"), c.python_tag_body, eos_closes=True)
            )
            start["{"] = _Json()
        elif tools is ToolFormat.MISTRAL:
            anywhere["[TOOL_CALLS]"] = _Call(c.mistral_scanner)
        elif tools is ToolFormat.HARMONY:
            anywhere["<|channel|>"] = _HarmonyHeader()
            anywhere["<|start|>"] = _HarmonyHeader()
        elif tools is ToolFormat.COMMAND_R:
            action = _Call(c.closed_by(("```",), c.command_r_body))
            anywhere["Action: ```json"] = action
            anywhere["Action:\n```json"] = action
            anywhere["<|START_ACTION|>"] = _Call(c.closed_by(("<|END_ACTION|>",), c.command_r_body))
            start["<|START_THINKING|>"] = _THINK_COMMAND_R
            for marker in ("<|END_THINKING|>", "<|START_RESPONSE|>", "<|END_RESPONSE|>"):
                anywhere[marker] = _Drop()
        elif tools is ToolFormat.GRANITE:
            anywhere["<|tool_call|>"] = _Call(c.json_ended())
        elif tools is ToolFormat.DEEPSEEK:
            action = _Call(c.closed_by(("<｜tool▁call▁end｜>",), c.deepseek_body))
            anywhere["<｜tool▁call▁begin｜>"] = action
            anywhere["<｜tool▁calls｜>"] = action
            anywhere["<｜tool▁calls▁begin｜>"] = _Drop()
            anywhere["<｜tool▁calls▁end｜>"] = _Drop()
        elif tools is ToolFormat.FUNCTIONARY_V3_1:
            anywhere["<function="] = _Call(c.closed_by(("</function>",), c.function_tag_body))
            anywhere["<|python_tag|>"] = _Call(
                c.closed_by(("<|eom_id|>", "<|eot_id|>"), c.python_tag_body, eos_closes=True)
            )
        elif tools is ToolFormat.FUNCTIONARY_V3_2:
            anywhere[">>>"] = _FunctionaryHeader()
        elif tools is ToolFormat.GENERIC_JSON:
            start["{"] = _Json()

        for marker in strip:
            anywhere.setdefault(marker, _Drop())
        self._anywhere = anywhere
        self._start = start
        self._strip = tuple(strip)

        self._mode = _Mode.TEXT
        if forced:
            self._mode = _Mode.FORCED
        elif tools is ToolFormat.FUNCTIONARY_V3_2:
            # The generation prompt ends with ">>>": the output starts with a recipient.
            self._mode = _Mode.FUNCTIONARY_HEADER
        elif starts_in_thinking:
            self._mode = _Mode.THINK
            self._think = self._default_think()
            self._skip_think_opener = tuple(m for m, a in start.items() if isinstance(a, _Think))

    def _default_think(self) -> _Think:
        reasoning = self._fmt.reasoning
        if self._fmt.tools is ToolFormat.COMMAND_R and reasoning is ReasoningFormat.NONE:
            return _THINK_COMMAND_R
        return {
            ReasoningFormat.THINK_BRACKETS: _THINK_BRACKETS,
            ReasoningFormat.GRANITE: _THINK_GRANITE,
            ReasoningFormat.HARMONY: _THINK_HARMONY,
        }.get(reasoning, _THINK_TAGS)

    # --- public ---------------------------------------------------------------------

    def feed(self, text: str) -> list[Event]:
        if text:
            self._buf += text
            self._run(final=False)
        return self._take()

    def finish(self) -> list[Event]:
        self._run(final=True)
        return self._take()

    # --- events ---------------------------------------------------------------------

    def _take(self) -> list[Event]:
        merged = merge_events(self._events)
        self._events = []
        return merged

    def _text(self, text: str) -> None:
        if self._lstrip_text:
            text = text.lstrip()
        if not text:
            return
        self._lstrip_text = False
        self._answer_started = True
        self._events.append(TextDelta(text))

    def _thinking(self, text: str) -> None:
        if self._lstrip_think:
            text = text.lstrip()
        if not text:
            return
        self._lstrip_think = False
        self._events.append(ThinkingDelta(text))

    def _calls(self, raw: str, scan: c.Scan) -> None:
        self._answer_started = True
        self._lstrip_text = True
        if scan.calls is None:
            self._events.append(UnparsedCall(raw, scan.note))
            return
        if self._tool_names:
            unknown = [name for name, _, _ in scan.calls if name not in self._tool_names]
            if unknown:
                note = f"the model called {unknown[0]!r}, which is not one of the offered tools"
                self._events.append(UnparsedCall(raw, note))
                return
        for name, arguments, own_id in scan.calls:
            self._events.append(ToolCallEvent(ToolCall(own_id or self._new_id(), name, arguments)))

    def _new_id(self) -> str:
        self._next_id += 1
        return f"call_{self._next_id}"

    # --- the machine ----------------------------------------------------------------

    def _run(self, *, final: bool) -> None:
        steps = {
            _Mode.TEXT: self._step_text,
            _Mode.THINK: self._step_think,
            _Mode.CALL: self._step_call,
            _Mode.HARMONY_HEADER: self._step_harmony_header,
            _Mode.FUNCTIONARY_HEADER: self._step_functionary_header,
            _Mode.MAYBE_JSON: self._step_maybe_json,
            _Mode.FORCED: self._step_forced,
        }
        while steps[self._mode](final):
            pass

    def _enter(self, marker: str, action: _Action) -> None:
        if isinstance(action, _Think):
            self._mode = _Mode.THINK
            self._think = action
            self._lstrip_think = True
        elif isinstance(action, _Call):
            self._mode = _Mode.CALL
            self._opener = marker
            self._scanner = action.scanner
        elif isinstance(action, _HarmonyHeader):
            self._mode = _Mode.HARMONY_HEADER
            self._opener = marker
        elif isinstance(action, _FunctionaryHeader):
            self._mode = _Mode.FUNCTIONARY_HEADER
            self._opener = marker
        elif isinstance(action, _Json):
            self._mode = _Mode.MAYBE_JSON

    def _step_text(self, final: bool) -> bool:
        if self._lstrip_text:
            self._buf = self._buf.lstrip()
        buf = self._buf
        if not buf:
            return False
        if not self._answer_started:
            for marker, action in self._start.items():
                if buf.startswith(marker):
                    if not isinstance(action, _Json):
                        self._buf = buf[len(marker) :]
                    self._enter(marker, action)
                    return True
            if not final and any(m.startswith(buf) for m in self._start):
                return False
        found = _earliest(buf, self._anywhere)
        if found is not None:
            pos, marker = found
            if not final and _longer_pending(buf, pos, marker, self._anywhere):
                self._text(buf[:pos])
                self._buf = buf[pos:]
                return False
            self._text(buf[:pos])
            self._buf = buf[pos + len(marker) :]
            self._enter(marker, self._anywhere[marker])
            return True
        hold = 0 if final else _held(buf, self._anywhere)
        self._text(buf[: len(buf) - hold])
        self._buf = buf[len(buf) - hold :]
        return False

    def _step_think(self, final: bool) -> bool:
        if self._lstrip_think:
            self._buf = self._buf.lstrip()
        buf = self._buf
        if not buf:
            return False
        if self._skip_think_opener:
            for opener in self._skip_think_opener:
                if buf.startswith(opener):
                    self._buf = buf[len(opener) :]
                    self._skip_think_opener = ()
                    return True
            if not final and any(o.startswith(buf) for o in self._skip_think_opener):
                return False
            self._skip_think_opener = ()
        closers = dict(self._think.closers)
        markers: dict[str, bool | None] = {m: None for m in self._strip}
        markers.update(closers)
        found = _earliest(buf, markers)
        if found is not None:
            pos, marker = found
            self._thinking(buf[:pos].rstrip())
            consumed = markers[marker]
            if consumed is None:  # an end-of-turn marker inside the reasoning
                self._buf = buf[pos + len(marker) :]
                return True
            self._buf = buf[pos + len(marker) :] if consumed else buf[pos:]
            self._mode = _Mode.TEXT
            self._lstrip_text = True
            return True
        if final:
            self._thinking(buf.rstrip())
            self._buf = ""
            return False
        hold = _held(buf, markers)
        ready = buf[: len(buf) - hold]
        kept = len(ready.rstrip())  # trailing blanks wait: they may end the block
        self._thinking(ready[:kept])
        self._buf = buf[kept:]
        return False

    def _step_call(self, final: bool) -> bool:
        assert self._scanner is not None
        scan = self._scanner(self._buf, final)
        if scan is None:
            return False
        raw = self._opener + self._buf[: scan.end]
        self._buf = self._buf[scan.end :]
        self._mode = _Mode.TEXT
        self._calls(raw, scan)
        return True

    def _step_harmony_header(self, final: bool) -> bool:
        buf = self._buf
        at = buf.find("<|message|>")
        if at < 0:
            if not final and len(buf) <= _HEADER_LIMIT:
                return False
            header = self._opener + buf
            self._buf = ""
            self._mode = _Mode.TEXT
            if "to=" in header:
                self._calls(header, c.Scan(len(buf), None, c.NOTE_UNCLOSED))
            elif not final:  # too long to be a header: it was text after all
                self._answer_started = True
                self._text(header)
            return not final
        header = self._opener + buf[:at]
        self._buf = buf[at + len("<|message|>") :]
        recipient = re.search(r"\bto=([^\s<]+)", header)
        channel = re.search(r"<\|channel\|>\s*([A-Za-z_]+)", header)
        if recipient:
            name = recipient.group(1).removeprefix("functions.")
            self._mode = _Mode.CALL
            self._opener = header + "<|message|>"
            self._scanner = c.harmony_scanner(name)
        elif channel and channel.group(1) == "analysis":
            self._enter("", _THINK_HARMONY)
        else:
            self._mode = _Mode.TEXT
            self._lstrip_text = True
        return True

    def _step_functionary_header(self, final: bool) -> bool:
        buf = self._buf
        at = buf.find("\n")
        line = buf if at < 0 else buf[:at]
        name = line.strip()
        first = self._opener == ""
        valid = _NAME.fullmatch(name) is not None and len(line) <= _HEADER_LIMIT
        if valid and first and name not in ("all", "python", ""):
            valid = not self._tool_names or name in self._tool_names
        if at < 0 and valid and not final:
            return False
        if not valid or (at < 0 and first):
            # Not a recipient line: what follows ">>>" (if anything) is answer text.
            self._mode = _Mode.TEXT
            self._answer_started = self._answer_started or bool(self._opener)
            self._text(self._opener)
            self._opener = ""
            return True
        self._buf = "" if at < 0 else buf[at + 1 :]
        if name in ("all", ""):
            self._mode = _Mode.TEXT
            return True
        self._mode = _Mode.CALL
        self._opener = f"{self._opener}{line}\n" if at >= 0 else f"{self._opener}{line}"
        self._scanner = c.named_json_scanner(name, code_tool=name == "python")
        return True

    def _step_maybe_json(self, final: bool) -> bool:
        buf = self._buf
        allowed = (
            ("name", "type", "function")
            if self._fmt.tools is ToolFormat.LLAMA3
            else ("tool_call", "tool_calls", "response", "name", "function", "type")
        )
        got = c.json_end(buf)
        if got is not None:
            value, end = got
            raw = buf[:end]
            result = self._json_reply(value)
            if result is None:
                return self._json_is_text()
            self._buf = buf[end:]
            self._mode = _Mode.TEXT
            if isinstance(result, str):
                self._text(result)
            else:
                self._calls(raw, result)
            return True
        key = _FIRST_KEY.match(buf)
        if key is not None and key.group(1) not in allowed:
            return self._json_is_text()
        if re.match(r"\{\s*[^\s\"]", buf):
            return self._json_is_text()
        if not final:
            return False
        if key is not None and key.group(1) != "response":
            self._buf = ""
            self._mode = _Mode.TEXT
            self._calls(buf, c.Scan(len(buf), None, c.NOTE_UNCLOSED))
            return False
        return self._json_is_text()

    def _json_is_text(self) -> bool:
        self._mode = _Mode.TEXT
        self._answer_started = True
        return True

    def _json_reply(self, value: Any) -> c.Scan | str | None:
        """A bare JSON reply: its calls, its text ({"response": …}), or None: not a call."""
        if not isinstance(value, dict):
            return None
        generic = self._fmt.tools is ToolFormat.GENERIC_JSON
        try:
            if generic and "tool_call" in value:
                return c.Scan(0, (c.call_from_object(value["tool_call"]),))
            if generic and "tool_calls" in value:
                return c.Scan(0, c.calls_from_json(value["tool_calls"]))
            if generic and isinstance(value.get("response"), str) and len(value) == 1:
                return str(value["response"])
            keys = set(value) - {"type", "id"}
            if "function" in keys and isinstance(value["function"], dict):
                return c.Scan(0, (c.call_from_object(value),))
            if "name" in keys and keys <= {"name", "parameters", "arguments"} and len(keys) == 2:
                if value.get("type", "function") != "function":
                    return None
                return c.Scan(0, (c.call_from_object(value),))
        except c.CallError as e:
            return c.Scan(0, None, e.note)
        return None

    def _step_forced(self, final: bool) -> bool:
        buf = self._buf.lstrip()
        self._buf = buf
        if not buf:
            if final:
                self._mode = _Mode.TEXT
            return False
        got = c.json_end(buf)
        if got is None:
            if not final:
                return False
            self._buf = ""
            self._mode = _Mode.TEXT
            self._calls(buf, c.Scan(len(buf), None, _forced_note(buf)))
            return False
        value, end = got
        raw = buf[:end]
        self._buf = buf[end:]
        self._mode = _Mode.TEXT
        try:
            if isinstance(value, dict) and "tool_call" in value:
                value = value["tool_call"]
            elif isinstance(value, dict) and "tool_calls" in value:
                value = value["tool_calls"]
            scan = c.Scan(end, c.calls_from_json(value))
        except c.CallError as e:
            scan = c.Scan(end, None, e.note)
        self._calls(raw, scan)
        return True


def _forced_note(buf: str) -> str:
    return c.NOTE_BAD_JSON if buf.rstrip().endswith(("}", "]")) else c.NOTE_UNCLOSED


def _earliest(buf: str, markers: Collection[str]) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for marker in markers:
        pos = buf.find(marker)
        if pos < 0:
            continue
        if best is None or pos < best[0] or (pos == best[0] and len(marker) > len(best[1])):
            best = (pos, marker)
    return best


def _longer_pending(buf: str, pos: int, marker: str, markers: Collection[str]) -> bool:
    """A longer marker that starts like this one might still be completed at ``pos``."""
    rest = buf[pos:]
    return any(len(m) > len(rest) and m.startswith(rest) and m != marker for m in markers)


def _held(buf: str, markers: Collection[str]) -> int:
    """How many characters at the end of ``buf`` could begin a marker."""
    longest = 0
    for marker in markers:
        for n in range(min(len(marker) - 1, len(buf)), longest, -1):
            if buf.endswith(marker[:n]):
                longest = n
                break
    return longest


def merge_events(events: Iterable[Event]) -> list[Event]:
    """``events`` with consecutive text (and consecutive thinking) joined."""
    merged: list[Event] = []
    for event in events:
        last = merged[-1] if merged else None
        if isinstance(event, TextDelta) and isinstance(last, TextDelta):
            merged[-1] = TextDelta(last.text + event.text)
        elif isinstance(event, ThinkingDelta) and isinstance(last, ThinkingDelta):
            merged[-1] = ThinkingDelta(last.text + event.text)
        else:
            merged.append(event)
    return merged
