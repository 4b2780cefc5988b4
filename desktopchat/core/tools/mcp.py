"""Tools from one MCP server: a blocking ToolProvider over the official (async) MCP SDK.

The only module that imports ``mcp`` (and ``anyio``, which the SDK runs on). Each
``McpClient`` runs its own asyncio event loop on a daemon thread, and connects on the first
``list_tools`` or ``call``: a ``stdio`` server is started as a child process in a process
group of its own (its stderr kept in a bounded log, never on the terminal); an ``http``
server is reached over Streamable HTTP with the bearer key from the keychain, every
connection declared to ``network.activity`` as "MCP server <name>", and none at all in
offline mode. A server that stops is started again on the next call.

Callers block (never on the GUI thread): a call returns when it is answered, when it times
out (ToolError), or within a fraction of a second of ``cancel`` being set (an error outcome
"stopped by the user"; the server is told to cancel). ``close`` ends the session and the
child: its stdin is closed, and after a grace period the SDK kills its process group. Every
client still open when the app exits is closed by an ``atexit`` hook.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import anyio
import anyio.to_thread

from desktopchat.core import network
from desktopchat.core.errors import ToolError
from desktopchat.core.secrets import KeychainError, SecretStore, redact, remember_secret
from desktopchat.core.tools.servers import McpServerConfig, key_store
from desktopchat.core.tools.types import SERVER_SEPARATOR, ToolOutcome, ToolSpec, untrusted_text

# The SDK takes ~0.7 s to import (and brings httpx2): it is imported on first use, on the
# client's own thread, never when the app starts.
if TYPE_CHECKING:
    import mcp.types as mcp_types
    from mcp.client.session import ClientSession
    from mcp.shared.exceptions import MCPError

log = logging.getLogger(__name__)

STOPPED = "stopped by the user"
DEFAULT_TIMEOUT = 60.0  # seconds a tool call may take
CONNECT_TIMEOUT = 30.0  # seconds to start a server and shake hands (npx may download first)
CLOSE_TIMEOUT = 8.0  # the SDK's shutdown: stdin closed, 2 s, SIGTERM to the group, 2 s, SIGKILL
STDERR_LIMIT = 32_000  # characters of a server's stderr kept
MAX_DESCRIPTION = 4_000
_POLL = 0.05  # how often a waiting caller looks at its cancel event
_MAX_PAGES = 100
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]+")

T = TypeVar("T")


class _StderrLog:
    """The last ``limit`` characters a server wrote to its stderr (from a pipe, read by a
    thread of its own until the server closes it)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._text = ""

    def pipe(self) -> tuple[TextIO, threading.Event]:
        """A new pipe for a new process: its write end (close it once the child has it),
        and an event set when every writer has closed it (the child has exited)."""
        read_fd, write_fd = os.pipe()
        eof = threading.Event()
        threading.Thread(
            target=self._read, args=(read_fd, eof), name="mcp-stderr", daemon=True
        ).start()
        return os.fdopen(write_fd, "w", encoding="utf-8", errors="replace"), eof

    def _read(self, fd: int, eof: threading.Event) -> None:
        try:
            with os.fdopen(fd, "rb", buffering=0) as pipe:
                while chunk := pipe.read(4096):
                    self.append(chunk.decode("utf-8", errors="replace"))
        except OSError:
            pass
        finally:
            eof.set()

    def append(self, text: str) -> None:
        with self._lock:
            self._text = (self._text + text)[-self._limit :]

    def tail(self, chars: int | None = None) -> str:
        with self._lock:
            return self._text if chars is None else self._text[-chars:]


class _Connection:
    """One session with the server, owned by one task (anyio scopes must be left by the
    task that entered them): it connects, waits for ``stop``, then shuts everything down."""

    def __init__(self) -> None:
        self.session: ClientSession | None = None
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.error: ToolError | None = None
        self.finished = False
        self.task: asyncio.Task[None] | None = None
        self.stderr_closed: threading.Event | None = None  # stdio: set once the child exits
        self.timed_out = False

    def usable(self) -> bool:
        if self.finished or self.stop.is_set():
            return False
        if self.stderr_closed is not None and self.stderr_closed.is_set():
            return False  # the child closed its stderr: it has exited
        dispatcher = getattr(self.session, "_dispatcher", None)
        return not getattr(dispatcher, "_closed", False)


# Every client not yet closed, for the exit hook (weak: a dropped client closes nothing).
_open: weakref.WeakSet[McpClient] = weakref.WeakSet()
_open_lock = threading.Lock()


