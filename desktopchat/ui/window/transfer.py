"""Export and import of conversations (Markdown, a web page, our JSON; ChatGPT's export
as conversations.json or the downloaded .zip). The files are written and read on the task
pool, with a connection of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog

from desktopchat.core import exchange
from desktopchat.core.chat import Conversation

if TYPE_CHECKING:
    from desktopchat.ui.main_window import MainWindow

EXPORT_FILTERS = {"md": "Markdown (*.md)", "html": "Web page (*.html)", "json": "JSON (*.json)"}
IMPORT_FILTER = "DesktopChat or ChatGPT export (*.json *.zip);;All files (*)"


class Transfer(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        window.sidebar.export_requested.connect(self.export_conversation)

    def ask_export_path(self, title: str, name: str) -> tuple[str, str]:
        """A file to write and its format (md, html, json); ("", "") when cancelled."""
        path, chosen = QFileDialog.getSaveFileName(
            self.window, title, str(Path.home() / name), ";;".join(EXPORT_FILTERS.values())
        )
        fmt = next((k for k, v in EXPORT_FILTERS.items() if v == chosen), "")
        suffix = Path(path).suffix.lstrip(".").lower()
        return path, suffix if suffix in EXPORT_FILTERS else fmt or "md"

    def ask_import_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Import conversations", str(Path.home()), IMPORT_FILTER
        )
        return path

    @Slot()
    def export_current(self) -> None:
        if self.window.current_conversation is not None:
            self.export_conversation(self.window.current_conversation)

    @Slot(int)
    def export_conversation(self, conversation_id: int) -> None:
        def named(conversation: Conversation) -> None:
            safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in conversation.title)
            self._export([conversation_id], safe.strip() or "conversation")

        self.window.database.run(lambda core: core.conversations.get(conversation_id), named)

    @Slot()
    def export_all(self) -> None:
        self._export(None, "conversations")

    def _export(self, ids: list[int] | None, name: str) -> None:
        window = self.window
        path, fmt = self.ask_export_path("Export conversations", name)
        if not path:
            return
        paths, open_core = window.paths, window.services.open_core

        def job() -> int:  # on the task pool, with its own connection
            core = open_core(paths)
            try:
                return exchange.export_file(core.conversations, ids, fmt, Path(path))
            finally:
                core.close()

        window.tasks.run(
            job,
            lambda count: window.show_status(
                f"Exported {count} conversation{'s' if count != 1 else ''} to {path}", 8000
            ),
            window.show_error,
        )

    @Slot()
    def import_conversations(self) -> None:
        window = self.window
        path = self.ask_import_path()
        if not path:
            return
        paths, open_core = window.paths, window.services.open_core

        def job() -> tuple[list[int], int]:
            core = open_core(paths)
            try:
                return exchange.import_file(core.conversations, Path(path))
            finally:
                core.close()

        window.tasks.run(job, self._on_imported, window.show_error)

    def _on_imported(self, result: tuple[list[int], int]) -> None:
        window = self.window
        ids, count = result
        window.show_status(f"Imported {len(ids)} conversations ({count:,} messages)", 8000)
        if ids:
            window.current_conversation = ids[0]  # selected in the refreshed list
            window.open_conversation(ids[0])
        window.refresh_conversations()
