"""Conversations in and out, as files: the entry points the CLI and the window call.

- ``export_file``: Markdown, self-contained HTML (``pages``) or our JSON (``ours``).
- ``import_file``: our JSON, a ChatGPT conversations.json, or the ChatGPT data export
  .zip as downloaded (``archive`` reads it, ``chatgpt`` converts it). Conversations that
  hold nothing to import are reported in the result, not refused.

The parts: ``base`` (the error, shared types), ``ours`` (our versioned JSON format),
``pages`` (Markdown and HTML), ``chatgpt`` (ChatGPT's conversation trees), ``archive``
(reading a file or a .zip within limits).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from desktopchat.core.exchange.archive import Limits, Source, read_source
from desktopchat.core.exchange.base import (
    ExchangeError,
    Exported,
    Found,
    Skipped,
    skipped_summary,
)
from desktopchat.core.exchange.chatgpt import asset_names, is_chatgpt, read_conversations
from desktopchat.core.exchange.ours import (
    FORMAT,
    VERSION,
    from_json,
    is_ours,
    message_json,
    to_json,
)
from desktopchat.core.exchange.pages import active_branch, to_html, to_markdown
from desktopchat.core.storage.repositories import ConversationRepository

__all__ = [
    "FORMAT",
    "VERSION",
    "WRITERS",
    "ExchangeError",
    "Exported",
    "Found",
    "ImportResult",
    "Limits",
    "NothingToImportError",
    "Skipped",
    "Source",
    "active_branch",
    "export_file",
    "import_file",
    "message_json",
    "parse",
    "read_file",
    "read_source",
    "to_html",
    "to_json",
    "to_markdown",
]


class ImportResult(tuple[list[int], int]):
    """What an import stored. It unpacks as before, ``ids, messages = result`` (the new
    conversations' ids and how many messages they hold); ``skipped`` lists the
    conversations of the file that held nothing to import, and why."""

    skipped: tuple[Skipped, ...]

    def __new__(
        cls, ids: list[int], messages: int, skipped: Sequence[Skipped] = ()
    ) -> ImportResult:
        result = super().__new__(cls, (ids, messages))
        result.skipped = tuple(skipped)
        return result

    @property
    def ids(self) -> list[int]:
        return self[0]

    @property
    def messages(self) -> int:
        return self[1]

    def summary(self) -> str:
        """One line for the user: 'Imported 3 conversations (12 messages); 1 conversation
        left out: 1 without a message tree.'"""
        count = len(self.ids)
        line = (
            f"Imported {count} conversation{'s' if count != 1 else ''} "
            f"({self.messages:,} message{'s' if self.messages != 1 else ''})"
        )
        return line + (f"; {skipped_summary(self.skipped)}." if self.skipped else ".")


class NothingToImportError(ExchangeError):
    """The file holds conversations, but none with anything to import."""

    def __init__(self, name: str, skipped: Sequence[Skipped]) -> None:
        titles = ", ".join(f"“{s.title}”" for s in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        super().__init__(
            f"Nothing in {name} could be imported: {skipped_summary(skipped)} ({titles}{more})."
        )
        self.skipped = tuple(skipped)


def parse(text: str) -> list[Exported]:
    """Conversations from our JSON or a ChatGPT conversations.json; raises ExchangeError.
    (ChatGPT conversations with nothing to import are left out: ``read_file`` says which.)"""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ExchangeError(f"The file is not JSON ({exc}).") from None
    return _found([("The file", data)], []).conversations


def read_file(path: Path, limits: Limits | None = None) -> Found:
    """What ``path`` holds (our JSON, a ChatGPT conversations.json or data export .zip),
    without storing anything; raises ExchangeError when it is none of them or damaged."""
    source = read_source(path, limits or Limits())
    found = _found(source.documents, source.members)
    if not found.conversations and found.skipped:
        raise NothingToImportError(path.name, found.skipped)
    return found


def _found(documents: list[tuple[str, object]], members: list[str]) -> Found:
    conversations: list[Exported] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    assets = asset_names(members)
    for name, data in documents:
        if is_ours(data) and isinstance(data, dict):
            conversations += from_json(data)
        elif is_chatgpt(data) and isinstance(data, list):
            unique = [c for c in data if not _seen_before(c, seen)]
            found = read_conversations(unique, assets)
            conversations += found.conversations
            skipped += found.skipped
        else:
            raise ExchangeError(
                f"{name} is neither a DesktopChat export nor a ChatGPT conversations.json."
            )
    return Found(conversations, skipped)


def _seen_before(raw: object, seen: set[str]) -> bool:
    """The same conversation twice (an archive with both conversations.json and its
    numbered parts): kept once."""
    if not isinstance(raw, dict):
        return False
    key = raw.get("conversation_id") or raw.get("id")
    if not isinstance(key, str) or not key:
        return False
    if key in seen:
        return True
    seen.add(key)
    return False


WRITERS = {"md": to_markdown, "html": to_html, "json": to_json}


def export_file(repo: ConversationRepository, ids: list[int] | None, fmt: str, out: Path) -> int:
    """Write conversations ``ids`` (None: every one not in the trash) to ``out`` as
    ``fmt`` (md, html or json). Returns how many were written."""
    wanted = ids if ids is not None else [c.id for c in repo.summaries("")]
    conversations = [(repo.get(i), repo.all_messages(i)) for i in wanted]
    try:
        out.write_text(WRITERS[fmt](conversations), encoding="utf-8")
    except OSError as exc:
        raise ExchangeError(f"Cannot write {out}: {exc.strerror or exc}.") from None
    return len(conversations)


def import_file(
    repo: ConversationRepository, path: Path, *, limits: Limits | None = None
) -> ImportResult:
    """Add the conversations in ``path`` (our JSON, ChatGPT's conversations.json, or
    ChatGPT's data export .zip). The whole file is read and checked before anything is
    stored. Returns the new conversations' ids and how many messages they hold, with the
    conversations left out (``.skipped``); raises ExchangeError when the file cannot be
    read, NothingToImportError when none of its conversations has content."""
    found = read_file(path, limits)
    ids = [repo.restore(conversation, messages) for conversation, messages in found.conversations]
    return ImportResult(ids, sum(len(m) for _c, m in found.conversations), found.skipped)
