"""One window per data folder: a second start hands over to the first one.

The running app listens on a local socket (a Unix socket, or a named pipe on Windows)
named after its data folder; a second instance connects, passes on the files it was
asked to open (a double-clicked .gguf), asks it to come to the front, and exits.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktopchat.core.paths import AppPaths

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
OPEN = b"open "  # followed by a UTF-8 path and a newline
TIMEOUT_MS = 1000


def server_name(paths: AppPaths) -> str:
    digest = hashlib.sha256(str(paths.data.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"desktopchat-{digest}"


class SingleInstance(QObject):
    activate_requested = Signal()
    open_requested = Signal(str)  # a file path

    def __init__(self, paths: AppPaths) -> None:
        super().__init__()
        self.name = server_name(paths)
        self._server: QLocalServer | None = None

    def activate_running(self, files: Sequence[str] = ()) -> bool:
        """If another instance runs, hand it ``files``, ask it to show itself and
        return True."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(TIMEOUT_MS):
            return False
        for path in files:
            socket.write(OPEN + path.encode("utf-8") + b"\n")
        socket.write(ACTIVATE)
        socket.waitForBytesWritten(TIMEOUT_MS)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # A socket file left by a crashed instance: nobody answered, so remove it.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("single-instance socket unavailable: %s", server.errorString())
                return False
        server.newConnection.connect(self.on_server_new_connection)
        self._server = server
        return True

    @Slot()
    def on_server_new_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(self.on_socket_ready_read)
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    @Slot()
    def on_socket_ready_read(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket):
            self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        while socket.canReadLine():
            line = bytes(socket.readLine().data())
            if line.startswith(OPEN):
                self.open_requested.emit(line[len(OPEN) :].rstrip(b"\n").decode("utf-8"))
            elif line == ACTIVATE:
                self.activate_requested.emit()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
