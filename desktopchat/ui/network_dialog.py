"""The "Network activity" window: every connection this session made, and why."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktopchat.core.network import NetworkActivity

NONE_YET = (
    "No network connections this session. DesktopChat connects only when you search for "
    "or download models; chats never leave this computer."
)


class NetworkActivityDialog(QDialog):
    def __init__(self, activity: NetworkActivity, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._activity = activity
        self.setWindowTitle("Network activity")
        self.resize(640, 320)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Network activity summary")
        self.table = QTableWidget(0, 4)
        self.table.setAccessibleName("Connections")
        self.table.setHorizontalHeaderLabels(["Time", "Host", "Port", "Why"])
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        refresh = QPushButton("Refresh")
        buttons.addButton(refresh, QDialogButtonBox.ButtonRole.ActionRole)
        refresh.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.refresh()

    def refresh(self) -> None:
        connections = self._activity.connections()
        self.table.setRowCount(len(connections))
        for row, connection in enumerate(connections):
            cells = (
                connection.when.strftime("%H:%M:%S"),
                connection.host,
                str(connection.port),
                connection.purpose,
            )
            for column, text in enumerate(cells):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.setVisible(bool(connections))
        if not connections:
            self.summary.setText(NONE_YET)
            return
        unexpected = sum(1 for c in connections if not c.expected)
        text = f"{len(connections)} connection{'s' if len(connections) != 1 else ''} this session."
        if unexpected:
            text += f" {unexpected} not asked for by any feature: please report this as a bug."
        self.summary.setText(text)
