"""ChatGPT's data export (conversations.json, or conversations-000.json, -001.json... of
the 2025-2026 archives) as our conversations.

Each ChatGPT conversation is a tree of nodes (``mapping``) with ``current_node`` the
leaf shown. One reply there is often a chain of nodes: the model's thoughts, a reasoning
recap, code sent to the Python tool, the tool's output, then the answer. Such a chain
becomes one assistant message here, its parts kept in order as readable text; siblings
(edits and regenerations) stay siblings, our branches. What the user never saw is left
out: hidden messages, tool calls to search and other tools, tool messages of plain text
(search results, memory notes), memory contexts. The custom instructions become the
conversation's system prompt; a canvas the model wrote is kept as its document. Images,
audio and files become placeholders such as "[image: file-abc-cat.png]" (named after
the file in the archive when it is there).

A conversation that holds nothing to import (no ``mapping``, only hidden or system
messages, damaged) is reported as skipped; it never makes the whole file refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from desktopchat.core.chat import (
    Conversation,
    GenerationParams,
    Message,
    MessageStatus,
    Role,
    clean_text,
)
from desktopchat.core.exchange.base import Exported, Found, Skipped, top_down

# Keys one of which every ChatGPT conversation carries (older and newer exports).
_MARKS = ("mapping", "current_node", "conversation_id", "default_model_slug")
_CITATION = re.compile("\ue200[^\ue201]*\ue201")  # a private-use citation marker
_ASSET_KEY = re.compile(r"^(file[-_][A-Za-z0-9]+)")
_CODE_TOOLS = ("python", "python_user_visible")
_FINISH = {"stop": "stop", "max_tokens": "length", "interrupted": "cancelled"}


def is_chatgpt(data: object) -> bool:
    """A list of conversations in ChatGPT's shape (an empty list is one too); entries
    that are not conversations are reported when it is read, not refused here."""
    return isinstance(data, list) and (
        not data or any(isinstance(c, dict) and any(m in c for m in _MARKS) for c in data)
    )


def asset_names(member_names: list[str]) -> dict[str, str]:
    """The files of an archive by the id an asset pointer names: "file-abc" (from
    "file-service://file-abc") -> "file-abc-cat.png"."""
    names: dict[str, str] = {}
    for name in member_names:
        base = name.rsplit("/", 1)[-1]
        match = _ASSET_KEY.match(base)
        if match and not name.startswith("__MACOSX/"):
            names.setdefault(match.group(1), base)
    return names


def read_conversations(data: list[Any], assets: Mapping[str, str]) -> Found:
    """Every conversation of a decoded conversations.json that has content; the others
    are reported, not refused."""
    found: list[Exported] = []
    skipped: list[Skipped] = []
    for index, raw in enumerate(data):
        if not isinstance(raw, dict):
            skipped.append(Skipped(f"Conversation {index + 1}", "that are not conversations"))
            continue
        title = _title(raw)
        try:
            result = _conversation(raw, title, assets)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            skipped.append(Skipped(title, f"damaged ({type(exc).__name__})"))
            continue
        if isinstance(result, Skipped):
            skipped.append(result)
        else:
            found.append(result)
    return Found(found, skipped)


def _title(raw: dict[str, Any]) -> str:
    title = raw.get("title")
    return title.strip() if isinstance(title, str) and title.strip() else "ChatGPT conversation"


@dataclass
class _Turn:
    """One of our messages being built from one or more ChatGPT nodes."""

    id: int
    parent_id: int | None
    role: Role
    # (what it is: "" the answer's text, "thoughts" or "recap" its reasoning, the text)
    pieces: list[tuple[str, str]]
    when: float
    model: str = ""
    finish: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(text for kind, text in self.pieces if not kind)

    @property
    def reasoning(self) -> str:
        """The thoughts; the recap ("Thought for 12 seconds") when they are not there."""
        thoughts = [text for kind, text in self.pieces if kind == "thoughts"]
        recap = next((text for kind, text in self.pieces if kind == "recap"), "")
        return "\n\n".join(thoughts) if thoughts else recap


@dataclass
class _Piece:
    """What one node contributes: to a user turn, an assistant turn (assistant and tool
    nodes), a visible system message, or the custom instructions."""

    kind: str  # "user", "assistant", "system", "context"
    text: str
    when: float | None = None
    model: str = ""
    finish: str = ""
    thinking: str = ""  # "thoughts" or "recap": reasoning, not part of the answer


def _conversation(raw: dict[str, Any], title: str, assets: Mapping[str, str]) -> Exported | Skipped:
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict):
        return Skipped(title, "without a message tree")
    nodes = {k: n for k, n in mapping.items() if isinstance(k, str) and isinstance(n, dict)}
    created = _number(raw.get("create_time"))
    default_model = _text(raw.get("default_model_slug"))
    turns: list[_Turn] = []
    # Where each node ends: the turn it belongs to and how many pieces that turn had
    # there (a sibling that forks inside a chain starts a turn of its own).
    at: dict[str, tuple[_Turn | None, int]] = {}
    context = ""
    any_message = False
    order = top_down({k: _text(n.get("parent")) or None for k, n in nodes.items()})
    for key in order:
        node = nodes[key]
        parent = at.get(_text(node.get("parent")), (None, 0))
        message = node.get("message")
        any_message = any_message or isinstance(message, dict)
        piece = _piece(message, assets) if isinstance(message, dict) else None
        if piece is None:
            at[key] = parent
            continue
        if piece.kind == "context":
            context = context or piece.text
            at[key] = parent
            continue
        turn, length = parent
        role = Role(piece.kind)
        if role is Role.ASSISTANT and turn is not None and turn.role is Role.ASSISTANT:
            if len(turn.pieces) != length:  # a fork inside a chain: a sibling turn
                shared = turn
                turn = _new_turn(turns, shared.parent_id, role, shared.pieces[:length], shared.when)
                turn.model = shared.model
            turn.pieces.append((piece.thinking, piece.text))
        else:
            when = piece.when if piece.when is not None else created
            first = [(piece.thinking, piece.text)]
            turn = _new_turn(turns, turn.id if turn else None, role, first, when)
        if role is Role.ASSISTANT:
            turn.model = turn.model or piece.model or default_model
            if piece.finish:
                turn.finish = piece.finish
        at[key] = (turn, len(turn.pieces))
    if not any(t.role in (Role.USER, Role.ASSISTANT) for t in turns):
        reason = "with only hidden or system messages" if any_message else "without messages"
        return Skipped(title, reason)
    leaf = at.get(_text(raw.get("current_node")), (None, 0))[0] or turns[-1]
    messages = [
        Message(
            t.id,
            0,
            t.parent_id,
            t.role,
            t.text,
            MessageStatus.STOPPED if t.finish == "cancelled" else MessageStatus.COMPLETE,
            t.when,
            model=clean_text(t.model),
            finish_reason=t.finish,
            reasoning=t.reasoning,
        )
        for t in turns
    ]
    conversation = Conversation(
        id=0,
        title=title,
        created_at=created,
        updated_at=_number(raw.get("update_time")) or created,
        active_leaf_id=leaf.id,
        params=GenerationParams(system_prompt=clean_text(context)),
    )
    return conversation, messages


def _new_turn(
    turns: list[_Turn],
    parent_id: int | None,
    role: Role,
    pieces: list[tuple[str, str]],
    when: float,
) -> _Turn:
    turn = _Turn(len(turns) + 1, parent_id, role, list(pieces), when)
    turns.append(turn)
    return turn


def _piece(message: dict[str, Any], assets: Mapping[str, str]) -> _Piece | None:
    """The readable text of one node's message, or None when the user never saw it."""
    author = _dict(message.get("author"))
    role = _text(author.get("role"))
    content = _dict(message.get("content"))
    kind = _text(content.get("content_type"))
    meta = _dict(message.get("metadata"))
    if kind == "user_editable_context":  # the custom instructions, hidden but in force
        text = _join(
            _labelled("About me", content.get("user_profile")),
            _labelled("How to respond", content.get("user_instructions")),
        )
        return _Piece("context", text) if text else None
    if meta.get("is_visually_hidden_from_conversation") or kind == "model_editable_context":
        return None
    recipient = _text(message.get("recipient")) or "all"
    text = ""
    if role == "user":
        text = _join(*_parts(content, meta, assets), *_attachments(content, meta, assets))
    elif role == "system":
        text = _join(*_parts(content, meta, assets))
    elif role == "assistant":
        text = _assistant(kind, content, meta, recipient, assets)
    elif role == "tool":
        text = _tool(kind, content, meta, assets)
    text = clean_text(text).strip()
    if not text or role not in ("user", "system", "assistant", "tool"):
        return None
    finish = meta.get("finish_details")
    thinking = ""
    if role == "assistant" and kind in ("thoughts", "reasoning_recap"):
        thinking = "thoughts" if kind == "thoughts" else "recap"
    return _Piece(
        "assistant" if role == "tool" else role,
        text,
        when=_number(message.get("create_time")) or None,
        model=_text(meta.get("model_slug")) or _text(meta.get("default_model_slug")),
        finish=_FINISH.get(_text(finish.get("type")), "") if isinstance(finish, dict) else "",
        thinking=thinking,
    )


