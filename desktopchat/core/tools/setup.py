"""The toolbox the app and the CLI use: the built-in tools and the configured MCP servers,
with the user's permissions (tools.json in the config folder), following that file as the
user changes it (the window's *Tools* dialog writes it while the app runs)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from desktopchat.core.errors import DesktopChatError
from desktopchat.core.tools.builtin import (
    BUILTIN_TOOL_NAMES,
    CALCULATOR,
    CURRENT_DATETIME,
    BuiltinTools,
    ConversationSearch,
    DocumentSearch,
)
from desktopchat.core.tools.mcp import McpClient
from desktopchat.core.tools.policy import ToolPolicy
from desktopchat.core.tools.servers import FILE_NAME, McpServerConfig, McpServers
from desktopchat.core.tools.toolbox import Toolbox
from desktopchat.core.tools.types import (
    ToolPermission,
    ToolProvider,
    ToolSpec,
)

log = logging.getLogger(__name__)

# Built-ins that read nothing of the user's run without asking once a chat enables them;
# the others (conversations, documents, files) ask first, like every MCP tool.
BUILTIN_PERMISSIONS = {
    CALCULATOR: ToolPermission.ALLOW,
    CURRENT_DATETIME: ToolPermission.ALLOW,
}
PermissionHook = Callable[[ToolSpec, ToolPermission], ToolPermission]


class LiveToolbox(Toolbox):
    """The built-ins and one client per enabled server of tools.json, read again when the
    file changed (checked as a reply starts): a server whose command, URL or switch
    changed is restarted, the others keep running; permissions are always the file's."""

    def __init__(
        self,
        config_folder: Path,
        builtins: BuiltinTools,
        *,
        offline: Callable[[], bool],
        permission: PermissionHook | None = None,
    ) -> None:
        self._path = config_folder / FILE_NAME
        self._builtins = builtins
        self._offline = offline
        self._hook = permission
        self._stamp: tuple[int, int] | None = None
        self._clients: dict[str, McpClient] = {}
        self._servers = McpServers(self._path)
        self._policy = self._new_policy(self._servers)
        super().__init__([builtins], self._permission_of, self._remember_always)
        self.refresh(force=True)

    @staticmethod
    def _new_policy(servers: McpServers) -> ToolPolicy:
        defaults = {
            name: BUILTIN_PERMISSIONS.get(name, ToolPermission.ASK) for name in BUILTIN_TOOL_NAMES
        }
        return ToolPolicy(servers, defaults)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self._path)
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def refresh(self, *, force: bool = False) -> None:
        stamp = self._file_stamp()
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        if not force:
            self._servers = McpServers(self._path)
            self._policy = self._new_policy(self._servers)
        wanted = {c.name: c for c in self._servers.list() if c.enabled}
        for name, client in list(self._clients.items()):
            config = wanted.get(name)
            if config is None or _connection(config) != _connection(client.config):
                client.close()  # removed, switched off or changed: its process ends
                del self._clients[name]
        for name, config in wanted.items():
            if name not in self._clients:
                self._clients[name] = McpClient(config, offline=self._offline)
        providers: list[ToolProvider] = [self._builtins, *self._clients.values()]
        self._providers = {p.source: p for p in providers}

    def offered(self, entries: Sequence[str]) -> tuple[list[ToolSpec], list[str]]:
        self.refresh()
        return super().offered(entries)

    def available(self) -> tuple[list[ToolSpec], list[str]]:
        self.refresh()
        return super().available()

    def _permission_of(self, spec: ToolSpec) -> ToolPermission:
        chosen = self._policy.permission(spec, BUILTIN_TOOL_NAMES)
        return self._hook(spec, chosen) if self._hook is not None else chosen

    def _remember_always(self, spec: ToolSpec) -> None:
        self._policy.remember_always(spec)
        self._stamp = self._file_stamp()  # our own write: nothing to restart

    def close(self) -> None:
        super().close()
        self._clients.clear()


def _connection(config: McpServerConfig) -> McpServerConfig:
    """What a running client depends on (not the permissions)."""
    return dataclasses.replace(config, permission=ToolPermission.ASK, tool_permissions={})


def open_toolbox(
    config_folder: Path,
    *,
    offline: Callable[[], bool],
    search_conversations: ConversationSearch | None = None,
    documents: DocumentSearch | None = None,
    folders: Callable[[], Sequence[Path]] | None = None,
    current_conversation: Callable[[], int | None] | None = None,
    permission: PermissionHook | None = None,
) -> LiveToolbox:
    """A toolbox over the built-ins and the servers in ``config_folder``'s tools.json. No
    server is started until a chat uses its tools. ``permission`` may change each tool's
    permission (the CLI's ``--approve all``)."""
    builtins = BuiltinTools(
        search_conversations=search_conversations,
        documents=documents,
        folders=folders,
        current_conversation=current_conversation,
    )
    return LiveToolbox(config_folder, builtins, offline=offline, permission=permission)


ToolChoice = tuple[str, str, str, str]  # entry ("calculator", "server:tool"), label, about, server


def available_tools(config_folder: Path, *, offline: bool) -> list[ToolChoice]:
    """What a chat may choose from: every built-in, and the tools of every enabled server
    of tools.json (each started to be asked, then stopped; one that cannot be asked is
    left out). Slow: call it off the GUI thread."""
    from desktopchat.core.tools.builtin import BUILTIN_TOOLS
    from desktopchat.core.tools.toolbox import entry_of

    choices: list[ToolChoice] = [(b.name, b.title, b.summary, "Built-in") for b in BUILTIN_TOOLS]
    for config in McpServers(config_folder / FILE_NAME).list():
        if not config.enabled:
            continue
        try:
            specs = list_server_tools(config, offline=lambda: offline)
        except DesktopChatError as exc:
            log.info("the tools of %s could not be listed: %s", config.name, exc)
            continue
        choices += [(entry_of(s), s.label, s.description, config.name) for s in specs]
    return choices


def list_server_tools(config: McpServerConfig, *, offline: Callable[[], bool]) -> list[ToolSpec]:
    """One server's tools, asked of a client started for it and stopped after (raises
    ToolError when it cannot be asked). Slow: call it off the GUI thread."""
    client = McpClient(config, offline=offline)
    try:
        return client.list_tools()
    finally:
        client.close()
