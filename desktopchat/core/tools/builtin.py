"""The built-in tools: a calculator, the date and time, searching the user's conversations
and documents, and reading a file from the folders the user chose.

``BuiltinTools`` is the ToolProvider of ``BUILTIN_SOURCE``. It is given what its tools need
(a conversations search, the documents library, the chosen folders), each optional:
``list_tools`` offers only the tools that can work now. What a tool returns is untrusted
text (a message, a document, a file): it goes through ``untrusted_text`` like any tool's.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from desktopchat.core.documents.types import Passage
from desktopchat.core.errors import DesktopChatError, ToolError
from desktopchat.core.storage.search import SNIPPET_MARKS, SearchHit
from desktopchat.core.tools import calculator, files
from desktopchat.core.tools.types import (
    BUILTIN_SOURCE,
    MAX_TOOL_OUTPUT_CHARS,
    ToolOutcome,
    ToolSpec,
    untrusted_text,
)

CALCULATOR = "calculator"
CURRENT_DATETIME = "current_datetime"
SEARCH_CONVERSATIONS = "search_conversations"
SEARCH_DOCUMENTS = "search_documents"
READ_FILE = "read_file"
BUILTIN_TOOL_NAMES = (
    CALCULATOR,
    CURRENT_DATETIME,
    SEARCH_CONVERSATIONS,
    SEARCH_DOCUMENTS,
    READ_FILE,
)

MAX_CONVERSATION_HITS = 20
DEFAULT_CONVERSATION_HITS = 5
MAX_DOCUMENT_PASSAGES = 10
DEFAULT_DOCUMENT_PASSAGES = 5
MAX_PASSAGE_CHARS = 3_000  # of one passage's text (ten of them fit the output's limit)


@dataclass(frozen=True)
class BuiltinToolInfo:
    """A built-in tool as the settings page shows it."""

    name: str
    title: str
    summary: str  # for the user: what it does, what it can see
    needs: str = ""  # what must be set up before it is offered ("" for nothing)


BUILTIN_TOOLS: tuple[BuiltinToolInfo, ...] = (
    BuiltinToolInfo(CALCULATOR, "Calculator", "Works out arithmetic exactly, offline."),
    BuiltinToolInfo(
        CURRENT_DATETIME, "Date and time", "Tells the model today's date, the time and time zone."
    ),
    BuiltinToolInfo(
        SEARCH_CONVERSATIONS,
        "Search conversations",
        "Lets the model search your earlier conversations (titles, dates and short snippets).",
    ),
    BuiltinToolInfo(
        SEARCH_DOCUMENTS,
        "Search documents",
        "Lets the model search the passages of your document collections.",
        needs="a documents library",
    ),
    BuiltinToolInfo(
        READ_FILE,
        "Read files",
        "Lets the model read text files and list folders inside the folders you choose.",
        needs="at least one chosen folder",
    ),
)
BUILTIN_TOOL_TITLES: dict[str, str] = {tool.name: tool.title for tool in BUILTIN_TOOLS}


class DocumentSearch(Protocol):
    """What search_documents needs of the documents library (DocumentLibrary has it)."""

    def search(
        self,
        query: str,
        *,
        collection_ids: Sequence[int] | None = None,
        file_ids: Sequence[int] | None = None,
        limit: int = 10,
    ) -> list[Passage]: ...


ConversationSearch = Callable[[str, int], Sequence[SearchHit]]


class _ArgumentError(ValueError):
    pass


# -- the tools' parameters ----------------------------------------------------------------


def _object(properties: dict[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_QUERY = {
    "type": "string",
    "description": "The words to look for (every word must appear; the last may be the start"
    " of a word).",
}

# Digits, operators and the calculator's own names, nothing else (no prose).
_EXPRESSION_PATTERN = (
    r"^([-+*/%^()., 0-9]|sqrt|log10|log2|log|ln|exp|asin|acos|atan|sin|cos|tan|abs|round"
    r"|floor|ceil|min|max|factorial|pi|tau|e){1,100}$"
)

_PARAMETERS: dict[str, dict[str, Any]] = {
    CALCULATOR: _object(
        {
            "expression": {
                "type": "string",
                "description": "An arithmetic expression, e.g. '(1 + 2) * 3 / 4', '2 ** 10',"
                " 'sqrt(2)', 'log(8, 2)', 'factorial(20)'. Operators: + - * / // % ** (or ^)."
                " Functions: sqrt, log (natural, or log(x, base)), ln, log10, log2, exp, sin,"
                " cos, tan, asin, acos, atan (radians), abs, round, floor, ceil, min, max,"
                " factorial. Constants: pi, e, tau.",
                # What an expression can hold: a model forced to call it (a grammar from
                # this schema) cannot wander off into prose inside the string.
                "pattern": _EXPRESSION_PATTERN,
            }
        },
        ["expression"],
    ),
    CURRENT_DATETIME: _object({}),
    SEARCH_CONVERSATIONS: _object(
        {
            "query": _QUERY,
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_CONVERSATION_HITS,
                "description": f"How many messages to return (default"
                f" {DEFAULT_CONVERSATION_HITS}, at most {MAX_CONVERSATION_HITS}).",
            },
        },
        ["query"],
    ),
    SEARCH_DOCUMENTS: _object(
        {
            "query": {
                "type": "string",
                "description": "What to look for: a question or keywords (found by meaning"
                " and by words).",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_DOCUMENT_PASSAGES,
                "description": f"How many passages to return (default"
                f" {DEFAULT_DOCUMENT_PASSAGES}, at most {MAX_DOCUMENT_PASSAGES}).",
            },
        },
        ["query"],
    ),
    READ_FILE: _object(
        {
            "path": {
                "type": "string",
                "description": "The file or folder to read: an absolute path inside one of the"
                " allowed folders, or a path relative to the first of them. A folder gives"
                " the list of its entries.",
            }
        },
        ["path"],
    ),
}

_DESCRIPTIONS = {
    CALCULATOR: "Evaluate an arithmetic expression exactly. Use it for any calculation"
    " instead of working it out yourself.",
    CURRENT_DATETIME: "The current local date, time, weekday and time zone of the user.",
    SEARCH_CONVERSATIONS: "Search the user's earlier conversations with you by words. Returns"
    " matching messages with the conversation's title, date, who wrote it and a snippet.",
    SEARCH_DOCUMENTS: "Search the user's documents (their indexed files) for passages about"
    " a question. Returns passages with the file name and where in the file they are;"
    " cite the file (and page) when you use a passage.",
    READ_FILE: "Read a text file, or list a folder, inside the folders the user allowed.",
}


# -- the date and time --------------------------------------------------------------------


def local_zone_name() -> str:
    """The IANA name of the local time zone ("Europe/Berlin"), or "" when unknown."""
    name = os.environ.get("TZ", "").lstrip(":")
    if "/" in name and not name.startswith("/"):
        return name
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        marker = "zoneinfo/"
        if marker in target:
            return target.split(marker, 1)[1]
    with contextlib.suppress(OSError):
        return Path("/etc/timezone").read_text(encoding="utf-8").strip()
    return ""


def describe_now(now: datetime) -> str:
    """Date, time, weekday, time zone and offset of ``now`` (an aware local time)."""
    if now.tzinfo is None:
        now = now.astimezone()
    offset = now.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    utc = f"UTC{sign}{hours:02d}:{minutes:02d}"
    abbreviation = now.tzname() or ""
    zone = local_zone_name()
    zone_text = ", ".join(part for part in (zone, abbreviation) if part) or "local time"
    return (
        f"Date: {now:%A}, {now:%Y-%m-%d} ({now:%d %B %Y})\n"
        f"Time: {now:%H:%M:%S}\n"
        f"Time zone: {zone_text} ({utc})\n"
        f"ISO 8601: {now.isoformat(timespec='seconds')}"
    )


# -- the provider -------------------------------------------------------------------------


class BuiltinTools:
    """The built-in tools, as a ToolProvider.

    ``search_conversations(query, limit)`` searches the conversations (the store's
    full-text search: ``ConversationRepository.search``; the call comes on the tool's
    thread, so it should open that thread's own store); ``documents`` is the documents
    library and ``collection_ids`` (when given) which collections it searches (None: all);
    ``folders`` gives the folders read_file may read (none: the tool is not offered);
    ``current_conversation`` (when given) names the conversation whose own messages
    search_conversations leaves out; ``now`` is the clock (tests)."""

    def __init__(
        self,
        *,
        search_conversations: ConversationSearch | None = None,
        documents: DocumentSearch | None = None,
        collection_ids: Callable[[], Sequence[int] | None] | None = None,
        folders: Callable[[], Sequence[Path]] | None = None,
        current_conversation: Callable[[], int | None] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._search_conversations = search_conversations
        self._documents = documents
        self._collection_ids = collection_ids
        self._folders = folders
        self._current_conversation = current_conversation
        self._now = now or (lambda: datetime.now().astimezone())

    @property
    def source(self) -> str:
        return BUILTIN_SOURCE

    def folders(self) -> list[Path]:
        return list(self._folders()) if self._folders is not None else []

    def available(self) -> list[str]:
        """The names of the tools that can work now, in BUILTIN_TOOL_NAMES's order."""
        names = [CALCULATOR, CURRENT_DATETIME]
        if self._search_conversations is not None:
            names.append(SEARCH_CONVERSATIONS)
        if self._documents is not None:
            names.append(SEARCH_DOCUMENTS)
        if self.folders():
            names.append(READ_FILE)
        return names

    def list_tools(self) -> list[ToolSpec]:
        return [self._spec(name) for name in self.available()]

    def _spec(self, name: str) -> ToolSpec:
        description = _DESCRIPTIONS[name]
        if name == READ_FILE:
            allowed = ", ".join(str(folder) for folder in self.folders())
            description = f"{description} Allowed folders: {allowed}."
        return ToolSpec(
            name=name,
            description=description,
            parameters=_PARAMETERS[name],
            source=BUILTIN_SOURCE,
            title=BUILTIN_TOOL_TITLES[name],
        )

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        if name not in BUILTIN_TOOL_NAMES:
            raise ToolError(f"There is no built-in tool named “{name}”.")
        if name not in self.available():
            return _outcome(f"The tool {name} is not available now.", error=True)
        if cancel.is_set():
            return _outcome("The call was cancelled.", error=True)
        try:
            text = self._run(name, arguments)
        except (ValueError, DesktopChatError) as error:  # argument errors and the tools' own
            return _outcome(f"{name} failed: {error}", error=True)
        return _outcome(text)

    def _run(self, name: str, arguments: dict[str, Any]) -> str:
        if name == CALCULATOR:
            expression = _string(arguments, "expression")
            return calculator.evaluate(expression)
        if name == CURRENT_DATETIME:
            return describe_now(self._now())
        if name == SEARCH_CONVERSATIONS:
            query = _string(arguments, "query")
            limit = _limit(arguments, DEFAULT_CONVERSATION_HITS, MAX_CONVERSATION_HITS)
            return self._conversations(query, limit)
        if name == SEARCH_DOCUMENTS:
            query = _string(arguments, "query")
            limit = _limit(arguments, DEFAULT_DOCUMENT_PASSAGES, MAX_DOCUMENT_PASSAGES)
            return self._passages(query, limit)
        path = _string(arguments, "path")
        return files.read_file(path, self.folders(), MAX_TOOL_OUTPUT_CHARS - 200)

    def _conversations(self, query: str, limit: int) -> str:
        assert self._search_conversations is not None
        current = self._current_conversation() if self._current_conversation else None
        wanted = limit if current is None else limit + MAX_CONVERSATION_HITS
        hits = [
            h for h in self._search_conversations(query, wanted) if h.conversation_id != current
        ]
        hits = hits[:limit]
        if not hits:
            return f"No messages in the user's conversations match “{query}”."
        start, end = SNIPPET_MARKS
        lines = [f"{len(hits)} matching messages in the user's conversations, best first:"]
        for number, hit in enumerate(hits, 1):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(hit.created_at))
            snippet = " ".join(hit.snippet.replace(start, "").replace(end, "").split())
            lines.append(
                f"\n[{number}] “{hit.title}” (conversation {hit.conversation_id}), {when},"
                f" {hit.role.value}:\n{snippet}"
            )
        return "\n".join(lines)

    def _passages(self, query: str, limit: int) -> str:
        assert self._documents is not None
        scope = self._collection_ids() if self._collection_ids else None
        passages = self._documents.search(query, collection_ids=scope, limit=limit)[:limit]
        if not passages:
            return f"No passages in the user's documents match “{query}”."
        lines = [
            f"{len(passages)} passages from the user's documents, best first. When you use"
            " one, cite its file name (and page or place)."
        ]
        for number, passage in enumerate(passages, 1):
            place = passage.anchor.describe()
            where = f"{passage.path.name}" + (f", {place}" if place else "")
            text = passage.text.strip()
            if len(text) > MAX_PASSAGE_CHARS:
                text = text[:MAX_PASSAGE_CHARS] + " […]"
            lines.append(f"\n[{number}] {where} ({passage.path}):\n{text}")
        return "\n".join(lines)


def _outcome(text: str, *, error: bool = False) -> ToolOutcome:
    clean, truncated = untrusted_text(text)
    return ToolOutcome(clean, is_error=error, truncated=truncated)


def _string(arguments: dict[str, Any], key: str) -> str:
    if key not in arguments or arguments[key] is None:
        raise _ArgumentError(f"the argument “{key}” is missing")
    value = arguments[key]
    if not isinstance(value, str):
        raise _ArgumentError(f"the argument “{key}” must be a string")
    if not value.strip():
        raise _ArgumentError(f"the argument “{key}” is empty")
    return value


def _limit(arguments: dict[str, Any], default: int, most: int) -> int:
    value = arguments.get("limit")
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ArgumentError("the argument “limit” must be a whole number")
    return max(1, min(value, most))
