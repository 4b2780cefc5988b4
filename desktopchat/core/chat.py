"""Domain types shared by storage, inference, the CLI and the GUI."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # a tool's result, answering one of the previous reply's tool calls


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"  # still streaming, or interrupted by a crash
    STOPPED = "stopped"  # the user pressed Stop
    ERROR = "error"


class FinishReason(StrEnum):
    STOP = "stop"  # the model ended its turn
    LENGTH = "length"  # max new tokens reached
    CONTEXT = "context"  # the context window is full
    CANCELLED = "cancelled"
    ERROR = "error"


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Make text safe to store and tokenize: lone surrogates (which cannot be encoded as
    UTF-8) become U+FFFD. NUL characters are kept: Python and SQLite parameters carry them."""
    return _SURROGATE.sub("\ufffd", text)


KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")


class Overflow(StrEnum):
    """What happens when the history no longer fits the context."""

    STOP = "stop"  # refuse, say so, and let the user choose
    DROP = "drop"  # leave the oldest turns out (the system prompt always stays)
    SUMMARIZE = "summarize"  # replace the oldest turns by a summary the model writes


Example = tuple[str, str]  # a few-shot example exchange: the user's message, the answer

THINKING_CHOICES = ("", "on", "off", "low", "medium", "high")
# A chat's tool: a built-in's name, or an MCP server's tool as "server:tool" / "server:*".
_TOOL_ENTRY = re.compile(r"[A-Za-z0-9_-]{1,64}(:([A-Za-z0-9_.-]{1,128}|\*))?")