def _assistant(
    kind: str,
    content: dict[str, Any],
    meta: dict[str, Any],
    recipient: str,
    assets: Mapping[str, str],
) -> str:
    if kind == "thoughts":
        thoughts = content.get("thoughts")
        blocks = [
            _join(f"**{summary}**" if summary else "", _text(t.get("content")).strip())
            for t in (thoughts if isinstance(thoughts, list) else [])
            if isinstance(t, dict)
            for summary in [_text(t.get("summary")).strip()]
        ]
        return "\n\n".join(b for b in blocks if b)  # the reply's reasoning (see _think)
    if kind == "reasoning_recap":
        return _text(content.get("content")).strip()
    if recipient == "canmore.create_textdoc":  # a canvas: the document the user saw
        return _canvas(_text(content.get("text")) or _join(*_parts(content, meta, assets)))
    if kind == "code":
        if recipient not in _CODE_TOOLS and recipient != "all":
            return ""  # a call to search, the browser, an API: not shown as such
        language = _text(content.get("language"))
        if language in ("", "unknown"):
            language = "python" if recipient in _CODE_TOOLS else ""
        return _fenced(_text(content.get("text")), language)
    if recipient != "all":
        return ""  # a message to a tool
    text = _join(*_parts(content, meta, assets))
    if meta.get("is_thinking_preamble_message"):
        return _quoted(text)
    return text


