"""Every network connection this process makes, and why.

DesktopChat connects only when the user asks the model manager to (search the Hub,
download). To prove it, a Python audit hook sees every ``socket.connect`` in the process,
whoever makes it, and records it here with the purpose its caller declared through
``purpose(...)``; a connection nobody declared is recorded as unexpected and logged as a
warning. The "Network activity" window shows this list. Unix sockets (local IPC) are not
listed, nor loopback connections nobody declared (a local server asked for by a feature,
as in the tests, is).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

UNEXPECTED = "unexpected: not asked for by any DesktopChat feature"


@dataclass(frozen=True)
class Connection:
    when: datetime.datetime
    host: str
    port: int
    purpose: str

    @property
    def expected(self) -> bool:
        return self.purpose != UNEXPECTED


class NetworkActivity:
    """The session's connections (process-wide; filled by the audit hook)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[Connection] = []
        self._local = threading.local()

    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._connections)

    def declared(self) -> bool:
        return getattr(self._local, "purpose", None) is not None

    def record(self, host: str, port: int) -> Connection:
        purpose = getattr(self._local, "purpose", None) or UNEXPECTED
        connection = Connection(datetime.datetime.now().astimezone(), host, port, purpose)
        with self._lock:
            self._connections.append(connection)
        if connection.expected:
            log.info("network: %s:%d for %s", host, port, purpose)
        else:
            log.warning("network: unexpected connection to %s:%d", host, port)
        return connection

    @contextlib.contextmanager
    def purpose(self, why: str) -> Iterator[None]:
        """Declare why connections made on this thread inside the block are made."""
        previous = getattr(self._local, "purpose", None)
        self._local.purpose = why
        try:
            yield
        finally:
            self._local.purpose = previous


# Process-wide by nature: the audit hook sees every connection of the process, whoever
# makes it, and cannot be removed once added; this is the one list it fills.
activity = NetworkActivity()
_installed = False


def _is_local(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if not isinstance(address, tuple) or len(address) < 2:
        return
    host, port = str(address[0]), int(address[1])
    if not _is_local(host) or activity.declared():
        activity.record(host, port)


def install() -> None:
    """Start watching (once per process; audit hooks cannot be removed)."""
    global _installed  # noqa: PLW0603 - one hook per process
    if not _installed:
        sys.addaudithook(_audit)
        _installed = True