def default_threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@dataclass(frozen=True)
class GenerationParams:
    """Per-conversation settings: the prompt, sampling, and how the model is loaded."""

    system_prompt: str = ""
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    n_ctx: int = 4096
    seed: int = -1  # -1: a new random seed for every reply
    n_threads: int = 0  # 0: automatic
    n_gpu_layers: int = -2  # -2: planned from free VRAM (AUTO_GPU_LAYERS), -1: all, 0: none
    # Advanced, per model: flash attention, and the KV cache's number format. A quantized
    # cache (q8_0, q4_0) halves or quarters its memory; llama.cpp needs flash attention
    # for it.
    flash_attn: bool = False
    kv_cache_type: str = "f16"
    # Few-shot examples, sent after the system prompt and never left out.
    examples: tuple[Example, ...] = ()
    # Structured output: constrain the reply to JSON (to this JSON Schema, when given).
    json_mode: bool = False
    json_schema: str = ""
    overflow: str = Overflow.DROP.value
    # Document collections attached to the chat (ids in the documents library): each
    # message is answered with passages retrieved from them (core/inference/documents_prompt.py).
    documents: tuple[int, ...] = ()
    # Single files attached to the chat (file ids in the documents library: a file of a
    # collection, or one chosen from disk, which the library keeps in its "Attached files"
    # collection). Retrieval searches them beside the attached collections.
    document_files: tuple[int, ...] = ()
    # Thinking models: "" the model's own default, "on", "off", or gpt-oss's effort "low",
    # "medium", "high"; after thinking_budget tokens of thinking (0: no limit) the model is
    # told to answer.
    thinking: str = ""
    thinking_budget: int = 0
    # Tools the model may call in this chat: built-in names ("calculator") and MCP tools as
    # "server:tool" ("server:*": all of that server's). Each call still needs its
    # permission (core/tools/policy.py).
    tools: tuple[str, ...] = ()
    tool_choice: str = "auto"  # "auto", "required", "none", or one tool's name
    max_tool_steps: int = 8  # replies that call tools, at most, before the model must answer

    def __post_init__(self) -> None:
        # However it was made (typed, pasted, read back from JSON), the text is valid.
        object.__setattr__(self, "system_prompt", clean_text(self.system_prompt))
        object.__setattr__(
            self,
            "examples",
            tuple((clean_text(user), clean_text(answer)) for user, answer in self.examples),
        )
        object.__setattr__(self, "documents", tuple(dict.fromkeys(self.documents)))
        object.__setattr__(self, "document_files", tuple(dict.fromkeys(self.document_files)))
        object.__setattr__(self, "tools", tuple(dict.fromkeys(t.strip() for t in self.tools)))

    def validated(self) -> GenerationParams:
        problems = []
        if not 0.0 <= self.temperature <= 5.0:
            problems.append("temperature must be between 0 and 5")
        if self.top_k < 0:
            problems.append("top-k must be 0 (off) or more")
        if not 0.0 <= self.top_p <= 1.0:
            problems.append("top-p must be between 0 and 1")
        if not 0.0 <= self.min_p <= 1.0:
            problems.append("min-p must be between 0 and 1")
        if not 0.0 < self.repeat_penalty <= 5.0:
            problems.append("repeat penalty must be above 0 and at most 5")
        if self.max_tokens < 1:
            problems.append("max new tokens must be at least 1")
        if self.n_ctx < 256:
            problems.append("context length must be at least 256")
        if self.n_threads < 0:
            problems.append("CPU threads must be 0 (automatic) or more")
        if not -1 <= self.seed < 2**32:
            problems.append("the seed must be -1 (random) or between 0 and 4294967295")
        if self.n_gpu_layers < -2:
            problems.append("GPU layers must be -2 (automatic), -1 (all), 0 (none) or more")
        if self.kv_cache_type not in KV_CACHE_TYPES:
            problems.append(f"the KV cache type must be one of {', '.join(KV_CACHE_TYPES)}")
        elif self.kv_cache_type != "f16" and not self.flash_attn:
            problems.append(
                f"a {self.kv_cache_type} KV cache needs flash attention: turn it on, or use f16"
            )
        if self.overflow not in {o.value for o in Overflow}:
            problems.append("the overflow policy must be stop, drop or summarize")
        if not _is_ids(self.documents):
            problems.append("the attached document collections must be positive ids")
        if not _is_ids(self.document_files):
            problems.append("the attached document files must be positive ids")
        if self.thinking not in THINKING_CHOICES:
            problems.append("thinking must be on, off, low, medium or high (or the default)")
        if self.thinking_budget < 0:
            problems.append("the thinking budget must be 0 (no limit) or more tokens")
        if not all(_TOOL_ENTRY.fullmatch(t) for t in self.tools):
            problems.append("tools are named as a built-in tool or as server:tool")
        if self.tool_choice not in ("auto", "required", "none") and not (
            self.tool_choice in self.tools
            or f"{self.tool_choice.partition(':')[0]}:*" in self.tools
        ):
            problems.append("the tool choice must be auto, required, none or one of the tools")
        if not 1 <= self.max_tool_steps <= 100:
            problems.append("tool steps must be between 1 and 100")
        if self.json_mode and self.json_schema.strip():
            problem = json_schema_problem(self.json_schema)
            if problem:
                problems.append(problem)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def threads(self) -> int:
        """Threads to use: more than the machine has cores only slows llama.cpp down."""
        return min(self.n_threads, os.cpu_count() or 1) if self.n_threads else default_threads()

    def with_changes(self, **changes: Any) -> GenerationParams:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None, base: GenerationParams | None = None) -> GenerationParams:
        """Tolerant: unknown keys are ignored, missing keys come from ``base``."""
        result = base or cls()
        if not text:
            return result
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            return result
        if not isinstance(raw, dict):
            return result
        known = {f.name: f for f in fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            spec = known.get(key)
            if spec is None:
                continue
            kind = type(getattr(result, key))
            if key == "examples":
                if _is_examples(value):
                    changes[key] = tuple((user, answer) for user, answer in value)
            elif key in ("documents", "document_files"):
                if _is_ids(value):
                    changes[key] = tuple(value)  # in order; repeats go in __post_init__
            elif key == "tools":
                if isinstance(value, list) and all(isinstance(t, str) for t in value):
                    changes[key] = tuple(value)
            elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
                changes[key] = float(value)
            elif isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
                changes[key] = value
        return replace(result, **changes)


def _is_examples(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        for pair in value
    )


def _is_ids(value: object) -> bool:
    return isinstance(value, list | tuple) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )


def json_schema_problem(text: str) -> str:
    """Why ``text`` is not a usable JSON Schema ("" when it is)."""
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"the JSON Schema is not valid JSON ({exc.msg}, line {exc.lineno})"
    if not isinstance(schema, dict):
        return 'the JSON Schema must be a JSON object, such as {"type": "object"}'
    problem = _schema_shape_problem(schema, "")
    return f"the JSON Schema {problem}" if problem else ""


_SCHEMA_TYPES = frozenset(("string", "number", "integer", "boolean", "object", "array", "null"))


def _schema_shape_problem(schema: dict[str, object], where: str) -> str:
    at = f" at {where}" if where else ""
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for name in kinds:
        if name not in _SCHEMA_TYPES:
            return f"has the type {name!r}{at}, which is not a JSON type"
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return f'has a "required"{at} that is not a list of property names'
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return f'has "properties"{at} that are not an object'
    subschemas = [(f"{where}/{name}", sub) for name, sub in properties.items()]
    if "items" in schema:
        subschemas.append((f"{where}/items", schema["items"]))
    for path, sub in subschemas:
        if isinstance(sub, bool):
            continue
        if not isinstance(sub, dict):
            return f"has a schema at {path.lstrip('/')} that is not an object"
        problem = _schema_shape_problem(sub, path.lstrip("/"))
        if problem:
            return problem
    return ""


