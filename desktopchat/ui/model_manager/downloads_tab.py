"""The model manager's Downloads tab: the window's download queue (progress, speed, time
left) with pause, resume and cancel. The queue belongs to the window, so downloads go on
while the model manager is closed; this tab only shows it and sends it commands."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHeaderView, QProgressBar, QVBoxLayout, QWidget

from desktopchat.core.models.library import human_size
from desktopchat.ui.downloads import DownloadItem, DownloadState
from desktopchat.ui.model_manager.common import (
    OFFLINE_NOTE,
    Shell,
    cell,
    duration_text,
    fill_row,
    make_button,
    make_row,
    make_table,
    selected,
)
from desktopchat.ui.model_manager.context import ManagerContext


class DownloadsTab(QWidget):
    def __init__(
        self,
        context: ManagerContext,
        shell: Shell,
        installed: Callable[[DownloadItem], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.shell = shell
        self._installed = installed
        self.table = make_table(
            "Downloads", ["Model", "State", "Progress", "Speed", "Time left", "Details"], 0, 5
        )
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(2, 190)
        self.pause_button = make_button("Pause", "Pause download")
        self.resume_button = make_button("Resume", "Resume download")
        self.cancel_button = make_button("Cancel", "Cancel download")
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(make_row(self.pause_button, self.resume_button, self.cancel_button))
        self.pause_button.clicked.connect(lambda: self._on_action("pause"))
        self.resume_button.clicked.connect(lambda: self._on_action("resume"))
        self.cancel_button.clicked.connect(lambda: self._on_action("cancel"))
        context.downloads.changed.connect(self.on_download_changed)
        context.downloads.installed.connect(self.on_download_installed)
        self.refresh()

    def show_offline(self, offline: bool) -> None:
        self.resume_button.setEnabled(not offline)

    def refresh(self) -> None:
        items = self.context.downloads.items
        self.table.setRowCount(len(items))
        for row, item in enumerate(items):
            self._show(row, item)

    def _show(self, row: int, item: DownloadItem) -> None:
        bar = self.table.cellWidget(row, 2)
        if not isinstance(bar, QProgressBar):
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setAccessibleName("Download progress")
            self.table.setCellWidget(row, 2, bar)
        bar.setValue(int(1000 * item.done / item.total) if item.total else 0)
        bar.setFormat(f"{human_size(item.done)} of {human_size(item.total)}")
        downloading = item.state is DownloadState.DOWNLOADING
        speed = f"{human_size(int(item.bytes_per_second))}/s" if downloading else ""
        fill_row(
            self.table,
            row,
            [
                cell(item.label, item),
                cell(item.state.value),
                None,
                cell(speed),
                cell(duration_text(item.seconds_left) if downloading else ""),
                cell(item.message, tip=item.message),
            ],
        )

    @Slot(object)
    def on_download_changed(self, item: DownloadItem) -> None:
        items = self.context.downloads.items
        if self.table.rowCount() != len(items):
            self.refresh()
            return
        self._show(items.index(item), item)
        if item.state is DownloadState.FAILED:
            self.shell.show_error(f"{item.label}: {item.message}", page_url=item.page_url)

    @Slot(object)
    def on_download_installed(self, item: DownloadItem) -> None:
        self.shell.show_notice(f"{item.label} was downloaded, verified and installed.")
        self._installed(item)

    def _on_action(self, action: str) -> None:
        item: DownloadItem | None = selected(self.table)
        if item is None:
            return
        queue = self.context.downloads
        if action == "pause":
            queue.pause(item)
        elif action == "resume":
            if self.context.settings().offline_mode:
                self.shell.show_error(OFFLINE_NOTE)
                return
            queue.resume(item)
        elif self.shell.confirm(
            "Cancel download", f"Cancel {item.label} and delete what was downloaded?"
        ):
            queue.cancel(item)
