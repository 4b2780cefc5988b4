"""Offline by default: no connection unless a feature asks, and every one is on record."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_socket import SocketBlockedError

from desktopchat.core import network
from tests.processes import run_cli


def test_the_test_suite_itself_cannot_open_network_sockets() -> None:
    with pytest.raises(SocketBlockedError), pytest.warns(UserWarning, match="socket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


@pytest.fixture
def local_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_declared_connections_are_recorded_with_their_purpose(local_server: int) -> None:
    network.install()
    before = len(network.activity.connections())
    url = f"http://127.0.0.1:{local_server}/"
    with (
        network.activity.purpose("Hub search (test)"),
        urllib.request.urlopen(url, timeout=5) as reply,
    ):
        assert reply.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{local_server}/", timeout=5) as reply:
        assert reply.status == 200  # undeclared loopback: local, not listed
    new = network.activity.connections()[before:]
    assert [(c.host, c.port, c.purpose, c.expected) for c in new] == [
        ("127.0.0.1", local_server, "Hub search (test)", True)
    ]


class _RemoteSocket:
    family = socket.AF_INET


def test_an_undeclared_connection_is_flagged(caplog: pytest.LogCaptureFixture) -> None:
    # The hook as the interpreter calls it; a real remote connect is impossible in tests.
    network._audit("socket.connect", (_RemoteSocket(), ("203.0.113.7", 443)))
    last = network.activity.connections()[-1]
    assert (last.host, last.port, last.expected) == ("203.0.113.7", 443, False)
    assert "unexpected connection to 203.0.113.7:443" in caplog.text


def inet_connects(trace: Path) -> list[str]:
    text = trace.read_text()
    assert "execve(" in text  # strace did trace the processes
    return [line for line in text.splitlines() if re.search(r"connect\(.*AF_INET6?\b", line)]


def offline(trace: Path) -> list[str]:
    """A command prefix: a network namespace with no network, traced by strace."""
    for tool in ("unshare", "strace"):
        assert shutil.which(tool), f"{tool} is missing; test.sh installs it"
    return [
        "unshare",
        "-rn",
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=connect,execve",
        "-o",
        str(trace),
    ]


@pytest.mark.real_model
def test_a_chat_without_any_network_works_and_tries_no_connection(tmp_path: Path) -> None:
    trace = tmp_path / "cli.trace"
    done = run_cli(tmp_path / "home", "chat", "--max-tokens", "8", "Hi!", wrap=offline(trace))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert inet_connects(trace) == []


@pytest.mark.real_model
def test_the_window_without_any_network_loads_a_model_and_tries_no_connection(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "gui.trace"
    home = tmp_path / "home"
    env = {**os.environ, "DESKTOPCHAT_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    process = subprocess.Popen(
        [*offline(trace), sys.executable, "-m", "desktopchat"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    settings = home / "config" / "settings.json"
    deadline = time.monotonic() + 60
    while not settings.exists() and time.monotonic() < deadline:  # written once loaded
        time.sleep(0.1)
    assert settings.exists(), "the app did not load the starter model"
    # unshare became strace, whose child is the app: ask the app itself to quit.
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    os.kill(int(children[0]), signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert inet_connects(trace) == []
