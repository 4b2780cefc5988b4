"""The toolbox a chat offers: names resolved against the built-ins and real MCP servers,
permissions from tools.json, the file followed while the app runs (a server added is
offered, a permission changed keeps the server running, a command changed restarts it),
and *Always allow* remembered."""

from __future__ import annotations

import dataclasses
import sys
import threading
from pathlib import Path

from desktopchat.core.tools.servers import McpServerConfig, McpServers
from desktopchat.core.tools.setup import LiveToolbox, open_toolbox
from desktopchat.core.tools.toolbox import entry_of
from desktopchat.core.tools.types import ToolPermission

MCP_SERVER = Path(__file__).resolve().parent.parent.parent / "mcp_server.py"


def server(name: str = "testserver") -> McpServerConfig:
    return McpServerConfig(
        name=name, transport="stdio", command=sys.executable, args=(str(MCP_SERVER),)
    )


def stored(servers: McpServers, name: str = "testserver") -> McpServerConfig:
    config = servers.get(name)
    assert config is not None
    return config


def toolbox(folder: Path) -> LiveToolbox:
    return open_toolbox(folder, offline=lambda: False, search_conversations=lambda _q, _n: [])


def pid_of(box: LiveToolbox) -> str:
    [spec] = [s for s in box.offered(["testserver:pid"])[0]]
    return box.run(spec, {}, threading.Event()).text


def test_names_resolve_to_builtins_and_server_tools(tmp_path: Path) -> None:
    McpServers.in_folder(tmp_path).add(server())
    box = toolbox(tmp_path)
    try:
        specs, notes = box.offered(["calculator", "testserver:add", "testserver:*", "nope:x"])
        names = [entry_of(s) for s in specs]
        assert names[:2] == ["calculator", "testserver:add"]
        assert "testserver:echo" in names and names.count("testserver:add") == 1
        assert notes == ["The tool nope:x is an MCP server that is not set up: it is not offered."]
        assert box.permission(specs[0]) is ToolPermission.ALLOW  # the calculator
        assert box.permission(specs[1]) is ToolPermission.ASK  # a server's tool
        missing = box.offered(["testserver:nothing"])[1]
        assert missing == ["The tool testserver:nothing is not there: it is not offered."]
    finally:
        box.close()


def test_the_file_is_followed_while_it_runs(tmp_path: Path) -> None:
    box = toolbox(tmp_path)
    servers = McpServers.in_folder(tmp_path)  # the window's dialog, say
    try:
        assert box.offered(["testserver:*"])[0] == []
        servers.add(server())
        assert entry_of(box.offered(["testserver:add"])[0][0]) == "testserver:add"
        first = pid_of(box)
        servers.update(dataclasses.replace(stored(servers), permission=ToolPermission.ALLOW))
        [spec] = box.offered(["testserver:add"])[0]
        assert box.permission(spec) is ToolPermission.ALLOW
        assert pid_of(box) == first  # only a permission changed: the server kept running
        servers.set_tool_permission("testserver", "add", ToolPermission.OFF)
        assert box.offered(["testserver:add"])[0] == []  # switched off: not offered
        changed = dataclasses.replace(stored(servers), cwd=str(tmp_path))
        servers.update(changed)
        assert pid_of(box) != first  # its command changed: started again
        servers.remove("testserver")
        assert box.offered(["testserver:*"])[0] == []
    finally:
        box.close()


def test_always_allow_is_kept_for_servers_and_builtins(tmp_path: Path) -> None:
    McpServers.in_folder(tmp_path).add(server())
    box = toolbox(tmp_path)
    try:
        [add] = box.offered(["testserver:add"])[0]
        box.always_allow(add)
        assert box.permission(add) is ToolPermission.ALLOW
        reread = McpServers.in_folder(tmp_path).get("testserver")
        assert reread is not None and reread.permission_of("add") is ToolPermission.ALLOW
        [search] = box.offered(["search_conversations"])[0]
        assert box.permission(search) is ToolPermission.ASK
        box.always_allow(search)
        assert box.permission(search) is ToolPermission.ALLOW
    finally:
        box.close()
    fresh = toolbox(tmp_path)
    try:
        [search] = fresh.offered(["search_conversations"])[0]
        assert fresh.permission(search) is ToolPermission.ALLOW  # kept in tools.json
    finally:
        fresh.close()
