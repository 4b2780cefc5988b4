"""Stop strings in a token stream: hold back text that may be the start of one."""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to show now, whether a stop string was reached)."""
        if not self._stops:
            return text, False
        pending = self._held + text
        first = min((i for i in (pending.find(s) for s in self._stops) if i >= 0), default=-1)
        if first >= 0:
            self._held = ""
            return pending[:first], True
        keep = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(pending)), 0, -1):
                if pending.endswith(stop[:n]):
                    keep = max(keep, n)
                    break
        self._held = pending[len(pending) - keep :] if keep else ""
        return pending[: len(pending) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
