"""The MCP servers the user has added: their settings, kept in ``tools.json``.

A server is started as a child process (``stdio``: command, args, env, cwd) or reached over
Streamable HTTP (``http``: a URL; its bearer key lives in the keychain under the account
``mcp:<name>``, never in this file). ``McpServers`` is the store: every change is written at
once, atomically (a temporary file, then ``os.replace``). A file that cannot be read is kept
aside as ``tools.json.bad`` and the store starts empty, with ``problem`` saying why.

``import_mcp_servers_json`` reads the ``{"mcpServers": {...}}`` JSON that Claude Desktop,
Cursor and LM Studio use.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from desktopchat.core.errors import DesktopChatError
from desktopchat.core.secrets import KeychainError, SecretStore
from desktopchat.core.tools.types import SERVER_SEPARATOR, ToolPermission

log = logging.getLogger(__name__)

FILE_NAME = "tools.json"
FORMAT_VERSION = 1
MAX_NAME = 40
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

Transport = Literal["stdio", "http"]


class ServerConfigError(DesktopChatError):
    """An MCP server's settings are not valid, or the server list cannot be saved."""


def key_account(name: str) -> str:
    """The keychain account of a server's bearer key."""
    return f"mcp:{name}"


def key_store(name: str, backend: Any = None) -> SecretStore:
    """Where the bearer key of the server ``name`` is kept (the keychain)."""
    return SecretStore(backend, account=key_account(name))


def sanitize_name(raw: str) -> str:
    """``raw`` made a valid server name: letters, digits, ``_`` and ``-`` only, no ``__``
    (it separates the server from the tool in a tool's name), at most MAX_NAME long."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", raw.strip())
    name = re.sub(r"_{2,}", "_", name).strip("-_")[:MAX_NAME].strip("-_")
    return name or "server"


def name_problem(name: str) -> str:
    """Why ``name`` cannot be a server's name ("" when it can)."""
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME:
        return f"the name '{name[:MAX_NAME]}…' is longer than {MAX_NAME} characters"
    if not _NAME.match(name):
        return f"the name '{name}' may only contain letters, digits, '_' and '-'"
    if SERVER_SEPARATOR in name:
        return f"the name '{name}' may not contain '{SERVER_SEPARATOR}'"
    return ""


@dataclass(frozen=True)
class McpServerConfig:
    """One MCP server as the user set it up."""

    name: str
    transport: Transport = "stdio"
    command: str = ""  # stdio: the program ("npx", "uvx", "/usr/bin/python3")
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # added to a minimal environment
    cwd: str = ""  # stdio: the working folder ("" = the app's)
    url: str = ""  # http: the Streamable HTTP endpoint
    permission: ToolPermission = ToolPermission.ASK  # for its tools, unless overridden
    tool_permissions: Mapping[str, ToolPermission] = field(default_factory=dict)  # by tool name
    enabled: bool = True

    def problems(self) -> list[str]:
        """What is wrong with these settings, in words (empty when they are fine)."""
        found = []
        if problem := name_problem(self.name):
            found.append(problem)
        if self.transport == "stdio":
            if not self.command.strip():
                found.append(f"'{self.name}': no command to start the server")
        elif self.transport == "http":
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                found.append(f"'{self.name}': the URL must start with http:// or https://")
        else:  # a value from code that ignored the type
            found.append(f"'{self.name}': unknown transport '{self.transport}'")  # type: ignore[unreachable]
        return found

    def permission_of(self, tool: str) -> ToolPermission:
        """The permission of its tool ``tool`` (the server's tool name, without prefix)."""
        return self.tool_permissions.get(tool, self.permission)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "transport": self.transport}
        if self.transport == "stdio":
            data.update(command=self.command, args=list(self.args), env=dict(self.env))
            if self.cwd:
                data["cwd"] = self.cwd
        else:
            data["url"] = self.url
        data["permission"] = self.permission.value
        data["tool_permissions"] = {k: v.value for k, v in sorted(self.tool_permissions.items())}
        data["enabled"] = self.enabled
        return data

    @classmethod
    def from_json(cls, data: object) -> McpServerConfig:
        """Raises ServerConfigError (with what is wrong) for anything but a valid entry."""
        if not isinstance(data, dict):
            raise ServerConfigError("an entry is not an object")
        name = data.get("name")
        if not isinstance(name, str):
            raise ServerConfigError("an entry has no name")
        try:
            config = cls(
                name=name,
                transport=_choice(data.get("transport", "stdio"), ("stdio", "http")),
                command=_text(data.get("command", "")),
                args=tuple(_text(a) for a in _list(data.get("args", []))),
                env={_text(k): _text(v) for k, v in _dict(data.get("env", {})).items()},
                cwd=_text(data.get("cwd", "")),
                url=_text(data.get("url", "")),
                permission=ToolPermission(data.get("permission", ToolPermission.ASK)),
                tool_permissions={
                    _text(k): ToolPermission(v)
                    for k, v in _dict(data.get("tool_permissions", {})).items()
                },
                enabled=bool(data.get("enabled", True)),
            )
        except (TypeError, ValueError) as exc:
            raise ServerConfigError(f"'{name}': {exc}") from None
        if problems := config.problems():
            raise ServerConfigError("; ".join(problems))
        return config


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, found {type(value).__name__}")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, found {type(value).__name__}")
    return value


