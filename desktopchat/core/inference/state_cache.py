"""Saved KV-cache states of recent conversations, so switching back is instant.

llama.cpp keeps one context. A follow-up in the same conversation reuses it (only the new
tokens are evaluated), but opening another conversation overwrites it. Before that
happens the engine saves the context here (its tokens and llama.cpp's state bytes for
the sequence); when a prompt later starts with one of these token lists, the state is
put back and only the new tail is evaluated. Entries are keyed by tokens, not by
conversation, so a regenerated or edited branch still reuses the longest shared part.
The cache keeps the most recently used few, within a memory budget.
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from dataclasses import dataclass

MAX_ENTRIES = 4
MAX_BYTES = 1 << 30  # 1 GiB of saved contexts at most


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    if not isinstance(a, list):
        a = list(a)
    if not isinstance(b, list):
        b = list(b)
    n = min(len(a), len(b))
    # Compare in halving blocks: slices compare in C, so a 4,000-token prefix costs ~12
    # slice comparisons instead of 4,000 Python steps.
    low, high = 0, n
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


@dataclass(frozen=True)
class SavedState:
    tokens: list[int]
    data: Sized  # llama.cpp's state bytes for the sequence (a ctypes buffer, or bytes)

    @property
    def size(self) -> int:
        return len(self.data) + 4 * len(self.tokens)


class StateCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: list[SavedState] = []  # least recently used first

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self._entries)

    def put(self, tokens: Sequence[int], data: Sized) -> bool:
        """Keep a context; returns False when it is bigger than the whole budget."""
        saved = SavedState(list(tokens), data)
        if saved.size > self.max_bytes or self.max_entries <= 0:
            return False
        # A context this one extends (the same conversation, earlier) is now superseded.
        self._entries = [
            entry
            for entry in self._entries
            if common_prefix(entry.tokens, saved.tokens) < len(entry.tokens)
        ]
        self._entries.append(saved)
        while len(self._entries) > self.max_entries or self.size > self.max_bytes:
            self._entries.pop(0)
        return True

    def best(self, prompt: Sequence[int]) -> tuple[SavedState, int] | None:
        """The saved context sharing the longest prefix with ``prompt``, and that length."""
        found: tuple[SavedState, int] | None = None
        for entry in self._entries:
            shared = common_prefix(entry.tokens, prompt)
            if shared and (found is None or shared > found[1]):
                found = (entry, shared)
        return found

    def take(self, entry: SavedState) -> None:
        """Remove an entry that goes back into the live context (saved again on leaving)."""
        self._entries = [e for e in self._entries if e is not entry]

    def clear(self) -> None:
        self._entries.clear()
