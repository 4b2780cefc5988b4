"""What every part of the model manager shares: the shell a tab talks to (notices,
questions, the task runner with the Hub's refusals), the GPU list asked for once, and
the read-only tables, buttons and rows the tabs are made of."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from desktopchat.core.models.fit import GpuDevice

T = TypeVar("T")

OFFLINE_NOTE = (
    "Offline mode is on: DesktopChat does not connect to the internet at all, so only "
    "installed models are shown. Turn it off to browse the catalogue, search or download."
)


class Shell(Protocol):
    """The dialog as its tabs see it. Questions and the desktop are asked through it, so a
    test can stand in for a native dialog on the dialog instance."""

    def show_notice(self, message: str, *, error: bool = False, page_url: str = "") -> None: ...

    def show_error(self, message: str, page_url: str = "") -> None: ...

    def confirm(self, title: str, text: str) -> bool: ...

    def ask_secret(self, title: str, label: str) -> str | None: ...

    def choose_folder(self, start: Path) -> Path | None: ...

    def open_url(self, url: str) -> None: ...

    def run_task(self, job: Callable[[], T], done: Callable[[T], None], what: str = "") -> None:
        """``job`` on the task pool, ``done`` on the GUI thread; a failure (the Hub's
        refusal with its licence page) is shown in the notice line."""
        ...

    def open_repo(self, repo_id: str, *, prefer: str = "") -> None: ...


@dataclass(frozen=True)
class Refused:
    """A task refused by the Hub (gated or private): its message, and the page where the
    licence is accepted."""

    message: str
    page_url: str


class Devices:
    """The GPUs, asked for once per dialog (slow: the engine answers; call on the task
    pool)."""

    def __init__(self, ask: Callable[[], list[GpuDevice]]) -> None:
        self._ask = ask
        self._lock = threading.Lock()
        self._devices: list[GpuDevice] | None = None

    def get(self) -> list[GpuDevice]:
        with self._lock:
            if self._devices is None:
                self._devices = self._ask()
            return self._devices

    def known(self) -> list[GpuDevice]:
        """What was found so far, without asking (for the GUI thread)."""
        with self._lock:
            return list(self._devices or [])


def cell(text: str, data: object = None, *, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    if tip:
        item.setToolTip(tip)
    return item


def make_table(name: str, headers: list[str], *stretch: int) -> QTableWidget:
    """A read-only table; the ``stretch`` columns share the width, the others fit their
    contents."""
    table = QTableWidget(0, len(headers))
    table.setAccessibleName(name)
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    header = table.horizontalHeader()
    for column in range(len(headers)):
        mode = (
            QHeaderView.ResizeMode.Stretch
            if column in stretch
            else QHeaderView.ResizeMode.ResizeToContents
        )
        header.setSectionResizeMode(column, mode)
    table.setWordWrap(True)
    return table


def fill_row(table: QTableWidget, row: int, cells: list[QTableWidgetItem | None]) -> None:
    for column, item in enumerate(cells):
        if item is not None:
            table.setItem(row, column, item)


def make_button(text: str, accessible: str = "") -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(accessible or text.rstrip("…"))
    return button


def make_row(*widgets: QWidget, stretch_first: bool = False) -> QHBoxLayout:
    layout = QHBoxLayout()
    for index, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if stretch_first and index == 0 else 0)
    if not stretch_first:
        layout.addStretch(1)
    return layout


def selected(table: QTableWidget) -> Any:
    """The data of the selected row's first cell (None when nothing is selected)."""
    row = table.currentRow()
    item = table.item(row, 0) if row >= 0 else None
    return item.data(Qt.ItemDataRole.UserRole) if item is not None else None


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


def when_text(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
