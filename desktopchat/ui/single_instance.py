"""One window per data folder: a second start hands over to the first one.

The running app listens on a local socket (a Unix socket, or a named pipe on Windows)
named after its data folder; a second instance connects, asks it to come to the front,
and exits.
"""

from __future__ import annotations

import hashlib
import logging

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktopchat.core.paths import AppPaths

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
TIMEOUT_MS = 1000


def server_name(paths: AppPaths) -> str:
    digest = hashlib.sha256(str(paths.data.resolve()).encode("utf-8")).hexdigest()[:16]
    return f"desktopchat-{digest}"


class SingleInstance(QObject):
    activate_requested = Signal()

    def __init__(self, paths: AppPaths) -> None:
        super().__init__()
        self.name = server_name(paths)
        self._server: QLocalServer | None = None

    def activate_running(self) -> bool:
        """If another instance runs, ask it to show itself and return True."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(TIMEOUT_MS):
            return False
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
        if bytes(socket.readAll().data()).startswith(ACTIVATE.strip()):
            self.activate_requested.emit()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
