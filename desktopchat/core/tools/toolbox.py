"""The tools a chat offers, where each one runs, and the user's say before it runs.

A chat names its tools in ``GenerationParams.tools``: built-ins by name ("calculator"), an
MCP server's tool as "server:tool", all of a server's as "server:*". The toolbox resolves
those names against its providers (the built-ins, one client per configured MCP server),
leaves out what is switched off, and tells the chat service, for each call, whether it
runs at once (``ALLOW``), after the user's approval (``ASK``) or not at all (``OFF``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from desktopchat.core.chat import ToolCall
from desktopchat.core.errors import DesktopChatError, ToolError
from desktopchat.core.tools.types import (
    BUILTIN_SOURCE,
    SERVER_SEPARATOR,
    ToolOutcome,
    ToolPermission,
    ToolProvider,
    ToolSpec,
    server_label,
    untrusted_text,
)

log = logging.getLogger(__name__)


class Decision(StrEnum):
    ALLOW_ONCE = "allow once"
    ALLOW_ALWAYS = "always allow"
    DENY = "deny"


@dataclass(frozen=True)
class ApprovalRequest:
    """A call waiting for the user: the tool (its server in ``spec.source``) and the
    arguments the model gave."""

    call: ToolCall
    spec: ToolSpec
    step: int  # 1 for the reply's first tool-calling turn

    @property
    def server(self) -> str:
        return server_label(self.spec.source)


@dataclass(frozen=True)
class Approval:
    decision: Decision
    arguments: dict[str, Any] | None = None  # the user's edit of the arguments, if any

    @property
    def allowed(self) -> bool:
        return self.decision is not Decision.DENY


DENIED_TEXT = "The user denied this tool call. Do not call it again; answer without it."
STOPPED_TEXT = "Stopped by the user before the tool finished."


def entry_of(spec: ToolSpec) -> str:
    """The name a chat's tool list uses for ``spec``: "calculator", "server:tool"."""
    if spec.source == BUILTIN_SOURCE:
        return spec.name
    prefix = f"{spec.source}{SERVER_SEPARATOR}"
    tool = spec.name[len(prefix) :] if spec.name.startswith(prefix) else spec.name
    return f"{spec.source}:{tool}"


def _source_of(entry: str) -> str:
    """The provider a chat's tool entry names: "server" of "server:tool", else the built-ins."""
    return entry.partition(":")[0] if ":" in entry else BUILTIN_SOURCE


class Toolbox:
    """The providers, and the permission of each tool (``permission``: from the user's
    settings; ``remember``: *Always allow this tool* keeps it)."""

    def __init__(
        self,
        providers: Sequence[ToolProvider],
        permission: Callable[[ToolSpec], ToolPermission] | None = None,
        remember: Callable[[ToolSpec], None] | None = None,
    ) -> None:
        self._providers = {p.source: p for p in providers}
        self._permission = permission or (lambda _spec: ToolPermission.ASK)
        self._remember = remember
        self._always: set[str] = set()  # allowed always this session (kept nowhere else)

    def available(self) -> tuple[list[ToolSpec], list[str]]:
        """Every tool of every provider (switched off or not), and what could not be
        listed (a server that is down), in words."""
        specs: list[ToolSpec] = []
        problems: list[str] = []
        for source, provider in self._providers.items():
            try:
                specs += provider.list_tools()
            except ToolError as exc:
                problems.append(f"The tools of {source} could not be listed: {exc}")
        return specs, problems

    def permission(self, spec: ToolSpec) -> ToolPermission:
        permission = self._permission(spec)
        if permission is ToolPermission.ASK and spec.name in self._always:
            return ToolPermission.ALLOW
        return permission

    def offered(self, entries: Sequence[str]) -> tuple[list[ToolSpec], list[str]]:
        """The tools a chat with ``entries`` offers the model (in the order named, none
        twice, none switched off), and notes for those that cannot be offered."""
        wanted = [e for e in entries if e]
        if not wanted:
            return [], []
        notes: list[str] = []
        by_source: dict[str, list[ToolSpec]] = {}
        for entry in wanted:
            source = _source_of(entry)
            if source in by_source:
                continue
            provider = self._providers.get(source)
            if provider is None:
                where = "an MCP server that is not set up" if ":" in entry else "unknown"
                notes.append(f"The tool {entry} is {where}: it is not offered.")
                by_source[source] = []
                continue
            try:
                by_source[source] = provider.list_tools()
            except ToolError as exc:
                notes.append(f"The tools of {source} are not offered: {exc}")
                by_source[source] = []
        chosen: dict[str, ToolSpec] = {}
        for entry in wanted:
            specs = by_source.get(_source_of(entry), [])
            if entry.endswith(":*"):
                matches = specs
            else:
                matches = [s for s in specs if entry_of(s) == entry]
                if not matches and specs:
                    notes.append(f"The tool {entry} is not there: it is not offered.")
            for spec in matches:
                if self._permission(spec) is not ToolPermission.OFF:
                    chosen.setdefault(spec.name, spec)
        return list(chosen.values()), notes

    def always_allow(self, spec: ToolSpec) -> None:
        """*Always allow this tool*: kept in the user's tool settings where it can be (an
        MCP server's tool), else for as long as the app runs."""
        self._always.add(spec.name)
        if self._remember is not None:
            try:
                self._remember(spec)
            except (ValueError, OSError, DesktopChatError) as exc:
                log.info("always allowing %s for this session only: %s", spec.name, exc)

    def run(
        self, spec: ToolSpec, arguments: dict[str, Any], cancel: threading.Event
    ) -> ToolOutcome:
        """Call the tool; a failure the user must read becomes an error outcome the
        model is told about (the loop goes on), never an exception."""
        provider = self._providers.get(spec.source)
        if provider is None:
            return ToolOutcome(f"The tool {spec.label} is no longer available.", is_error=True)
        try:
            outcome = provider.call(spec.name, arguments, cancel)
        except (ToolError, DesktopChatError) as exc:
            text, _cut = untrusted_text(str(exc))
            return ToolOutcome(text, is_error=True)
        except Exception as exc:  # a tool's own bug (a library error): the reply goes on
            log.exception("the tool %s failed", spec.name)
            return ToolOutcome(f"The tool failed ({type(exc).__name__}).", is_error=True)
        if cancel.is_set():
            return ToolOutcome(STOPPED_TEXT, is_error=True)
        return outcome

    def close(self) -> None:
        for provider in self._providers.values():
            close = getattr(provider, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.exception("closing the tools of %s failed", provider.source)
