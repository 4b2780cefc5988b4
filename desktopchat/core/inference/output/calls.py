"""Reading one tool call's body, for each format's call syntax.

A *scanner* looks at the text after a call's opening marker and says whether the call is
complete: ``None`` (wait for more), or a :class:`Scan` with how many characters the call
took and either the calls it holds or why it could not be read. With ``final`` (the end of
the stream) a scanner always answers.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# One call as read: the tool's name, its arguments, and the model's own id (None: make one).
RawCall = tuple[str, dict[str, Any], str | None]

NOTE_BAD_JSON = "the call's arguments are not valid JSON"
NOTE_NOT_OBJECT = "the call's arguments are not a JSON object"
NOTE_NO_NAME = "the call names no tool"
NOTE_UNCLOSED = "the call was not closed before the reply ended"
NOTE_SHAPE = "the call is not in the format's shape"


class CallError(ValueError):
    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


@dataclass(frozen=True)
class Scan:
    end: int  # characters of the body the call took (its closing marker included)
    calls: tuple[RawCall, ...] | None  # None: unreadable, see note
    note: str = ""


Scanner = Callable[[str, bool], Scan | None]

_decoder = json.JSONDecoder()
_WS = re.compile(r"\s*")


def _loads(text: str) -> Any:
    try:
        value, end = _decoder.raw_decode(text.strip())
    except json.JSONDecodeError as e:
        raise CallError(NOTE_BAD_JSON) from e
    if text.strip()[end:].strip():
        raise CallError(NOTE_BAD_JSON)
    return value


def json_end(text: str, start: int = 0) -> tuple[Any, int] | None:
    """The JSON value starting at ``start`` (after whitespace) and where it ends; None while
    it is incomplete or not JSON."""
    i = _WS.match(text, start)
    pos = i.end() if i else start
    try:
        return _decoder.raw_decode(text, pos)
    except json.JSONDecodeError:
        return None


def arguments_of(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # OpenAI's shape: the arguments as a JSON text
        if not value.strip():
            return {}
        value = _loads(value)
    if not isinstance(value, dict):
        raise CallError(NOTE_NOT_OBJECT)
    return value


def call_from_object(obj: Any) -> RawCall:
    """{"name", "arguments"|"parameters", "id"?}, Command R's {"tool_name", "parameters",
    "tool_call_id"} and OpenAI's {"type": "function", "function": {…}, "id"}."""
    if not isinstance(obj, dict):
        raise CallError(NOTE_SHAPE)
    inner = obj.get("function")
    if isinstance(inner, dict) and "name" in inner:
        merged = dict(inner)
        if "id" in obj:
            merged.setdefault("id", obj["id"])
        obj = merged
    name = obj.get("name", obj.get("tool_name"))
    if not isinstance(name, str) or not name.strip():
        raise CallError(NOTE_NO_NAME)
    if "arguments" in obj:
        arguments = arguments_of(obj["arguments"])
    else:
        arguments = arguments_of(obj.get("parameters"))
    own_id = obj.get("id", obj.get("tool_call_id"))
    return name.strip(), arguments, (str(own_id) if own_id not in (None, "") else None)


def calls_from_json(value: Any) -> tuple[RawCall, ...]:
    if isinstance(value, list):
        if not value:
            raise CallError(NOTE_SHAPE)
        return tuple(call_from_object(item) for item in value)
    return (call_from_object(value),)


def _strip_fence(text: str) -> str:
    s = text.strip()
    m = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", s, re.DOTALL)
    return m.group(1) if m else s


def _scan(end: int, read: Callable[[], tuple[RawCall, ...]]) -> Scan:
    try:
        return Scan(end, read())
    except CallError as e:
        return Scan(end, None, e.note)


def closed_by(
    closers: tuple[str, ...],
    read: Callable[[str], tuple[RawCall, ...]],
    *,
    eos_closes: bool = False,
) -> Scanner:
    """A call that ends at the first of ``closers`` (or, with ``eos_closes``, at the end of
    the stream: the closer is a stop token the engine does not pass on)."""

    def scan(body: str, final: bool) -> Scan | None:
        hits = [(body.find(c), c) for c in closers if c in body]
        if hits:
            pos, closer = min(hits, key=lambda h: (h[0], -len(h[1])))
            payload = body[:pos]
            return _scan(pos + len(closer), lambda: read(payload))
        if not final:
            return None
        if eos_closes:
            return _scan(len(body), lambda: read(body))
        return Scan(len(body), None, NOTE_UNCLOSED)

    return scan


def json_body(payload: str) -> tuple[RawCall, ...]:
    return calls_from_json(_loads(_strip_fence(payload)))


def json_ended(
    read: Callable[[Any], tuple[RawCall, ...]] = calls_from_json,
) -> Scanner:
    """A call that is one JSON value (object or list) and ends where that value does."""

    def scan(body: str, final: bool) -> Scan | None:
        got = json_end(body)
        if got is not None:
            value, end = got
            return _scan(end, lambda: read(value))
        if not final:
            return None
        note = NOTE_UNCLOSED if body.strip() else NOTE_SHAPE
        try:
            _loads(body)
        except CallError:
            note = NOTE_BAD_JSON if _looks_complete(body) else note
        return Scan(len(body), None, note)

    return scan