def _canvas(call: str) -> str:
    """A canvas created by the model: its name and document (code in a fenced block)."""
    try:
        document = json.loads(call)
    except ValueError:
        return ""
    document = _dict(document)
    text, kind = _text(document.get("content")), _text(document.get("type"))
    if not text.strip():
        return ""
    name = _text(document.get("name")).strip() or "untitled"
    body = _fenced(text, kind.split("/", 1)[1]) if kind.startswith("code/") else text.strip()
    return f"[canvas: {name}]\n{body}"


def _tool(
    kind: str, content: dict[str, Any], meta: dict[str, Any], assets: Mapping[str, str]
) -> str:
    """What a tool showed the user: code output, images it made, quoted passages.
    Its plain text (search results, memory notes, file-search notes) is left out."""
    if kind == "execution_output":
        output = _text(content.get("text")).strip("\n")
        return "[output]\n" + _fenced(output, "") if output.strip() else ""
    if kind == "multimodal_text":
        return _join(*_parts(content, meta, assets, images_only=True))
    if kind == "tether_quote":
        quote = _text(content.get("text")).strip()
        source = _text(content.get("title")) or _text(content.get("url"))
        return _quoted(quote + (f"\n— {source}" if source else "")) if quote else ""
    if kind == "tether_browsing_display":
        summary = _text(content.get("summary")).strip()
        return f"[browsed: {summary}]" if summary else ""
    return ""


