"""``tools list``, ``mcp add/list/remove/import``, and the terminal's say before a tool runs
(``chat --approve ask``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from desktopchat import app
from desktopchat.cli.output import EXIT_OK, emit_json, note
from desktopchat.core.errors import DesktopChatError
from desktopchat.core.paths import AppPaths
from desktopchat.core.secrets import KeychainError
from desktopchat.core.session import Core
from desktopchat.core.tools.builtin import BUILTIN_TOOLS
from desktopchat.core.tools.servers import (
    McpServerConfig,
    McpServers,
    ServerConfigError,
    import_mcp_servers_json,
    key_store,
)
from desktopchat.core.tools.toolbox import Approval, ApprovalRequest, Decision, entry_of
from desktopchat.core.tools.types import ToolPermission, ToolSpec, server_label


def servers_of(paths: AppPaths) -> McpServers:
    servers = McpServers.in_folder(paths.config)
    if servers.problem:
        note(f"note: {servers.problem}")
    return servers


def tools(args: argparse.Namespace, core: Core) -> int:
    """Every tool a chat can offer, by the name ``chat --tool`` takes, with its permission.
    Each MCP server is started to be asked (and stopped after)."""
    toolbox = app.make_toolbox(core)
    try:
        specs, problems = toolbox.available()
        rows = [_tool_row(spec, toolbox.permission(spec)) for spec in specs]
    finally:
        toolbox.close()
    listed = {r["name"] for r in rows}
    for info in BUILTIN_TOOLS:  # those that cannot work now (no folders chosen, say)
        if info.name not in listed:
            rows.append(
                {
                    "name": info.name,
                    "server": "built-in",
                    "title": info.title,
                    "description": info.summary,
                    "permission": "unavailable",
                    "note": info.needs,
                }
            )
    for problem in problems:
        note(f"note: {problem}")
    if args.json:
        emit_json({"tools": rows, "problems": problems})
        return EXIT_OK
    for row in rows:
        extra = f" ({row['note']})" if row.get("note") else ""
        sys.stdout.write(
            f"{row['name']:<32} {row['permission']:<11} {row['title']}: "
            f"{_first_line(row['description'])}{extra}\n"
        )
    return EXIT_OK


def _tool_row(spec: ToolSpec, permission: ToolPermission) -> dict[str, Any]:
    return {
        "name": entry_of(spec),
        "server": server_label(spec.source),
        "title": spec.label,
        "description": spec.description,
        "permission": permission.value,
        "parameters": spec.parameters,
    }


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= 100 else line[:99] + "…"


def mcp(args: argparse.Namespace, paths: AppPaths) -> int:
    servers = servers_of(paths)
    try:
        if args.mcp_command == "add":
            return _add(args, servers)
        if args.mcp_command == "remove":
            if servers.get(args.name) is None:
                raise DesktopChatError(f"There is no MCP server named {args.name}.")
            servers.remove(args.name)
            _forget_key(args.name)
            note(f"Removed the MCP server {args.name}.")
            return EXIT_OK
        if args.mcp_command == "import":
            return _import(Path(args.file), servers)
    except ServerConfigError as exc:
        raise DesktopChatError(str(exc)) from None
    listed = servers.list()
    if args.json:
        emit_json({"servers": [_server_row(c) for c in listed]})
        return EXIT_OK
    if not listed:
        note("No MCP servers. Add one: desktopchat mcp add NAME -- COMMAND ARGS...")
    for config in listed:
        row = _server_row(config)
        state = "" if config.enabled else " (disabled)"
        sys.stdout.write(f"{config.name:<20} {row['permission']:<6} {row['target']}{state}\n")
    return EXIT_OK


def _server_row(config: McpServerConfig) -> dict[str, Any]:
    target = config.url if config.transport == "http" else " ".join([config.command, *config.args])
    return {
        "name": config.name,
        "transport": config.transport,
        "target": target,
        "command": config.command,
        "args": list(config.args),
        "url": config.url,
        "permission": config.permission.value,
        "tool_permissions": {k: v.value for k, v in config.tool_permissions.items()},
        "enabled": config.enabled,
    }


def _add(args: argparse.Namespace, servers: McpServers) -> int:
    command = list(args.server_command or [])
    if command and command[0] == "--":
        command = command[1:]
    if bool(args.url) == bool(command):
        raise DesktopChatError(
            "Give the server either a command (mcp add NAME -- COMMAND ARGS...) or a URL "
            "(mcp add NAME --url URL)."
        )
    if args.key_stdin and not args.url:
        raise DesktopChatError("--key-stdin is for an HTTP server (--url).")
    permission = ToolPermission(args.permission)
    if args.url:
        config = McpServerConfig(
            name=args.name, transport="http", url=args.url, permission=permission
        )
    else:
        config = McpServerConfig(
            name=args.name,
            transport="stdio",
            command=command[0],
            args=tuple(command[1:]),
            permission=permission,
        )
    problems = config.problems()
    if problems:
        raise DesktopChatError(f"The MCP server cannot be added: {'; '.join(problems)}.")
    if servers.get(config.name) is not None:
        raise DesktopChatError(f"There is already an MCP server named {config.name}.")
    if args.key_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            raise DesktopChatError("No key was given on standard input.")
        try:
            key_store(config.name).set(key)
        except KeychainError as exc:
            raise DesktopChatError(str(exc)) from None
    servers.add(config)
    note(
        f"Added the MCP server {config.name}. Offer its tools in a chat with "
        f"--tool {config.name}:TOOL or --tool {config.name}:* (desktopchat tools list)."
    )
    return EXIT_OK


def _import(path: Path, servers: McpServers) -> int:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DesktopChatError(f"{path} cannot be read: {exc}") from None
    notes: list[str] = []
    imported = import_mcp_servers_json(text, notes=notes, taken=[c.name for c in servers.list()])
    for config in imported:
        servers.add(config)
    for line in notes:
        note(f"note: {line}")
    note(f"Added {len(imported)} MCP server{'s' if len(imported) != 1 else ''}.")
    return EXIT_OK


def _forget_key(name: str) -> None:
    try:
        key_store(name).delete()
    except KeychainError as exc:
        note(f"note: {exc}")


class TerminalApproval:
    """``chat --approve``: asks on the terminal (``ask``), allows every call (``all``,
    which a script passes knowingly) or denies every call (``none``)."""

    def __init__(
        self,
        mode: str,
        *,
        ask: Callable[[str], str] | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.mode = mode
        self._ask = ask
        self._out = out or sys.stderr

    def permission(self, _spec: ToolSpec, permission: ToolPermission) -> ToolPermission:
        """Every tool asks (``none`` then denies it, ``ask`` asks); ``all`` allows."""
        if permission is ToolPermission.OFF:
            return permission
        return ToolPermission.ALLOW if self.mode == "all" else ToolPermission.ASK

    def approve(self, request: ApprovalRequest) -> Approval:
        out = self._out
        arguments = json.dumps(request.call.arguments, ensure_ascii=False, indent=2)
        out.write(
            f"\nThe model wants to call {request.spec.label} ({request.server}) with:\n"
            f"{arguments}\n"
        )
        if self.mode == "none":
            out.write("Denied (--approve none).\n")
            return Approval(Decision.DENY)
        ask = self._ask or _terminal_question()
        if ask is None:
            out.write("Denied: no terminal to ask on (pass --approve all to allow calls).\n")
            return Approval(Decision.DENY)
        while True:
            try:
                answer = ask("Allow once [y], always allow this tool [a], deny [n]? ")
            except EOFError:
                answer = "n"
            choice = answer.strip().lower()[:1]
            if choice == "y":
                return Approval(Decision.ALLOW_ONCE)
            if choice == "a":
                return Approval(Decision.ALLOW_ALWAYS)
            if choice in ("n", ""):
                return Approval(Decision.DENY)


def _terminal_question() -> Callable[[str], str] | None:
    """A question on the controlling terminal (the prompt may come from stdin)."""
    try:
        tty = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115 (kept for the run)
    except OSError:
        return None

    def ask(question: str) -> str:
        tty.write(question)
        tty.flush()
        line = tty.readline()
        if not line:
            raise EOFError
        return line

    return ask
