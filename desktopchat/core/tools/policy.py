"""Whether a tool's call runs: at once, after asking the user, or never.

An MCP server's tool: its own override in the server's settings, else the server's
permission, else ASK; a disabled server's tools are OFF. A built-in tool: OFF unless the
chat has it in its enabled set, then its default (ALLOW unless said otherwise). Pure logic;
"Always allow" writes the tool's override to the server list (tools.json).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from desktopchat.core.tools.servers import McpServers
from desktopchat.core.tools.types import (
    BUILTIN_SOURCE,
    SERVER_SEPARATOR,
    ToolPermission,
    ToolSpec,
)


def split_tool_name(name: str) -> tuple[str, str]:
    """``"files__read_file"`` -> ``("files", "read_file")``; a built-in's name -> ``("", name)``."""
    server, sep, tool = name.partition(SERVER_SEPARATOR)
    return (server, tool) if sep and server and tool else ("", name)


class ToolPolicy:
    def __init__(
        self,
        servers: McpServers,
        builtin_defaults: Mapping[str, ToolPermission] | None = None,
    ) -> None:
        self._servers = servers
        self._builtin_defaults = dict(builtin_defaults or {})

    def permission(
        self, tool: ToolSpec | str, enabled_builtins: Collection[str] = ()
    ) -> ToolPermission:
        """``tool``'s permission in a chat whose enabled built-in tools are ``enabled_builtins``."""
        source, name = _source_and_name(tool)
        if source == BUILTIN_SOURCE:
            if name not in enabled_builtins:
                return ToolPermission.OFF
            chosen = self._servers.builtin_permission(name)
            return chosen or self._builtin_defaults.get(name, ToolPermission.ALLOW)
        config = self._servers.get(source)
        if config is None:
            return ToolPermission.ASK
        if not config.enabled:
            return ToolPermission.OFF
        return config.permission_of(name)

    def usable(
        self, tools: list[ToolSpec], enabled_builtins: Collection[str] = ()
    ) -> list[ToolSpec]:
        """The tools the model may be offered (those not OFF)."""
        return [t for t in tools if self.permission(t, enabled_builtins) != ToolPermission.OFF]

    def remember_always(self, tool: ToolSpec | str) -> None:
        """The user chose "Always allow": the tool's override becomes ALLOW, saved."""
        source, name = _source_and_name(tool)
        if source == BUILTIN_SOURCE:
            self._servers.set_builtin_permission(name, ToolPermission.ALLOW)
            return
        self._servers.set_tool_permission(source, name, ToolPermission.ALLOW)


def _source_and_name(tool: ToolSpec | str) -> tuple[str, str]:
    """(server or BUILTIN_SOURCE, the tool's own name)."""
    if isinstance(tool, ToolSpec):
        if tool.source == BUILTIN_SOURCE:
            return BUILTIN_SOURCE, tool.name
        prefix = tool.source + SERVER_SEPARATOR
        return tool.source, tool.name.removeprefix(prefix)
    server, name = split_tool_name(tool)
    return (server or BUILTIN_SOURCE), name
