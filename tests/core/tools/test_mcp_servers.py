"""The MCP server list (tools.json), the mcpServers JSON import, and the tool policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from desktopchat.core.secrets import SecretStore
from desktopchat.core.tools.policy import ToolPolicy, split_tool_name
from desktopchat.core.tools.servers import (
    McpServerConfig,
    McpServers,
    ServerConfigError,
    import_mcp_servers_json,
    key_store,
    name_problem,
    sanitize_name,
)
from desktopchat.core.tools.types import ToolPermission, ToolSpec

KEY = "sk-web-key-0123456789abcdef"


class MemoryKeyring:
    priority = 1

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, account: str, value: str) -> None:
        self.values[(service, account)] = value

    def get_password(self, service: str, account: str) -> str | None:
        return self.values.get((service, account))

    def delete_password(self, service: str, account: str) -> None:
        self.values.pop((service, account), None)


class DroppingKeyring(MemoryKeyring):
    def set_password(self, service: str, account: str, value: str) -> None:
        pass


STDIO = McpServerConfig(
    name="files",
    command="npx",
    args=("-y", "@modelcontextprotocol/server-filesystem", "/home/me"),
    env={"LOG": "1"},
    cwd="/tmp",
    permission=ToolPermission.ALLOW,
    tool_permissions={"write_file": ToolPermission.ASK},
)
HTTP = McpServerConfig(name="web", transport="http", url="https://mcp.example.com/mcp")


def test_the_list_is_saved_and_read_back(tmp_path: Path) -> None:
    servers = McpServers.in_folder(tmp_path / "config")
    servers.add(STDIO)
    servers.add(HTTP)
    again = McpServers.in_folder(tmp_path / "config")
    assert again.list() == [STDIO, HTTP] and again.problem == ""
    assert again.get("files") == STDIO and again.get("other") is None
    data = json.loads((tmp_path / "config" / "tools.json").read_text())
    assert data["version"] == 1 and [s["name"] for s in data["servers"]] == ["files", "web"]
    assert [p.name for p in (tmp_path / "config").iterdir()] == ["tools.json"]  # no temp left
    assert (tmp_path / "config" / "tools.json").stat().st_mode & 0o077 == 0


def test_update_remove_and_a_tool_override(tmp_path: Path) -> None:
    servers = McpServers(tmp_path / "tools.json")
    servers.add(STDIO)
    with pytest.raises(ServerConfigError, match="already a server named 'files'"):
        servers.add(STDIO)
    servers.update(McpServerConfig(name="files", command="uvx", enabled=False))
    servers.set_tool_permission("files", "read", ToolPermission.OFF)
    reread = McpServers(tmp_path / "tools.json").get("files")
    assert reread is not None and reread.command == "uvx" and not reread.enabled
    assert reread.permission_of("read") == ToolPermission.OFF
    assert reread.permission_of("other") == ToolPermission.ASK
    with pytest.raises(ServerConfigError, match="no server named 'web'"):
        servers.update(HTTP)
    servers.remove("files")
    servers.remove("files")  # already gone: nothing to do
    assert McpServers(tmp_path / "tools.json").list() == []


def test_invalid_settings_are_refused_with_a_reason(tmp_path: Path) -> None:
    servers = McpServers(tmp_path / "tools.json")
    cases = {
        "may only contain": McpServerConfig(name="my server", command="x"),
        "may not contain '__'": McpServerConfig(name="a__b", command="x"),
        "no command": McpServerConfig(name="a"),
        "must start with http": McpServerConfig(name="a", transport="http", url="ftp://x"),
    }
    for reason, config in cases.items():
        with pytest.raises(ServerConfigError, match=reason):
            servers.add(config)
    assert not (tmp_path / "tools.json").exists()


def test_names_are_sanitized() -> None:
    assert sanitize_name("My Server (v2)!") == "My-Server-v2"
    assert sanitize_name("a__b___c") == "a_b_c"
    assert sanitize_name("éé") == "server"
    assert sanitize_name("x" * 100) == "x" * 40
    for raw in ("My Server (v2)!", "a__b", "--", "ü" * 3, "a" * 90):
        assert name_problem(sanitize_name(raw)) == ""


def test_a_corrupt_file_is_kept_aside_and_the_list_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    path.write_text('{"version": 1, "servers": [', encoding="utf-8")
    servers = McpServers(path)
    assert servers.list() == []
    assert "tools.json" in servers.problem and "not valid JSON" in servers.problem
    assert "tools.json.bad" in servers.problem
    assert (tmp_path / "tools.json.bad").read_text() == '{"version": 1, "servers": ['
    assert not path.exists()
    servers.add(HTTP)  # usable at once
    assert McpServers(path).list() == [HTTP]


def test_a_file_of_the_wrong_shape_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    path.write_text("[1, 2]", encoding="utf-8")
    servers = McpServers(path)
    assert servers.list() == [] and "no list of servers" in servers.problem
    assert (tmp_path / "tools.json.bad").exists()


def test_invalid_entries_are_left_out_and_the_file_is_copied_aside(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    entries: list[Any] = [
        HTTP.to_json(),
        {"name": "bad name!", "command": "x"},
        {"name": "p", "command": "x", "permission": "sometimes"},
        "not an object",
        HTTP.to_json(),
    ]
    path.write_text(json.dumps({"version": 1, "servers": entries}), encoding="utf-8")
    servers = McpServers(path)
    assert servers.list() == [HTTP]
    assert "bad name!" in servers.problem and "'p'" in servers.problem
    assert "listed twice" in servers.problem
    assert json.loads((tmp_path / "tools.json.bad").read_text())["servers"] == entries


def test_a_save_that_fails_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tools.json"
    servers = McpServers(path)
    path.mkdir()  # something in the way: os.replace cannot put the file there
    (path / "x").touch()
    with pytest.raises(ServerConfigError, match="could not be saved"):
        servers.add(HTTP)
    assert servers.list() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tools.json"]  # no temp left


# -- import ---------------------------------------------------------------------------

CLAUDE_DESKTOP = {
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"],
            "env": {"DEBUG": "1", "PORT": 8080},
        },
        "my web server": {
            "url": "https://mcp.example.com/mcp",
            "headers": {"Authorization": f"Bearer {KEY}", "X-Trace": "on"},
        },
        "broken": {"args": ["x"]},
        "off": {"command": "uvx", "args": ["mcp-server-time"], "disabled": True},
    }
}


def test_import_reads_claude_desktops_json_and_puts_the_key_in_the_keychain() -> None:
    keyring = MemoryKeyring()
    notes: list[str] = []
    configs = import_mcp_servers_json(
        json.dumps(CLAUDE_DESKTOP),
        save_key=lambda name, key: key_store(name, keyring).set(key),
        notes=notes,
    )
    by_name = {c.name: c for c in configs}
    assert list(by_name) == ["filesystem", "my-web-server", "off"]
    files = by_name["filesystem"]
    assert files.transport == "stdio" and files.command == "npx"
    assert files.args == ("-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop")
    assert files.env == {"DEBUG": "1", "PORT": "8080"}
    assert files.permission == ToolPermission.ASK and files.enabled
    web = by_name["my-web-server"]
    assert web.transport == "http" and web.url == "https://mcp.example.com/mcp"
    assert not by_name["off"].enabled
    # the key: in the keychain under the sanitized name, nowhere in the settings
    assert SecretStore(keyring, account="mcp:my-web-server").get() == KEY
    assert KEY not in json.dumps([c.to_json() for c in configs])
    assert KEY not in " ".join(notes)
    text = "\n".join(notes)
    assert "'my web server' was renamed 'my-web-server'" in text
    assert "'my-web-server': its key was saved in the keychain" in text
    assert "'X-Trace' was left out" in text
    assert "'broken' was left out" in text and "neither" in text


def test_import_notes_a_key_the_keychain_cannot_keep() -> None:
    notes: list[str] = []
    configs = import_mcp_servers_json(
        json.dumps(
            {
                "mcpServers": {
                    "web": {
                        "url": "https://x.example/mcp",
                        "headers": {"Authorization": f"Bearer {KEY}"},
                    }
                }
            }
        ),
        save_key=lambda name, key: key_store(name, DroppingKeyring()).set(key),
        notes=notes,
    )
    assert [c.name for c in configs] == ["web"]
    assert "could not be saved" in notes[0] and KEY not in notes[0]


def test_import_avoids_names_already_taken_and_notes_what_it_cannot_use() -> None:
    notes: list[str] = []
    text = json.dumps(
        {
            "mcpServers": {
                "files": {"command": "a"},
                "web": {
                    "type": "sse",
                    "url": "https://x.example/sse",
                    "headers": {"Authorization": "Basic dXNlcjpwYXNz"},
                },
                "bad url": {"url": "not a url"},
                "list": ["x"],
            }
        }
    )
    configs = import_mcp_servers_json(text, save_key=_no_keys, notes=notes, taken=["files"])
    assert [c.name for c in configs] == ["files-2", "web"]
    joined = "\n".join(notes)
    assert "SSE" in joined and "not a bearer key" in joined
    assert "'bad url' was left out" in joined and "http://" in joined
    assert "'list' was left out" in joined


def _no_keys(name: str, key: str) -> None:
    raise AssertionError("no key expected")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('{"servers": []}', 'no "mcpServers"'),
        ('{"mcpServers": []}', "must be an object"),
        ("[]", 'no "mcpServers"'),
    ],
)
def test_import_refuses_what_is_not_an_mcpservers_json(text: str, reason: str) -> None:
    with pytest.raises(ServerConfigError, match=reason):
        import_mcp_servers_json(text)


# -- policy ---------------------------------------------------------------------------


def spec(name: str, source: str) -> ToolSpec:
    return ToolSpec(name=name, description="", source=source)


def test_the_policy_uses_the_tools_override_then_the_servers_then_ask(tmp_path: Path) -> None:
    servers = McpServers(tmp_path / "tools.json")
    servers.add(STDIO)
    servers.add(McpServerConfig(name="off", command="x", enabled=False))
    policy = ToolPolicy(servers)
    assert policy.permission(spec("files__write_file", "files")) == ToolPermission.ASK
    assert policy.permission(spec("files__read_file", "files")) == ToolPermission.ALLOW
    assert policy.permission("files__read_file") == ToolPermission.ALLOW
    assert policy.permission(spec("off__x", "off")) == ToolPermission.OFF
    assert policy.permission(spec("gone__x", "gone")) == ToolPermission.ASK


def test_builtin_tools_follow_the_chats_enabled_set(tmp_path: Path) -> None:
    policy = ToolPolicy(
        McpServers(tmp_path / "tools.json"), builtin_defaults={"read_file": ToolPermission.ASK}
    )
    calc = ToolSpec(name="calculator", description="")
    read = ToolSpec(name="read_file", description="")
    assert policy.permission(calc) == ToolPermission.OFF
    assert policy.permission(calc, {"calculator"}) == ToolPermission.ALLOW
    assert policy.permission(read, {"read_file"}) == ToolPermission.ASK
    assert policy.permission("calculator", {"calculator"}) == ToolPermission.ALLOW
    assert policy.usable([calc, read], {"read_file"}) == [read]
    # Always allow for a built-in is kept in tools.json too, and can be taken back.
    policy.remember_always(read)
    assert policy.permission(read, {"read_file"}) == ToolPermission.ALLOW
    assert policy.permission(read) == ToolPermission.OFF  # still only in chats enabling it
    reread = McpServers(tmp_path / "tools.json")
    assert reread.builtin_permission("read_file") == ToolPermission.ALLOW
    reread.set_builtin_permission("read_file", None)
    again = ToolPolicy(McpServers(tmp_path / "tools.json"), {"read_file": ToolPermission.ASK})
    assert again.permission(read, {"read_file"}) == ToolPermission.ASK


def test_always_allow_is_remembered_in_the_server_list(tmp_path: Path) -> None:
    servers = McpServers(tmp_path / "tools.json")
    servers.add(HTTP)
    policy = ToolPolicy(servers)
    tool = spec("web__search", "web")
    assert policy.permission(tool) == ToolPermission.ASK
    policy.remember_always(tool)
    assert policy.permission(tool) == ToolPermission.ALLOW
    assert policy.permission(spec("web__post", "web")) == ToolPermission.ASK
    reread = McpServers(tmp_path / "tools.json").get("web")
    assert reread is not None and reread.tool_permissions == {"search": ToolPermission.ALLOW}


def test_tool_names_split_at_the_first_separator() -> None:
    assert split_tool_name("files__read_file") == ("files", "read_file")
    assert split_tool_name("files__a__b") == ("files", "a__b")
    assert split_tool_name("calculator") == ("", "calculator")
    assert split_tool_name("__x") == ("", "__x")