def _parts(
    content: dict[str, Any],
    meta: dict[str, Any],
    assets: Mapping[str, str],
    images_only: bool = False,
) -> list[str]:
    """The parts of a text or multimodal message: strings, images as placeholders, audio
    as its transcription ("[audio]" when there is none)."""
    parts = content.get("parts")
    if not isinstance(parts, list):
        text = content.get("text")  # a code or other single-text content
        return [_cited(text, meta)] if isinstance(text, str) and not images_only else []
    names = _attachment_names(meta)
    heard = any(
        isinstance(p, dict) and p.get("content_type") == "audio_transcription" for p in parts
    )
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            if not images_only:
                out.append(_cited(part, meta))
            continue
        if not isinstance(part, dict):
            continue
        kind = _text(part.get("content_type"))
        if kind == "image_asset_pointer":
            out.append(_image(part, names, assets))
        elif images_only:
            continue
        elif kind == "audio_transcription":
            out.append(_text(part.get("text")))
        elif kind in ("audio_asset_pointer", "real_time_user_audio_video_asset_pointer"):
            if not heard:
                out.append("[audio]" if kind == "audio_asset_pointer" else "[audio and video]")
        elif kind == "video_container_asset_pointer" and not heard:
            out.append("[video]")
    return out


def _image(part: dict[str, Any], names: Mapping[str, str], assets: Mapping[str, str]) -> str:
    pointer = _text(part.get("asset_pointer"))
    key = pointer.rsplit("://", 1)[-1].split("/")[-1]
    name = assets.get(key) or names.get(key) or key or "unnamed"
    meta = _dict(part.get("metadata"))
    dalle = _dict(meta.get("dalle"))
    prompt = _text(dalle.get("prompt")).strip()
    return f"[image: {name} — {prompt}]" if prompt else f"[image: {name}]"


def _attachment_names(meta: dict[str, Any]) -> dict[str, str]:
    attachments = meta.get("attachments")
    return {
        _text(a.get("id")): _text(a.get("name"))
        for a in (attachments if isinstance(attachments, list) else [])
        if isinstance(a, dict) and _text(a.get("id")) and _text(a.get("name"))
    }


def _attachments(
    content: dict[str, Any], meta: dict[str, Any], assets: Mapping[str, str]
) -> list[str]:
    """Files the user attached that are not images shown in the message: "[file: x]"."""
    parts = content.get("parts")
    shown = {
        _text(p.get("asset_pointer")).rsplit("://", 1)[-1]
        for p in (parts if isinstance(parts, list) else [])
        if isinstance(p, dict)
    }
    return [
        f"[file: {assets.get(key) or name}]"
        for key, name in _attachment_names(meta).items()
        if key not in shown
    ]


def _cited(text: str, meta: dict[str, Any]) -> str:
    """Text with ChatGPT's private-use citation markers replaced by their readable form
    (content_references' ``alt``) or removed."""
    references = meta.get("content_references")
    for reference in references if isinstance(references, list) else []:
        if isinstance(reference, dict):
            matched, alt = reference.get("matched_text"), reference.get("alt")
            if isinstance(matched, str) and matched.strip() and isinstance(alt, str):
                text = text.replace(matched, alt)
    return _CITATION.sub("", text)


def _labelled(label: str, value: object) -> str:
    text = _text(value).strip()
    return f"{label}:\n{text}" if text else ""


def _fenced(code: str, language: str) -> str:
    fence = "```"
    while fence in code:
        fence += "`"
    return f"{fence}{language}\n{code}\n{fence}" if code.strip() else ""


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def _join(*texts: str) -> str:
    return "\n".join(t for t in texts if t and t.strip())


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