# The settings a preset (a saved assistant) carries; the rest belong to the model.
PRESET_FIELDS = (
    "system_prompt",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "repeat_penalty",
    "max_tokens",
    "seed",
    "examples",
    "json_mode",
    "json_schema",
    "overflow",
    "documents",
    "document_files",
    "thinking",
    "thinking_budget",
    "tools",
    "tool_choice",
    "max_tool_steps",
)


SOURCE_EXCERPT_CHARS = 600  # of a passage's text kept with the reply's stats


@dataclass(frozen=True)
class SourcePassage:
    """One passage of the attached documents that a reply was given, numbered as the prompt
    numbered it (the model cites it as ``[number]``).

    The window's *Sources* list under a reply reads ``Message.stats.documents.sources``
    (stored with the message: there after a restart, ``text`` is an excerpt of at most
    SOURCE_EXCERPT_CHARS); the prompt inspector reads ``PromptRecord.documents.sources``
    (``text`` is the whole passage as the model saw it, with the scores). ``chunk_id`` is
    what ``DocumentLibrary.preview`` takes (a chunk can be gone once its file changed:
    fall back to ``text``)."""

    number: int  # 1-based: [1], [2], ...
    chunk_id: int
    file_id: int
    collection_id: int
    path: str  # the file, absolute
    anchor: str = ""  # Anchor.describe(): "page 3 · Setup › Linux · lines 10-42"
    page: int | None = None
    headings: tuple[str, ...] = ()
    line_start: int | None = None
    line_end: int | None = None
    score: float = 0.0  # the fused score (reciprocal rank fusion), higher is better
    keyword_rank: int | None = None  # 1-based rank in the BM25 list, None: not in it
    vector_rank: int | None = None  # 1-based rank in the vector list, None: not in it
    keyword_score: float | None = None  # BM25 (lower is better, SQLite's convention)
    vector_score: float | None = None  # cosine similarity
    text: str = ""
    tokens: int = 0  # in the chat model's tokens, as counted for the budget

    @property
    def name(self) -> str:
        """The file's name, as the Sources list shows it."""
        return os.path.basename(self.path) or self.path

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SourcePassage:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["headings"] = tuple(values.get("headings") or ())
        return cls(**values)


class DocumentsMode(StrEnum):
    """How the attached documents went into a reply's prompt."""

    PASSAGES = "passages"  # the best passages that fit the budget
    WHOLE = "whole"  # every attached file whole: they fit the budget
    NONE = "none"  # nothing was found (or nothing is indexed yet)


@dataclass(frozen=True)
class DocumentsUse:
    """What the attached document collections and files gave one reply: the mode, the
    budget, the numbered sources and any notices (still indexing, a collection that is
    gone)."""

    mode: str  # a DocumentsMode value
    collection_ids: tuple[int, ...] = ()
    # the share of the context the documents could have (passages: at most
    # documents_prompt.PASSAGES_SHARE of it; whole texts: all that was free)
    budget_tokens: int = 0
    used_tokens: int = 0  # what the documents' text in the prompt took
    sources: tuple[SourcePassage, ...] = ()
    still_indexing: bool = False  # some attached files were not indexed yet
    notes: tuple[str, ...] = ()  # said to the user (the ReplyStarted notices)
    retrieval_seconds: float = 0.0  # the question's embedding and the search
    file_ids: tuple[int, ...] = ()  # the single files attached (GenerationParams.document_files)

    @property
    def whole(self) -> bool:
        return self.mode == DocumentsMode.WHOLE.value

    def excerpted(self) -> DocumentsUse:
        """The same with each source's text cut to an excerpt (what the stats keep)."""
        cut = tuple(
            replace(s, text=_excerpt(s.text)) if len(s.text) > SOURCE_EXCERPT_CHARS else s
            for s in self.sources
        )
        return replace(self, sources=cut)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: object) -> DocumentsUse | None:
        """Tolerant of what an older or newer version wrote; None when it is not one."""
        if not isinstance(raw, dict) or not isinstance(raw.get("mode"), str):
            return None
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        try:
            values["collection_ids"] = tuple(values.get("collection_ids") or ())
            values["notes"] = tuple(values.get("notes") or ())
            values["file_ids"] = tuple(values.get("file_ids") or ())
            values["sources"] = tuple(
                SourcePassage.from_dict(s)
                for s in values.get("sources") or ()
                if isinstance(s, dict)
            )
            return cls(**values)
        except TypeError:
            return None