def _dict(value: object) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, found {type(value).__name__}")
    return value


def _choice(value: object, allowed: tuple[Transport, ...]) -> Transport:
    for choice in allowed:
        if value == choice:
            return choice
    raise ValueError(f"unknown transport {value!r}")


class McpServers:
    """The server list, persisted as ``tools.json`` (thread-safe; each change is saved)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._servers: dict[str, McpServerConfig] = {}
        # A built-in tool's permission the user chose (Always allow, or the Tools dialog);
        # none: its default (core/tools/setup.py).
        self._builtin: dict[str, ToolPermission] = {}
        self.problem = ""  # why the file could not be read (shown once to the user)
        self._load()

    @classmethod
    def in_folder(cls, config_folder: Path) -> McpServers:
        return cls(config_folder / FILE_NAME)

    @property
    def bad_path(self) -> Path:
        return self.path.with_name(self.path.name + ".bad")

    def _load(self) -> None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            self._keep_aside(f"it could not be read ({type(exc).__name__})", move=True)
            return
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or not isinstance(data.get("servers"), list):
                raise ValueError("it has no list of servers")
        except ValueError as exc:
            reason = "it is not valid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc)
            self._keep_aside(reason, move=True)
            return
        builtin = data.get("builtin", {})
        if isinstance(builtin, dict):
            for name, value in builtin.items():
                if isinstance(name, str) and value in {p.value for p in ToolPermission}:
                    self._builtin[name] = ToolPermission(value)
        skipped = []
        for entry in data["servers"]:
            try:
                config = McpServerConfig.from_json(entry)
            except ServerConfigError as exc:
                skipped.append(str(exc))
                continue
            if config.name in self._servers:
                skipped.append(f"'{config.name}' is listed twice")
                continue
            self._servers[config.name] = config
        if skipped:
            self._keep_aside("some entries are not valid: " + "; ".join(skipped), move=False)

    def _keep_aside(self, reason: str, *, move: bool) -> None:
        try:
            if move:
                os.replace(self.path, self.bad_path)
            else:
                shutil.copyfile(self.path, self.bad_path)
            kept = f"the file was kept as {self.bad_path.name}"
        except OSError as exc:
            kept = f"it could not be kept aside ({type(exc).__name__})"
        lost = "the servers it lists are not used" if move else "those entries are left out"
        self.problem = (
            f"The MCP server list ({self.path.name}) has a problem: {reason}. "
            f"{lost.capitalize()}; {kept}."
        )
        log.warning("%s", self.problem)

    def list(self) -> list[McpServerConfig]:
        with self._lock:
            return list(self._servers.values())

    def get(self, name: str) -> McpServerConfig | None:
        with self._lock:
            return self._servers.get(name)

    def add(self, config: McpServerConfig) -> None:
        if problems := config.problems():
            raise ServerConfigError("; ".join(problems))
        with self._lock:
            if config.name in self._servers:
                raise ServerConfigError(f"There is already a server named '{config.name}'.")
            self._save({**self._servers, config.name: config})

    def update(self, config: McpServerConfig) -> None:
        """Replace the server of the same name."""
        if problems := config.problems():
            raise ServerConfigError("; ".join(problems))
        with self._lock:
            if config.name not in self._servers:
                raise ServerConfigError(f"There is no server named '{config.name}'.")
            self._save({**self._servers, config.name: config})

    def remove(self, name: str) -> None:
        with self._lock:
            if name in self._servers:
                self._save({k: v for k, v in self._servers.items() if k != name})

    def set_tool_permission(self, server: str, tool: str, permission: ToolPermission) -> None:
        with self._lock:
            config = self._servers.get(server)
            if config is None:
                raise ServerConfigError(f"There is no server named '{server}'.")
            overrides = {**config.tool_permissions, tool: permission}
            self._save({**self._servers, server: replace(config, tool_permissions=overrides)})

    def builtin_permission(self, name: str) -> ToolPermission | None:
        with self._lock:
            return self._builtin.get(name)

    def set_builtin_permission(self, name: str, permission: ToolPermission | None) -> None:
        """A built-in tool's permission (None: back to its default), saved."""
        with self._lock:
            builtin = {k: v for k, v in self._builtin.items() if k != name}
            if permission is not None:
                builtin[name] = permission
            self._save(self._servers, builtin)

    def free_name(self, wanted: str) -> str:
        """``wanted`` sanitized, with a number added when a server has that name already."""
        with self._lock:
            return _unique(sanitize_name(wanted), self._servers)

    def _save(
        self,
        servers: dict[str, McpServerConfig],
        builtin: dict[str, ToolPermission] | None = None,
    ) -> None:
        """Write atomically, then adopt ``servers`` (on failure nothing changes)."""
        kept = self._builtin if builtin is None else builtin
        data: dict[str, object] = {
            "version": FORMAT_VERSION,
            "servers": [c.to_json() for c in servers.values()],
        }
        if kept:
            data["builtin"] = {k: v.value for k, v in sorted(kept.items())}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".tools-", suffix=".json", dir=self.path.parent)
            try:
                # env values may hold a server's API key: readable by the user only
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    file.write(text)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise ServerConfigError(
                f"The MCP server list could not be saved ({type(exc).__name__}: {exc.strerror})."
            ) from None
        self._servers = servers
        self._builtin = dict(kept)