def _looks_complete(body: str) -> bool:
    s = body.rstrip()
    return s.endswith(("}", "]"))


# --- format-specific bodies ---------------------------------------------------------


def hermes_body(payload: str) -> tuple[RawCall, ...]:
    return json_body(payload)


def function_tag_body(payload: str) -> tuple[RawCall, ...]:
    """After "<function=": NAME>{json} (Functionary v3.1, Qwen 2.5 Coder in Hermes)."""
    name, sep, rest = payload.partition(">")
    if not sep or not name.strip():
        raise CallError(NOTE_NO_NAME)
    return ((name.strip().strip("\"'"), arguments_of(_loads(rest) if rest.strip() else {}), None),)


_PY_CALL = re.compile(r"\s*([A-Za-z_][\w.]*)\.call\((.*)\)\s*", re.DOTALL)


def python_tag_body(payload: str) -> tuple[RawCall, ...]:
    """After <|python_tag|>: a JSON call, name.call(a=1, b="x"), or raw Python code."""
    text = payload.strip()
    if text.startswith(("{", "[")):
        return json_body(text)
    m = _PY_CALL.fullmatch(text)
    if m:
        try:
            node = ast.parse(f"f({m.group(2)})", mode="eval").body
            assert isinstance(node, ast.Call)
            if node.args:
                raise CallError(NOTE_SHAPE)
            arguments = {
                kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None
            }
        except (SyntaxError, ValueError) as e:
            raise CallError(NOTE_BAD_JSON) from e
        return ((m.group(1), arguments, None),)
    if not text:
        raise CallError(NOTE_SHAPE)
    return (("python", {"code": text}, None),)


def mistral_scanner(body: str, final: bool) -> Scan | None:
    """After [TOOL_CALLS]: a JSON list of calls, or NAME[ARGS]{json} or
    NAME[CALL_ID]ID[ARGS]{json} (Mistral Small 3.2, Magistral, Devstral)."""
    stripped = body.lstrip()
    if stripped.startswith(("[", "{")):
        return json_ended()(body, final)
    args_at = body.find("[ARGS]")
    if args_at < 0:
        if final:
            return Scan(len(body), None, NOTE_UNCLOSED)
        return None
    head = body[:args_at]
    name, _, own_id = head.partition("[CALL_ID]")
    got = json_end(body, args_at + len("[ARGS]"))
    if got is None:
        if final:
            note = NOTE_BAD_JSON if _looks_complete(body) else NOTE_UNCLOSED
            return Scan(len(body), None, note)
        return None
    value, end = got

    def read() -> tuple[RawCall, ...]:
        if not name.strip():
            raise CallError(NOTE_NO_NAME)
        return ((name.strip(), arguments_of(value), own_id.strip() or None),)

    return _scan(end, read)


def command_r_body(payload: str) -> tuple[RawCall, ...]:
    calls = json_body(payload)
    # Command R+'s way of saying "no tool": not a call at all.
    return tuple(c for c in calls if c[0] not in ("directly_answer", "directly-answer"))


def deepseek_body(payload: str) -> tuple[RawCall, ...]:
    """R1: function<｜tool▁sep｜>NAME\\n```json\\n{…}\\n```; V3.1: NAME<｜tool▁sep｜>{…}."""
    left, sep, right = payload.partition("<｜tool▁sep｜>")
    if not sep:
        raise CallError(NOTE_SHAPE)
    if left.strip() == "function":
        name, _, rest = right.partition("\n")
        if not rest.strip() and "{" in name:  # function<｜tool▁sep｜>NAME{…} on one line
            name, brace, rest = name.partition("{")
            rest = brace + rest
    else:
        name, rest = left, right
    if not name.strip():
        raise CallError(NOTE_NO_NAME)
    body = _strip_fence(rest)
    return ((name.strip(), arguments_of(_loads(body) if body.strip() else {}), None),)


def named_json_scanner(name: str, *, code_tool: bool = False) -> Scanner:
    """Functionary v3.2's >>>NAME\\n{json}: the body is the JSON value. For ``python`` the
    body is raw code up to the next >>> (or the end)."""

    def scan(body: str, final: bool) -> Scan | None:
        if code_tool:
            at = body.find(">>>")
            if at < 0 and not final:
                return None
            end = at if at >= 0 else len(body)
            code = body[:end].strip()
            return Scan(end, (("python", {"code": code}, None),) if code else None, NOTE_SHAPE)
        got = json_end(body)
        if got is None:
            if not final:
                return None
            note = NOTE_BAD_JSON if body.strip() else NOTE_UNCLOSED
            return Scan(len(body), None, note)
        value, end = got
        return _scan(end, lambda: ((name, arguments_of(value), None),))

    return scan


def harmony_scanner(name: str) -> Scanner:
    def read(payload: str) -> tuple[RawCall, ...]:
        text = payload.strip()
        return ((name, arguments_of(_loads(text) if text else {}), None),)

    return closed_by(("<|call|>", "<|end|>", "<|return|>"), read, eos_closes=True)