def close_all() -> None:
    """Close every open client (their children end); run at exit."""
    with _open_lock:
        clients = list(_open)
    if not clients:
        return
    # Plain threads: executors refuse work once the interpreter is shutting down.
    threads = [threading.Thread(target=client.close, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=CLOSE_TIMEOUT + 4)


atexit.register(close_all)


class McpClient:
    """One MCP server as a ToolProvider. Thread-safe; every method blocks."""

    def __init__(
        self,
        config: McpServerConfig,
        *,
        offline: Callable[[], bool] = lambda: False,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        secrets: SecretStore | None = None,
        stderr_limit: int = STDERR_LIMIT,
    ) -> None:
        self._config = config
        self._offline = offline
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._secrets = secrets
        self._stderr = _StderrLog(stderr_limit) if config.transport == "stdio" else None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connection: _Connection | None = None  # touched on the loop only
        self._names: dict[str, str] = {}  # the model's name -> the server's tool name
        self._refused_status = 0  # an HTTP 401/403 seen by the current connection

    # -- ToolProvider ------------------------------------------------------------------

    @property
    def source(self) -> str:
        return self._config.name

    @property
    def config(self) -> McpServerConfig:
        return self._config

    def list_tools(self) -> list[ToolSpec]:
        tools = self._run(self._list_tools(), None, self.connect_timeout + self.timeout)
        assert tools is not None
        return tools

    def call(self, name: str, arguments: dict[str, Any], cancel: threading.Event) -> ToolOutcome:
        tool = self._names.get(name) or name.removeprefix(self.source + SERVER_SEPARATOR)
        outcome = self._run(
            self._call(tool, arguments), cancel, self.connect_timeout + self.timeout
        )
        return outcome if outcome is not None else ToolOutcome(STOPPED, is_error=True)

    def stderr_tail(self, chars: int | None = None) -> str:
        """What a stdio server last wrote to its stderr ("" for an HTTP server)."""
        return self._stderr.tail(chars) if self._stderr is not None else ""

    def close(self) -> None:
        """End the session and the server's process; a later call starts it again."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        with _open_lock:
            _open.discard(self)
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._disconnect(), loop)
        try:
            future.result(timeout=CLOSE_TIMEOUT + 2)
        except Exception:
            log.warning("MCP server '%s' did not shut down cleanly", self.source, exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2)
        if not thread.is_alive():
            loop.close()

    # -- the loop thread ---------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._serve_loop,
                    args=(loop, ready),
                    name=f"mcp-{self.source}",
                    daemon=True,
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                with _open_lock:
                    _open.add(self)
            return self._loop

    def _serve_loop(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        # Every connection this thread makes is the server's (purpose is per thread).
        with network.activity.purpose(f"MCP server {self.source}"):
            loop.call_soon(ready.set)
            loop.run_forever()

    def _run(
        self,
        coroutine: Coroutine[Any, Any, T],
        cancel: threading.Event | None,
        limit: float,
    ) -> T | None:
        """Run ``coroutine`` on the loop and wait; None when ``cancel`` was set first."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())
        deadline = time.monotonic() + limit + 5  # the coroutine times itself; a safety net
        while True:
            done, _ = concurrent.futures.wait([future], timeout=_POLL)
            if done:
                break
            if cancel is not None and cancel.is_set():
                future.cancel()  # the task is cancelled: the SDK tells the server
                return None
            if time.monotonic() > deadline:
                future.cancel()
                raise ToolError(f"The MCP server '{self.source}' did not answer in time.")
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if cancel is not None and cancel.is_set():
                return None
            raise ToolError(f"The call to the MCP server '{self.source}' was cancelled.") from None

    # -- on the loop -------------------------------------------------------------------

    async def _session(self) -> ClientSession:
        """The live session, connecting (again) when there is none."""
        connection = self._connection
        if self._config.transport == "http" and self._offline():
            if connection is not None:  # offline mode was turned on: hang up
                await self._end(connection)
            raise ToolError(self._offline_message())
        if connection is None or not connection.usable():
            if connection is not None:
                await self._end(connection)
            connection = _Connection()
            self._connection = connection
            connection.task = asyncio.get_running_loop().create_task(self._own(connection))
        await connection.ready.wait()
        if connection.error is not None:
            raise connection.error
        assert connection.session is not None
        return connection.session

    async def _own(self, connection: _Connection) -> None:
        import mcp.types as mcp_types
        from mcp.client.session import ClientSession

        task = asyncio.current_task()
        assert task is not None

        def give_up() -> None:  # no cancel scope around contexts that outlive it: a timer
            if not connection.ready.is_set():
                connection.timed_out = True
                task.cancel()

        watchdog = asyncio.get_running_loop().call_later(self.connect_timeout, give_up)
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await self._open_transport(stack, connection)
                session = await stack.enter_async_context(
                    ClientSession(
                        read,
                        write,
                        client_info=mcp_types.Implementation(name="DesktopChat", version="0.1.0"),
                    )
                )
                await session.initialize()
                watchdog.cancel()
                connection.session = session
                connection.ready.set()
                log.info("MCP server '%s' connected", self.source)
                await connection.stop.wait()
        except asyncio.CancelledError:
            if connection.timed_out:  # our own watchdog: the task ends normally
                connection.error = ToolError(
                    f"The MCP server '{self.source}' did not start within "
                    f"{self.connect_timeout:g} s.{self._last_words()}"
                )
                log.warning("%s", connection.error)
            else:
                connection.error = ToolError(
                    f"The connection to the MCP server '{self.source}' ended."
                )
                raise
        except BaseException as exc:  # an SDK, transport or process error, often grouped
            connection.error = self._connect_error(_first_error(exc))
            log.warning("MCP server '%s': %s", self.source, connection.error)
        finally:
            watchdog.cancel()
            connection.finished = True
            connection.ready.set()
            log.info("MCP server '%s' disconnected", self.source)

    async def _open_transport(
        self, stack: contextlib.AsyncExitStack, connection: _Connection
    ) -> tuple[Any, Any]:
        from mcp.client.stdio import StdioServerParameters, stdio_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        config = self._config
        if config.transport == "stdio":
            assert self._stderr is not None
            errlog, connection.stderr_closed = self._stderr.pipe()
            try:
                params = StdioServerParameters(
                    command=config.command,
                    args=list(config.args),
                    env=dict(config.env) or None,
                    cwd=config.cwd or None,
                )
                streams = await stack.enter_async_context(stdio_client(params, errlog=errlog))
            except OSError as exc:
                raise ToolError(
                    f"The MCP server '{self.source}' could not be started: "
                    f"{exc.strerror or type(exc).__name__} ({config.command})."
                ) from None
            finally:
                errlog.close()  # the child has its own copy; EOF comes when it exits
            return streams
        if self._offline():
            raise ToolError(self._offline_message())
        key = await anyio.to_thread.run_sync(self._read_key)
        headers = {"Authorization": f"Bearer {key}"} if key else None
        http = create_mcp_http_client(headers=headers)
        self._refused_status = 0

        async def watch(response: Any) -> None:
            if response.status_code in (401, 403):
                self._refused_status = response.status_code

        http.event_hooks = {"request": [], "response": [watch]}
        await stack.enter_async_context(http)
        return await stack.enter_async_context(streamable_http_client(config.url, http_client=http))

    def _read_key(self) -> str | None:
        store = self._secrets or key_store(self.source)
        try:
            key = store.get()
        except KeychainError as exc:
            raise ToolError(f"The key of the MCP server '{self.source}': {exc}") from None
        if key:
            remember_secret(key)
        return key

    async def _end(self, connection: _Connection) -> None:
        connection.stop.set()
        if connection.task is not None and not connection.task.done():
            with anyio.move_on_after(CLOSE_TIMEOUT):
                await asyncio.shield(connection.task)
        if self._connection is connection:
            self._connection = None

    async def _disconnect(self) -> None:
        if self._connection is not None:
            await self._end(self._connection)

    async def _request(self, what: str, request: Callable[[ClientSession], Awaitable[T]]) -> T:
        import mcp.types as mcp_types
        from mcp.shared.exceptions import MCPError

        session = await self._session()
        connection = self._connection
        try:
            with anyio.fail_after(self.timeout):
                return await request(session)
        except TimeoutError:
            raise ToolError(
                f"The MCP server '{self.source}' did not answer {what} within "
                f"{self.timeout:g} s; it was asked to stop."
            ) from None
        except MCPError as exc:
            if exc.error.code == mcp_types.CONNECTION_CLOSED:
                if connection is not None:
                    connection.stop.set()  # it winds down; the next call starts a new one
                raise ToolError(
                    f"The MCP server '{self.source}' stopped: the connection closed during "
                    f"{what}.{self._last_words()} It is started again on the next call."
                ) from None
            raise self._protocol_error(what, exc) from None

    async def _list_tools(self) -> list[ToolSpec]:
        import mcp.types as mcp_types

        listed: list[mcp_types.Tool] = []

        async def page_through(session: ClientSession) -> None:
            cursor: str | None = None
            for _ in range(_MAX_PAGES):
                params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
                result = await session.list_tools(params=params)
                listed.extend(result.tools)
                cursor = result.next_cursor
                if not cursor:
                    break

        await self._request("the list of its tools", page_through)
        specs, names = [], {}
        for tool in listed:
            name = f"{self.source}{SERVER_SEPARATOR}{_model_name(tool.name)}"
            if name in names:
                continue
            names[name] = tool.name
            specs.append(
                ToolSpec(
                    name=name,
                    description=untrusted_text(tool.description or "", MAX_DESCRIPTION)[0],
                    parameters=tool.input_schema or {"type": "object"},
                    source=self.source,
                    title=untrusted_text(tool.title or "", 200)[0],
                )
            )
        self._names = names
        return specs

    async def _call(self, tool: str, arguments: dict[str, Any]) -> ToolOutcome:
        result = await self._request(
            f"the call of '{tool}'", lambda session: session.call_tool(tool, arguments)
        )
        return outcome_of(result)

    # -- messages ----------------------------------------------------------------------

    def _offline_message(self) -> str:
        return (
            f"Offline mode is on: DesktopChat does not connect to the MCP server "
            f"'{self.source}'. Turn offline mode off in Settings to use its tools."
        )

    def _last_words(self) -> str:
        tail = self.stderr_tail(600).strip()
        if not tail:
            return ""
        text, _ = untrusted_text(redact(tail), 600)
        return f" It last wrote: {text}"

    def _connect_error(self, exc: BaseException) -> ToolError:
        import mcp.types as mcp_types
        from mcp.shared.exceptions import MCPError

        if isinstance(exc, ToolError):
            return exc
        if isinstance(exc, TimeoutError):
            return ToolError(
                f"The MCP server '{self.source}' did not start within "
                f"{self.connect_timeout:g} s.{self._last_words()}"
            )
        if self._refused_status:
            return ToolError(
                f"The MCP server '{self.source}' refused the key (HTTP {self._refused_status}). "
                "Check the key in the server's settings."
            )
        if isinstance(exc, MCPError) and exc.error.code == mcp_types.CONNECTION_CLOSED:
            return ToolError(
                f"The MCP server '{self.source}' stopped while starting.{self._last_words()}"
            )
        detail = redact(str(exc))[:300] or type(exc).__name__
        if self._config.transport == "http":
            return ToolError(
                f"The MCP server '{self.source}' could not be reached ({type(exc).__name__}: "
                f"{detail})."
            )
        return ToolError(
            f"The MCP server '{self.source}' could not be started ({detail}).{self._last_words()}"
        )

    def _protocol_error(self, what: str, exc: MCPError) -> ToolError:
        if self._refused_status:
            return self._connect_error(exc)
        message, _ = untrusted_text(redact(exc.error.message), 500)
        return ToolError(f"The MCP server '{self.source}' failed {what}: {message}")


def _model_name(tool: str) -> str:
    """A server's tool name as the model may see it ([A-Za-z0-9_-])."""
    return _TOOL_NAME.sub("_", tool) or "tool"


def _first_error(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        if not inner:
            break
        exc = inner[0]
    return exc


def outcome_of(result: mcp_types.CallToolResult) -> ToolOutcome:
    """A tool's result as text for the model: text joined, other content described,
    structured content as JSON when there is no text; bounded and cleaned."""
    import mcp.types as mcp_types

    parts: list[str] = []
    has_text = False
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
            has_text = True
        elif isinstance(block, mcp_types.ImageContent):
            parts.append(f"[image: {block.mime_type}]")
        elif isinstance(block, mcp_types.AudioContent):
            parts.append(f"[audio: {block.mime_type}]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, mcp_types.TextResourceContents):
                parts.append(f"[resource: {resource.uri}]\n{resource.text}")
                has_text = True
            else:
                parts.append(f"[resource: {resource.uri} ({resource.mime_type or 'binary'})]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource link: {block.name} {block.uri}]")
        else:  # a content type newer than this code
            parts.append(f"[{getattr(block, 'type', 'content')}]")  # type: ignore[unreachable]
    if not has_text and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    text, truncated = untrusted_text("\n".join(parts))
    return ToolOutcome(text, is_error=result.is_error, truncated=truncated)
