"""Markdown and self-contained HTML exports: what the window shows, each conversation's
active branch with its system prompt and the Sources under replies answered from
documents, for reading and sharing (not for import)."""

from __future__ import annotations

import datetime
import html
import re

from desktopchat.core.chat import Conversation, Message, MessageStatus, Role
from desktopchat.core.exchange.base import Exported


def active_branch(conversation: Conversation, messages: list[Message]) -> list[Message]:
    by_id = {m.id: m for m in messages}
    branch = []
    current = by_id.get(conversation.active_leaf_id or -1)
    while current is not None:
        branch.append(current)
        current = by_id.get(current.parent_id or -1)
    return branch[::-1]


_NAMES = {
    Role.SYSTEM: "System",
    Role.USER: "You",
    Role.ASSISTANT: "Assistant",
    Role.TOOL: "Tool result",
}


def _who(message: Message) -> str:
    status = _STATUS.get(message.status)
    name = _NAMES[message.role]
    if message.role is Role.TOOL and message.tool_name:
        name = f"{name}: {message.tool_name}"
    return name + (f" ({status})" if status else "")


def _calls(message: Message) -> list[str]:
    return [c.describe() for c in message.tool_calls]


def _fenced(text: str) -> str:
    """``text`` as a fenced block no backticks inside can close (a tool's output)."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, run + 1)
    return f"{fence}text\n{text}\n{fence}"


_STATUS = {
    MessageStatus.STOPPED: "stopped",
    MessageStatus.PARTIAL: "interrupted",
    MessageStatus.ERROR: "failed",
}


def to_markdown(conversations: list[Exported]) -> str:
    parts = []
    for conversation, messages in conversations:
        lines = [f"# {conversation.title}", "", f"*{_when(conversation.created_at)}*"]
        if conversation.model_path:
            lines[-1] += f" · model `{conversation.model_path.rsplit('/', 1)[-1]}`"
        if conversation.params.system_prompt:
            lines += ["", "**System prompt:**", "", _quote(conversation.params.system_prompt)]
        for message in active_branch(conversation, messages):
            lines += ["", f"## {_who(message)}"]
            if message.reasoning:
                lines += ["", "**Thinking:**", "", _quote(message.reasoning)]
            if message.role is Role.TOOL:
                lines += ["", _fenced(message.content)]
            elif message.content:
                lines += ["", message.content]
            calls = _calls(message)
            if calls:
                lines += ["", "**Tool calls:**", "", *(f"- `{c}`" for c in calls)]
            sources = source_lines(message)
            if sources:
                lines += ["", "**Sources:**", "", *(f"- {line}" for line in sources)]
        parts.append("\n".join(lines) + "\n")
    return "\n---\n\n".join(parts)


_STYLE = """
body { font: 16px/1.55 system-ui, sans-serif; max-width: 46em; margin: 2em auto;
       padding: 0 1em; color: #1f2328; background: #fff; }
h1 { font-size: 1.5em; margin-top: 2em; } .meta { color: #57606a; }
.message { margin: 1em 0; padding: .6em .9em; border-radius: 8px; }
.user { background: #ddf4ff; } .assistant { background: #f6f8fa; }
.system { background: #fff8c5; } .who { font-weight: 600; margin-bottom: .3em; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background: #0d1117; } .meta { color: #8d96a0; }
  .user { background: #0c2d6b; } .assistant { background: #161b22; }
  .system { background: #3b2e00; }
}
"""


def to_html(conversations: list[Exported]) -> str:
    """One self-contained page (no scripts, no external files)."""
    body = []
    for conversation, messages in conversations:
        body.append(f"<h1>{html.escape(conversation.title)}</h1>")
        meta = _when(conversation.created_at)
        if conversation.model_path:
            meta += f" · model {conversation.model_path.rsplit('/', 1)[-1]}"
        body.append(f'<p class="meta">{html.escape(meta)}</p>')
        shown = active_branch(conversation, messages)
        if conversation.params.system_prompt:
            shown = [
                Message(
                    0,
                    conversation.id,
                    None,
                    Role.SYSTEM,
                    conversation.params.system_prompt,
                    MessageStatus.COMPLETE,
                    0.0,
                ),
                *shown,
            ]
        for message in shown:
            who = _who(message)
            reasoning = (
                f'<details class="reasoning"><summary>Thinking</summary><div class="text">'
                f"{html.escape(message.reasoning)}</div></details>"
                if message.reasoning
                else ""
            )
            calls = "".join(f"<li><code>{html.escape(c)}</code></li>" for c in _calls(message))
            if calls:
                calls = f'<p class="who">Tool calls</p><ul class="calls">{calls}</ul>'
            sources = "".join(f"<li>{html.escape(line)}</li>" for line in source_lines(message))
            body.append(
                f'<div class="message {message.role.value}"><div class="who">'
                f"{html.escape(who)}</div>{reasoning}"
                f'<div class="text">{html.escape(message.content)}</div>{calls}'
                + (
                    f'<p class="who">Sources</p><ul class="sources">{sources}</ul>'
                    if sources
                    else ""
                )
                + "</div>"
            )
    title = conversations[0][0].title if len(conversations) == 1 else "Conversations"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} — DesktopChat</title><style>{_STYLE}</style>"
        "</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def source_lines(message: Message) -> list[str]:
    """``[2] manual.pdf (page 4 · Setup)`` for each source the reply was given."""
    documents = message.stats.documents if message.stats is not None else None
    if documents is None:
        return []
    return [
        f"[{s.number}] {s.name}" + (f" ({s.anchor})" if s.anchor else "") for s in documents.sources
    ]


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines())
