"""The toolbox the app and the CLI use: the built-in tools and the configured MCP servers,
with the user's permissions (tools.json in the config folder)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

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
from desktopchat.core.tools.servers import McpServers
from desktopchat.core.tools.toolbox import Toolbox
from desktopchat.core.tools.types import BUILTIN_SOURCE, ToolPermission, ToolProvider, ToolSpec

# Built-ins that read nothing of the user's run without asking once a chat enables them;
# the others (conversations, documents, files) ask first, like every MCP tool.
BUILTIN_PERMISSIONS = {
    CALCULATOR: ToolPermission.ALLOW,
    CURRENT_DATETIME: ToolPermission.ALLOW,
}


def open_toolbox(
    config_folder: Path,
    *,
    offline: Callable[[], bool],
    search_conversations: ConversationSearch | None = None,
    documents: DocumentSearch | None = None,
    folders: Callable[[], Sequence[Path]] | None = None,
    current_conversation: Callable[[], int | None] | None = None,
    servers: McpServers | None = None,
    permission: Callable[[ToolSpec, ToolPermission], ToolPermission] | None = None,
) -> Toolbox:
    """A toolbox over the servers in ``config_folder``'s tools.json (read now: a server
    added later needs a new toolbox). No server is started until a chat uses its tools.
    ``permission`` may change each tool's permission (the CLI's ``--approve all``)."""
    servers = servers or McpServers.in_folder(config_folder)
    policy = ToolPolicy(
        servers,
        {name: BUILTIN_PERMISSIONS.get(name, ToolPermission.ASK) for name in BUILTIN_TOOL_NAMES},
    )
    builtins = BuiltinTools(
        search_conversations=search_conversations,
        documents=documents,
        folders=folders,
        current_conversation=current_conversation,
    )
    providers: list[ToolProvider] = [builtins]
    providers += [McpClient(c, offline=offline) for c in servers.list() if c.enabled]
    everything = tuple(BUILTIN_TOOL_NAMES)

    def permission_of(spec: ToolSpec) -> ToolPermission:
        chosen = policy.permission(spec, everything)
        return permission(spec, chosen) if permission is not None else chosen

    def remember(spec: ToolSpec) -> None:
        if spec.source != BUILTIN_SOURCE:
            policy.remember_always(spec)

    return Toolbox(providers, permission_of, remember)
