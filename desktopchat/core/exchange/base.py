"""What every part of the exchange package shares: the error, a conversation as it travels
(``Exported``), what an import left out and why (``Skipped``), and the breadth-first order
of a parent-linked tree that our JSON and the ChatGPT import both need."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from desktopchat.core.chat import Conversation, Message
from desktopchat.core.errors import DesktopChatError

K = TypeVar("K")

Exported = tuple[Conversation, list[Message]]  # a conversation and every message, parents first


class ExchangeError(DesktopChatError):
    """A file to import cannot be read as conversations (nothing was stored)."""


@dataclass(frozen=True)
class Skipped:
    """A conversation in the file that holds nothing to import, and why."""

    title: str
    reason: str  # "without a message tree", "without messages", ...


@dataclass(frozen=True)
class Found:
    """What a file holds: the conversations to import and those left out."""

    conversations: list[Exported]
    skipped: list[Skipped]


def top_down(parents: dict[K, K | None]) -> list[K]:
    """The keys, parents before children: breadth-first from the roots (a key whose
    parent is None or not among the keys). Keys in a loop are left out."""
    children: dict[K | None, list[K]] = {}
    for key, parent in parents.items():
        children.setdefault(parent if parent in parents else None, []).append(key)
    order: list[K] = []
    queue = collections.deque(children.get(None, []))
    while queue:
        key = queue.popleft()
        order.append(key)
        queue.extend(children.get(key, []))
    return order


def skipped_summary(skipped: Sequence[Skipped]) -> str:
    """'3 conversations left out: 2 without a message tree, 1 without messages'."""
    counts = collections.Counter(s.reason for s in skipped)
    reasons = ", ".join(f"{n} {reason}" for reason, n in counts.most_common())
    noun = "conversation" if len(skipped) == 1 else "conversations"
    return f"{len(skipped)} {noun} left out: {reasons}"