def _unique(name: str, taken: Iterable[str]) -> str:
    taken = set(taken)
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


KeySaver = Callable[[str, str], None]


def _save_key_in_keychain(name: str, key: str) -> None:
    key_store(name).set(key)


def import_mcp_servers_json(
    text: str,
    *,
    save_key: KeySaver | None = None,
    notes: list[str] | None = None,
    taken: Iterable[str] = (),
) -> list[McpServerConfig]:
    """The servers of a ``{"mcpServers": {...}}`` JSON (Claude Desktop, Cursor, LM Studio).

    A server with a ``command`` runs over stdio; one with a ``url`` (or ``serverUrl``) over
    Streamable HTTP. A bearer key in its ``Authorization`` header is handed to ``save_key``
    (default: the keychain, account ``mcp:<name>``), never kept in the settings. What was
    changed, left out or could not be done is appended to ``notes``, in words. Names are
    sanitized and made unique (also against ``taken``). Raises ServerConfigError when the
    text is not such JSON at all.
    """
    notes = [] if notes is None else notes
    save = save_key or _save_key_in_keychain
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServerConfigError(
            f"This is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if isinstance(data, dict) and "mcpServers" in data:
        servers = data["mcpServers"]
    elif isinstance(data, dict) and isinstance(data.get("servers"), dict):
        servers = data["servers"]  # VS Code's spelling
    else:
        raise ServerConfigError('This JSON has no "mcpServers" object.')
    if not isinstance(servers, dict):
        raise ServerConfigError('"mcpServers" must be an object of servers by name.')
    used = set(taken)
    found: list[McpServerConfig] = []
    for raw_name, entry in servers.items():
        name = _unique(sanitize_name(str(raw_name)), used)
        if name != raw_name:
            notes.append(f"'{raw_name}' was renamed '{name}'.")
        try:
            config = _imported(name, entry, save, notes)
        except ServerConfigError as exc:
            notes.append(f"'{raw_name}' was left out: {exc}")
            continue
        used.add(name)
        found.append(config)
    return found


def _imported(name: str, entry: object, save: KeySaver, notes: list[str]) -> McpServerConfig:
    if not isinstance(entry, dict):
        raise ServerConfigError("its settings are not an object")
    enabled = not entry.get("disabled", False)
    kind = entry.get("type", entry.get("transport", ""))
    url = entry.get("url", entry.get("serverUrl"))
    try:
        if url is not None:
            if kind == "sse":
                notes.append(
                    f"'{name}' is an SSE server; DesktopChat speaks Streamable HTTP, which most "
                    "such servers also offer at the same address."
                )
            config = McpServerConfig(name=name, transport="http", url=_text(url), enabled=enabled)
            _imported_headers(name, entry.get("headers", {}), save, notes)
        elif "command" in entry:
            env = {_text(k): str(v) for k, v in _dict(entry.get("env", {})).items()}
            config = McpServerConfig(
                name=name,
                transport="stdio",
                command=_text(entry["command"]),
                args=tuple(str(a) for a in _list(entry.get("args", []))),
                env=env,
                cwd=_text(entry.get("cwd", "")),
                enabled=enabled,
            )
        else:
            raise ServerConfigError('it has neither a "command" nor a "url"')
    except (TypeError, ValueError) as exc:
        raise ServerConfigError(str(exc)) from None
    if problems := config.problems():
        raise ServerConfigError("; ".join(problems))
    return config


def _imported_headers(name: str, headers: object, save: KeySaver, notes: list[str]) -> None:
    if not isinstance(headers, dict):
        raise ServerConfigError('"headers" must be an object')
    for header, value in headers.items():
        if str(header).lower() != "authorization":
            notes.append(f"'{name}': the header '{header}' was left out (not supported).")
            continue
        scheme, _, key = str(value).strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            notes.append(f"'{name}': its Authorization header is not a bearer key; left out.")
            continue
        try:
            save(name, key.strip())
        except KeychainError as exc:
            notes.append(f"'{name}': its key could not be saved ({exc}). Enter it in its settings.")
        else:
            notes.append(f"'{name}': its key was saved in the keychain, not in the settings.")