def _excerpt(text: str) -> str:
    cut = text[:SOURCE_EXCERPT_CHARS]
    space = cut.rfind(" ", SOURCE_EXCERPT_CHARS // 2)
    return (cut[:space] if space > 0 else cut) + " …"


@dataclass(frozen=True)
class GenerationStats:
    prompt_tokens: int = 0
    prompt_evaluated: int | None = None  # tokens llama.cpp evaluated; the rest were reused
    completion_tokens: int = 0
    time_to_first_token: float | None = None  # seconds
    tokens_per_second: float | None = None
    context_size: int = 0
    dropped_messages: int = 0  # oldest messages left out of the prompt
    summarized_messages: int = 0  # oldest messages replaced by a summary
    system_tokens: int = 0  # of prompt_tokens: the system prompt, examples and summary
    template: str = ""
    seed: int | None = None
    documents_tokens: int = 0  # of prompt_tokens: the attached documents' passages
    # What the attached documents gave this reply (sources with excerpts); None: none attached.
    documents: DocumentsUse | None = None
    # Of completion_tokens: the thinking (a thinking model's reasoning), and how long it took.
    reasoning_tokens: int = 0
    reasoning_seconds: float | None = None
    tool_calls: int = 0  # tools this reply called

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> GenerationStats | None:
        if not text:
            return None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError:
            return None
        return cls.from_dict(raw) if isinstance(raw, dict) else None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GenerationStats:
        """Unknown keys are ignored (a newer version's); ``documents`` is rebuilt."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["documents"] = DocumentsUse.from_dict(values.get("documents"))
        return cls(**values)

    @property
    def context_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolCall:
    """One call of a tool that a reply asked for: ``name`` is the tool's name as the model
    saw it (a built-in's name, or ``server__tool`` for an MCP server's), ``arguments`` the
    JSON object it gave. ``id`` pairs the call with its result (a ``Role.TOOL`` message's
    ``tool_call_id``): the model's own id when its format has one, else one we made."""

    id: str
    name: str
    arguments: dict[str, Any]

    def arguments_json(self) -> str:
        return json.dumps(self.arguments, ensure_ascii=False, sort_keys=True)

    def describe(self) -> str:
        """The call as one line, as the chat, the inspector and the exports show it."""
        return f"{self.name}({self.arguments_json()})"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_dict(cls, raw: object) -> ToolCall | None:
        """Tolerant of what another version wrote; None when it is not a call."""
        if not isinstance(raw, dict):
            return None
        name, call_id, arguments = raw.get("name"), raw.get("id", ""), raw.get("arguments")
        if isinstance(arguments, str):  # OpenAI's shape: the arguments as a JSON text
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                return None
        if not isinstance(name, str) or not isinstance(call_id, str):
            return None
        if not isinstance(arguments, dict):
            return None
        return cls(call_id, name, arguments)


def tool_calls_to_json(calls: tuple[ToolCall, ...]) -> str:
    return json.dumps([c.to_dict() for c in calls], ensure_ascii=False) if calls else ""


def tool_calls_from_json(text: str | None) -> tuple[ToolCall, ...]:
    if not text:
        return ()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        return ()
    if not isinstance(raw, list):
        return ()
    return tuple(c for c in map(ToolCall.from_dict, raw) if c is not None)


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    status: MessageStatus
    created_at: float
    model: str = ""
    finish_reason: str = ""
    stats: GenerationStats | None = None
    # A thinking model's reasoning before its answer (``content`` is the answer alone).
    reasoning: str = ""
    # An assistant message: the tools it called (its ``content`` is any text beside them).
    tool_calls: tuple[ToolCall, ...] = ()
    # A Role.TOOL message: the call it answers, and the tool's name.
    tool_call_id: str = ""
    tool_name: str = ""


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    active_leaf_id: int | None
    model_path: str = ""
    params: GenerationParams = field(default_factory=GenerationParams)
    pinned: bool = False
    deleted_at: float | None = None  # in the trash since then
    title_source: str = "message"  # "message" (the first one), "model" or "user"


@dataclass(frozen=True)
class PromptRecord:
    """Exactly what the model received for one reply (the prompt inspector's data)."""

    message_id: int
    text: str  # the rendered chat template
    n_tokens: int
    model: str
    params: GenerationParams
    dropped_messages: int = 0
    summarized_messages: int = 0
    summary: str = ""
    # The attached documents' passages as the model got them (whole texts and scores), for
    # the inspector; None: no documents were attached.
    documents: DocumentsUse | None = None
