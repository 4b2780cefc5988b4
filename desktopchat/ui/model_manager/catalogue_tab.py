"""The model manager's Catalogue tab: the curated list of chat and embedding models
shipped with DesktopChat (read from the package, no network), each marked with its kind
(an *embedding* model with the languages it serves, for Documents); "Show files" opens
one in the Files tab."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktopchat.core.errors import DesktopChatError
from desktopchat.core.models.catalog import MULTILINGUAL, CatalogEntry, load_catalog
from desktopchat.ui.model_manager.common import (
    Shell,
    cell,
    fill_row,
    make_button,
    make_row,
    make_table,
    selected,
)


def kind_text(entry: CatalogEntry) -> str:
    """ "Chat", or "Embedding · en" / "Embedding · multilingual" (the languages it serves)."""
    if not entry.is_embedding:
        return "Chat"
    if MULTILINGUAL in entry.languages:
        return "Embedding · multilingual"
    if entry.languages:
        return "Embedding · " + ", ".join(entry.languages)
    return "Embedding"


class CatalogueTab(QWidget):
    def __init__(self, shell: Shell, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shell = shell
        self.entries = self._read_catalogue()
        self.table = make_table(
            "Catalogue",
            ["Model", "Kind", "Size", "Recommended", "Licence", "Access", "About"],
            6,
        )
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            access = "Gated: accept the licence on the Hub" if entry.gated else "Open"
            fill_row(
                self.table,
                row,
                [
                    cell(entry.name, entry, tip=entry.repo),
                    cell(
                        kind_text(entry),
                        tip="An embedding model: it turns text into vectors for Documents "
                        "(search by meaning); it does not chat"
                        if entry.is_embedding
                        else "A chat model",
                    ),
                    cell(entry.parameters),
                    cell(entry.quantization),
                    cell(entry.licence),
                    cell(access),
                    cell(entry.description, tip=entry.description),
                ],
            )
        self.files_button = make_button("Show files", "Show the catalogue model's files")
        note = QLabel(
            "A curated list of good chat models, and embedding models for Documents (they "
            "search your files by meaning; they do not chat). Sizes and checksums come from "
            "the Hugging Face Hub when you open one."
        )
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.table, 1)
        layout.addLayout(make_row(self.files_button))
        self.files_button.clicked.connect(self.on_files_clicked)
        self.table.cellDoubleClicked.connect(self.on_files_clicked)

    def _read_catalogue(self) -> list[CatalogEntry]:
        try:
            return load_catalog()
        except DesktopChatError as exc:
            self.shell.show_error(str(exc))
            return []

    @Slot()
    def on_files_clicked(self) -> None:
        entry: CatalogEntry | None = selected(self.table)
        if entry is not None:
            self.shell.open_repo(entry.repo, prefer=entry.quantization)
