"""The MCP client against a real MCP server (tests/mcp_server.py, written with the SDK):
over stdio as a child process, and over Streamable HTTP on 127.0.0.1 with a bearer key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp.types as mcp_types
import pytest

from desktopchat.core import network
from desktopchat.core.errors import ToolError
from desktopchat.core.secrets import SecretStore
from desktopchat.core.tools.mcp import STOPPED, McpClient, outcome_of
from desktopchat.core.tools.servers import McpServerConfig
from desktopchat.core.tools.types import MAX_TOOL_OUTPUT_CHARS
from tests.processes import alive, gone_within

ROOT = Path(__file__).resolve().parents[3]
SERVER = str(ROOT / "tests" / "mcp_server.py")
KEY = "mcp-test-key-Zq81vXa0pLm3"


def stdio_config(name: str = "test") -> McpServerConfig:
    return McpServerConfig(name=name, command=sys.executable, args=(SERVER,))


@pytest.fixture
def client() -> Iterator[McpClient]:
    client = McpClient(stdio_config(), timeout=20)
    yield client
    client.close()


def no_cancel() -> threading.Event:
    return threading.Event()


def server_pid(client: McpClient) -> int:
    return int(client.call("test__pid", {}, no_cancel()).text)


def test_tools_are_listed_with_the_server_prefix(client: McpClient) -> None:
    tools = {tool.name: tool for tool in client.list_tools()}
    assert {"test__add", "test__echo", "test__slow", "test__hostile", "test__crash"} <= set(tools)
    add = tools["test__add"]
    assert add.source == "test" and add.title == "Add two numbers" and add.label == add.title
    assert add.description == "Adds a and b."
    assert add.parameters["properties"].keys() == {"a", "b"}
    assert add.parameters["required"] == ["a", "b"]
    assert add.to_openai()["function"]["name"] == "test__add"


def test_a_call_returns_the_tools_text(client: McpClient) -> None:
    # no list_tools first: the first call connects
    assert client.call("test__add", {"a": 2, "b": 40}, no_cancel()).text == "42"
    outcome = client.call("test__echo", {"text": "héllo\nwörld"}, no_cancel())
    assert (outcome.text, outcome.is_error, outcome.truncated) == ("héllo\nwörld", False, False)


def test_a_tools_own_error_is_an_error_outcome_and_its_stderr_is_kept_not_shown(
    client: McpClient, capfd: pytest.CaptureFixture[str]
) -> None:
    outcome = client.call("test__add", {"a": "x"}, no_cancel())
    assert outcome.is_error and "validation error" in outcome.text
    assert client.call("test__nosuch", {}, no_cancel()).is_error
    deadline = time.monotonic() + 5
    while "rejected arguments" not in client.stderr_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "rejected arguments" in client.stderr_tail()  # the server's log, kept
    assert "rejected arguments" not in capfd.readouterr().err  # not on the terminal


def test_hostile_output_is_bounded_and_cleaned(client: McpClient) -> None:
    outcome = client.call("test__hostile", {}, no_cancel())
    assert outcome.truncated
    assert len(outcome.text) < MAX_TOOL_OUTPUT_CHARS + 100
    assert "more characters left out" in outcome.text
    for bad in ("\x00", "\x1b", "\u202e", "\u202c", "\r"):
        assert bad not in outcome.text
    # the rest is plain text for the model; nothing here interprets it
    assert '<tool_call>{"name":"add"' in outcome.text and "{{ 7*7 }}" in outcome.text


def test_cancel_stops_a_slow_call_promptly_and_the_server_stays_usable(
    client: McpClient,
) -> None:
    pid = server_pid(client)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    outcome = client.call("test__slow", {"seconds": 30}, cancel)
    assert outcome.is_error and outcome.text == STOPPED
    assert client.call("test__add", {"a": 1, "b": 1}, no_cancel()).text == "2"
    assert server_pid(client) == pid  # the same session


def test_a_call_already_cancelled_returns_at_once(client: McpClient) -> None:
    client.list_tools()
    cancel = threading.Event()
    cancel.set()
    assert client.call("test__slow", {"seconds": 30}, cancel).text == STOPPED


def test_a_call_that_takes_too_long_times_out() -> None:
    client = McpClient(stdio_config(), timeout=1)
    try:
        client.list_tools()
        with pytest.raises(ToolError, match=r"did not answer .*'slow' within 1 s"):
            client.call("test__slow", {"seconds": 30}, no_cancel())
        assert client.call("test__echo", {"text": "after"}, no_cancel()).text == "after"
    finally:
        client.close()


def test_a_crash_is_a_tool_error_and_the_next_call_starts_the_server_again(
    client: McpClient,
) -> None:
    first = server_pid(client)
    with pytest.raises(ToolError, match=r"The MCP server 'test' stopped: .*'crash'"):
        client.call("test__crash", {}, no_cancel())
    assert gone_within(first, 5)
    second = server_pid(client)
    assert second != first
    assert client.call("test__add", {"a": 3, "b": 4}, no_cancel()).text == "7"


def test_a_server_that_died_while_idle_is_started_again(client: McpClient) -> None:
    first = server_pid(client)
    os.kill(first, 9)
    assert gone_within(first, 5)
    # The client knows once the child's stderr closes (its reader thread sees the end):
    # waited for, not guessed with a sleep that a busy machine outlasts.
    connection = client._connection
    assert connection is not None and connection.stderr_closed is not None
    assert connection.stderr_closed.wait(10)
    assert server_pid(client) != first


def test_close_ends_the_child_and_a_later_call_starts_it_again(client: McpClient) -> None:
    first = server_pid(client)
    assert alive(first)
    client.close()
    assert gone_within(first, 5)
    second = server_pid(client)
    assert second != first and alive(second)
    client.close()
    assert gone_within(second, 5)


def test_servers_end_with_the_app_even_when_nobody_closes_them(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, threading
        from desktopchat.core.tools.mcp import McpClient
        from desktopchat.core.tools.servers import McpServerConfig
        config = McpServerConfig(name="a", command=sys.executable, args=({SERVER!r},))
        clients = [McpClient(config), McpClient(config)]
        for c in clients:
            print(c.call("a__pid", {{}}, threading.Event()).text, flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    pids = [int(line) for line in done.stdout.split()]
    assert len(pids) == 2
    for pid in pids:
        assert gone_within(pid, 5), f"the MCP server {pid} outlived the app"


def test_a_command_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    config = McpServerConfig(name="nope", command=str(tmp_path / "no-such-server"))
    client = McpClient(config)
    try:
        with pytest.raises(ToolError, match=r"'nope' could not be started: .*no-such-server"):
            client.list_tools()
    finally:
        client.close()


def test_a_server_that_never_answers_times_out_at_connect(tmp_path: Path) -> None:
    config = McpServerConfig(
        name="mute", command=sys.executable, args=("-c", "import time; time.sleep(60)")
    )
    client = McpClient(config, connect_timeout=1)
    try:
        with pytest.raises(ToolError, match=r"'mute' did not start within 1 s"):
            client.list_tools()
    finally:
        client.close()


def test_a_server_that_exits_at_start_says_what_it_wrote(tmp_path: Path) -> None:
    config = McpServerConfig(
        name="dies",
        command=sys.executable,
        args=("-c", "import sys; sys.stderr.write('missing API key\\n'); sys.exit(1)"),
    )
    client = McpClient(config)
    try:
        with pytest.raises(ToolError, match=r"'dies' .*missing API key"):
            client.list_tools()
    finally:
        client.close()


# -- content --------------------------------------------------------------------------


def test_non_text_content_is_described_and_structured_content_is_json() -> None:
    result = mcp_types.CallToolResult(
        content=[
            mcp_types.TextContent(text="see:"),
            mcp_types.ImageContent(data="AAAA", mime_type="image/png"),
            mcp_types.AudioContent(data="AAAA", mime_type="audio/wav"),
            mcp_types.EmbeddedResource(
                resource=mcp_types.BlobResourceContents(
                    uri="file:///x.bin", blob="AAAA", mime_type="application/zip"
                )
            ),
        ],
        is_error=True,
    )
    outcome = outcome_of(result)
    assert outcome.is_error
    assert outcome.text == (
        "see:\n[image: image/png]\n[audio: audio/wav]\n[resource: file:///x.bin (application/zip)]"
    )
    structured = mcp_types.CallToolResult(content=[], structured_content={"n": 1, "s": "ü"})
    assert outcome_of(structured).text == '{"n": 1, "s": "ü"}'
    text_resource = mcp_types.CallToolResult(
        content=[
            mcp_types.EmbeddedResource(
                resource=mcp_types.TextResourceContents(uri="file:///a.txt", text="body\x07")
            )
        ]
    )
    assert outcome_of(text_resource).text == "[resource: file:///a.txt]\nbody\ufffd"


# -- Streamable HTTP --------------------------------------------------------------------


class MemoryKeyring:
    """A keyring backend that keeps what it is given, in memory."""

    priority = 1

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, account: str, value: str) -> None:
        self.values[(service, account)] = value

    def get_password(self, service: str, account: str) -> str | None:
        return self.values.get((service, account))

    def delete_password(self, service: str, account: str) -> None:
        self.values.pop((service, account), None)


def key_in_memory(name: str, key: str) -> SecretStore:
    store = SecretStore(MemoryKeyring(), account=f"mcp:{name}")
    store.set(key)
    return store


@pytest.fixture
def http_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port), "--key", KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert process.poll() is None, "the test MCP server did not start"
                assert time.monotonic() < deadline, "the test MCP server did not listen"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def http_client(url: str, key: str, **kwargs: Any) -> McpClient:
    config = McpServerConfig(name="web", transport="http", url=url)
    return McpClient(config, secrets=key_in_memory("web", key), **kwargs)


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_http_with_the_right_key_works_and_declares_its_connections(http_server: str) -> None:
    network.install()
    before = len(network.activity.connections())
    offline = False
    client = http_client(http_server, KEY, offline=lambda: offline)
    try:
        assert "web__add" in {tool.name for tool in client.list_tools()}
        assert client.call("web__add", {"a": 20, "b": 22}, no_cancel()).text == "42"
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        assert client.call("web__slow", {"seconds": 30}, cancel).text == STOPPED
        assert client.call("web__echo", {"text": "still"}, no_cancel()).text == "still"
        offline = True  # turned on in Settings: the open session is not used any more
        with pytest.raises(ToolError, match="Offline mode is on"):
            client.call("web__echo", {"text": "x"}, no_cancel())
    finally:
        client.close()
    made = network.activity.connections()[before:]
    assert made and all(c.purpose == "MCP server web" for c in made)


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_http_with_a_wrong_key_is_refused_without_showing_the_key(http_server: str) -> None:
    wrong = "wrong-key-Hk29dLq0vB7x"
    client = http_client(http_server, wrong)
    try:
        with pytest.raises(ToolError, match=r"'web' refused the key \(HTTP 401\)") as caught:
            client.list_tools()
        assert wrong not in str(caught.value) and KEY not in str(caught.value)
    finally:
        client.close()


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_http_without_a_key_is_refused(http_server: str) -> None:
    config = McpServerConfig(name="web", transport="http", url=http_server)
    client = McpClient(config, secrets=SecretStore(MemoryKeyring(), account="mcp:web"))
    try:
        with pytest.raises(ToolError, match="refused the key"):
            client.list_tools()
    finally:
        client.close()


def test_offline_mode_refuses_http_before_any_connection() -> None:
    network.install()
    before = len(network.activity.connections())
    offline = True
    client = http_client("http://127.0.0.1:9/mcp", KEY, offline=lambda: offline)
    try:
        with pytest.raises(ToolError, match=r"Offline mode is on.*'web'"):
            client.list_tools()
        with pytest.raises(ToolError, match="Offline mode is on"):
            client.call("web__add", {"a": 1, "b": 1}, no_cancel())
    finally:
        client.close()
    assert network.activity.connections()[before:] == []


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_an_http_server_that_is_down_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = http_client(f"http://127.0.0.1:{port}/mcp", KEY)
    try:
        with pytest.raises(ToolError, match=r"'web' could not be reached") as caught:
            client.list_tools()
        assert KEY not in str(caught.value)
    finally:
        client.close()
