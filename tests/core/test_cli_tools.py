"""The CLI's tools: ``tools list``, ``mcp add/list/remove/import``, and ``chat --tool`` with
``--tool-choice``, ``--approve`` and ``--thinking`` on the real starter model and the tests'
real stdio MCP server (written with the mcp SDK)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.core.test_cli import assert_clean_failure
from tests.processes import run_cli

MCP_SERVER = Path(__file__).resolve().parent.parent / "mcp_server.py"


def add_server(home: Path, name: str = "testserver") -> None:
    done = run_cli(home, "mcp", "add", name, "--", sys.executable, str(MCP_SERVER))
    assert done.returncode == 0, done.stderr


def test_mcp_servers_are_added_listed_and_removed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    add_server(home)
    listed = json.loads(run_cli(home, "mcp", "list", "--json").stdout)["servers"]
    assert [(s["name"], s["transport"], s["permission"]) for s in listed] == [
        ("testserver", "stdio", "ask")
    ]
    assert listed[0]["args"] == [str(MCP_SERVER)]
    assert_clean_failure(
        run_cli(home, "mcp", "add", "testserver", "--", "x"), "already an MCP server"
    )
    assert_clean_failure(run_cli(home, "mcp", "add", "other"), "either a command")
    assert run_cli(home, "mcp", "remove", "testserver").returncode == 0
    assert json.loads(run_cli(home, "mcp", "list", "--json").stdout)["servers"] == []
    assert_clean_failure(run_cli(home, "mcp", "remove", "testserver"), "no MCP server")


def test_mcp_servers_json_of_other_apps_is_imported(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(
        json.dumps(
            {"mcpServers": {"files": {"command": "npx", "args": ["-y", "server-fs", "/tmp"]}}}
        ),
        encoding="utf-8",
    )
    done = run_cli(home, "mcp", "import", str(config))
    assert done.returncode == 0, done.stderr
    [server] = json.loads(run_cli(home, "mcp", "list", "--json").stdout)["servers"]
    assert server["name"] == "files" and server["command"] == "npx"
    assert server["args"] == ["-y", "server-fs", "/tmp"]


def test_tools_list_shows_the_builtins_and_each_servers_tools(tmp_path: Path) -> None:
    home = tmp_path / "home"
    add_server(home)
    done = run_cli(home, "tools", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = {t["name"]: t for t in json.loads(done.stdout)["tools"]}
    assert rows["calculator"]["server"] == "built-in"
    assert rows["calculator"]["permission"] == "allow"
    assert rows["read_file"]["permission"] == "unavailable"  # no folder chosen
    assert rows["testserver:add"]["server"] == "testserver"
    assert rows["testserver:add"]["permission"] == "ask"
    assert rows["testserver:add"]["description"] == "Adds a and b."
    text = run_cli(home, "tools", "list").stdout
    assert "testserver:echo" in text and "calculator" in text


@pytest.mark.real_model
def test_chat_calls_an_mcp_tool_and_lists_the_call_in_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    add_server(home)
    done = run_cli(
        home,
        "chat",
        "--temperature",
        "0",
        "--max-tokens",
        "60",
        "--tool",
        "testserver:add",
        "--tool-choice",
        "testserver:add",
        "--approve",
        "all",
        "--max-tool-steps",
        "1",
        "--json",
        "Add 2 and 40.",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    [call] = out["tool_calls"]
    assert call["name"] == "testserver__add" and call["server"] == "testserver"
    assert call["decision"] == "allowed" and not call["is_error"]
    assert call["result"] == str(call["arguments"]["a"] + call["arguments"]["b"])
    assert out["reasoning"] == "" and out["status"] == "complete"
    shown = json.loads(run_cli(home, "conversations", "show", "1", "--json").stdout)
    roles = [m["role"] for m in shown["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]


@pytest.mark.real_model
def test_approve_none_denies_every_call(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_cli(
        home,
        "chat",
        "--temperature",
        "0",
        "--max-tokens",
        "60",
        "--tool",
        "calculator",
        "--tool-choice",
        "required",
        "--approve",
        "none",
        "--max-tool-steps",
        "1",
        "--json",
        "What is 6 times 7?",
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [call] = json.loads(done.stdout)["tool_calls"]
    assert call["decision"] == "deny" and call["is_error"]
    assert "denied" in call["result"]
    assert "Denied (--approve none)" in done.stderr


def test_bad_tool_settings_fail_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert_clean_failure(
        run_cli(home, "chat", "--tool", "bad name!", "hi"), "tools are named as a built-in"
    )
    assert_clean_failure(
        run_cli(home, "chat", "--tool", "calculator", "--tool-choice", "read_file", "hi"),
        "the tool choice must be",
    )


def test_the_terminal_is_asked_before_each_call() -> None:
    import io

    from desktopchat.cli.tools import TerminalApproval
    from desktopchat.core.chat import ToolCall
    from desktopchat.core.tools.toolbox import ApprovalRequest, Decision
    from desktopchat.core.tools.types import ToolPermission, ToolSpec

    request = ApprovalRequest(
        ToolCall("call_1", "files__read", {"path": "notes.txt"}),
        ToolSpec("files__read", "Reads a file", source="files"),
        1,
    )
    answers = iter(["maybe\n", "y\n", "a\n", "n\n", "\n"])
    out = io.StringIO()
    asking = TerminalApproval("ask", ask=lambda _q: next(answers), out=out)
    assert asking.approve(request).decision is Decision.ALLOW_ONCE  # "maybe": asked again
    assert asking.approve(request).decision is Decision.ALLOW_ALWAYS
    assert asking.approve(request).decision is Decision.DENY
    assert asking.approve(request).decision is Decision.DENY  # Enter: no
    assert "files__read (files) with:" in out.getvalue() and '"path": "notes.txt"' in out.getvalue()

    def eof(_question: str) -> str:
        raise EOFError

    assert TerminalApproval("ask", ask=eof, out=out).approve(request).decision is Decision.DENY
    spec = request.spec
    assert TerminalApproval("all").permission(spec, ToolPermission.ASK) is ToolPermission.ALLOW
    assert TerminalApproval("all").permission(spec, ToolPermission.OFF) is ToolPermission.OFF
    assert TerminalApproval("none").permission(spec, ToolPermission.ALLOW) is ToolPermission.ASK
    assert TerminalApproval("none", out=out).approve(request).decision is Decision.DENY
